"""Many processes logging into one PostgreSQL database at once: 64 runs, 4 processes each writing every
run (interleaved steps, keys in a different order in each batch). Nothing deadlocks for good (a deadlock
PostgreSQL breaks is retried), no point is lost, and every latest metric is exactly the largest step's
value, whichever process wrote it last."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import postgres_db
import pytest

RUNS = 64
WORKERS = 4
STEPS = 40
KEYS = 8


@pytest.fixture
def database() -> object:
    postgres_db.require()
    with postgres_db.temporary_database() as uri:
        yield uri


@pytest.mark.slow  # four logging processes (~9 s)
def test_64_runs_from_4_processes(database: str, tmp_path: Path) -> None:
    from asynctrack.store.postgres import PostgresStore

    async def setup() -> list[str]:
        store = await PostgresStore.open(database, str(tmp_path / "artifacts"))
        try:
            runs = [await store.create_run("0", "u", 1, [], f"r{i}") for i in range(RUNS)]
            return [r.info.run_id for r in runs]
        finally:
            await store.aclose()

    run_ids = asyncio.run(setup())
    script = Path(__file__).with_name("pg_logger.py")
    env = {**os.environ, "ASYNCTRACK_JOURNAL_DIR": str(tmp_path / "journal")}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), database, str(w), str(WORKERS), str(STEPS), *run_ids],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(WORKERS)
    ]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0 and out.strip() == "ok", err[-3000:]

    async def check() -> None:
        store = await PostgresStore.open(database, str(tmp_path / "artifacts"))
        try:
            for run_id in run_ids:
                run = await store.get_run(run_id)
                last = STEPS - 1
                assert run.data.metrics == {f"k{k}": float(last * 10 + k) for k in range(KEYS)}
                for k in range(KEYS):
                    series = await store.get_metric_series(run_id, f"k{k}")
                    np.testing.assert_array_equal(series.steps, np.arange(STEPS))
                    np.testing.assert_array_equal(series.values, np.arange(STEPS) * 10.0 + k)
        finally:
            await store.aclose()

    asyncio.run(check())
