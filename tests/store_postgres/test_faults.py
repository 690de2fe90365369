"""Connection and fault behaviour of the PostgreSQL store: a restart mid-logging loses nothing and the
client resumes by itself; a dead database is TEMPORARILY_UNAVAILABLE within the retry budget; a statement
timeout and an exhausted pool are MLflow errors, never a hang.

The restart test runs its own cluster (``private_cluster.py``), so the shared server is never stopped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import numpy as np
import postgres_db
import pytest
from private_cluster import private_cluster, usable
from servers import free_port

from asynctrack.exceptions import TEMPORARILY_UNAVAILABLE, MlflowException
from asynctrack.store.postgres import PostgresStore

POINTS = 3000


@pytest.mark.slow
def test_restart_mid_logging_loses_nothing_and_a_dead_database_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    why = usable()
    if why is not None:
        pytest.skip(why)
    with private_cluster() as cluster:
        uri = postgres_db.uri("postgres", port=cluster.port)

        async def make_run() -> str:
            store = await PostgresStore.open(uri, str(tmp_path / "a"))
            try:
                return (await store.create_run("0", "u", 1, [], "r")).info.run_id
            finally:
                await store.aclose()

        run_id = asyncio.run(make_run())
        env = {**os.environ, "ASYNCTRACK_JOURNAL_DIR": str(tmp_path / "journal")}
        child = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("fault_logger.py")), uri, run_id, str(POINTS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline().strip() == "half", "the logger did not reach its second half"
        cluster.stop()  # the second half is logged while the database is down...
        child.stdin.write("go\n")
        child.stdin.flush()
        cluster.start()  # ...and written once it is back
        out, err = child.communicate(timeout=180)
        assert child.returncode == 0 and out.strip() == "ok", err[-3000:]

        async def check() -> None:
            store = await PostgresStore.open(uri, str(tmp_path / "a"))
            try:
                series = await store.get_metric_series(run_id, "m")
                np.testing.assert_array_equal(series.steps, np.arange(POINTS))  # each point exactly once
                np.testing.assert_array_equal(series.values, np.arange(POINTS, dtype=np.float64))
                assert (await store.get_run(run_id)).data.metrics == {"m": float(POINTS - 1)}
                cluster.stop()
                monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
                started = time.monotonic()
                with pytest.raises(MlflowException) as ei:
                    await store.get_run(run_id)
                assert ei.value.error_code == TEMPORARILY_UNAVAILABLE
                assert f"127.0.0.1:{cluster.port}" in ei.value.message
                assert time.monotonic() - started < 30
            finally:
                await store.aclose()

        asyncio.run(check())


def test_unreachable_database_is_temporarily_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    uri = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(MlflowException) as ei:
        asyncio.run(PostgresStore.open(uri, "/tmp/a"))
    assert ei.value.error_code == TEMPORARILY_UNAVAILABLE
    assert "unreachable" in ei.value.message and "secret" not in ei.value.message


@pytest.fixture
def database() -> object:
    postgres_db.require()
    with postgres_db.temporary_database() as uri:
        yield uri


async def _locked(dsn: str) -> asyncpg.Connection:
    """Another client holding an exclusive lock on the runs table (until it closes)."""
    conn = await asyncpg.connect(dsn)
    await conn.execute("BEGIN")
    await conn.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
    return conn


@pytest.mark.slow
def test_statement_timeout_and_pool_exhaustion_are_mlflow_errors(database: str, tmp_path: Path) -> None:
    async def body() -> None:
        store = await PostgresStore.open(database + "?statement_timeout=0.3", str(tmp_path / "a"))
        run_id = (await store.create_run("0", "u", 1, [], "r")).info.run_id
        locker = await _locked(database)
        try:
            with pytest.raises(MlflowException, match="statement timeout") as ei:
                await asyncio.wait_for(store.get_run(run_id), 20)  # the wait_for only guards the test
            assert ei.value.error_code == TEMPORARILY_UNAVAILABLE
        finally:
            await locker.close()
            await store.aclose()
        # One connection, busy behind the lock; the second call cannot get it within acquire_timeout.
        small = await PostgresStore.open(
            database + "?pool_size=1&acquire_timeout=0.3&statement_timeout=5", str(tmp_path / "a")
        )
        locker = await _locked(database)
        try:
            blocked = asyncio.ensure_future(small.get_run(run_id))
            await asyncio.sleep(0.1)
            with pytest.raises(MlflowException, match="no pooled connection") as ei:
                await asyncio.wait_for(small.get_experiment("0"), 20)
            assert ei.value.error_code == TEMPORARILY_UNAVAILABLE
            await locker.close()
            assert (await blocked).info.run_id == run_id  # the first call completes once the lock is gone
        finally:
            await locker.close()
            await small.aclose()

    asyncio.run(body())
