"""A journal for a PostgreSQL target with a password in its URI stores the URI redacted (no password on
disk, none printed by ``asynctrack journal status``), and ``asynctrack sync`` still replays it into the real
database, taking the password from the caller's ``MLFLOW_TRACKING_URI``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import numpy as np
import postgres_db
import pytest

from asynctrack._redact import restore_credentials
from asynctrack._tracking_uri import StoreLocation, resolve
from asynctrack.journal._file import read_journal
from asynctrack.journal._journal import Journal, batch_record
from asynctrack.store import MetricSeries
from asynctrack.store._open import open_store

SECRET = "s3cr3t-pw"


def test_restore_credentials_prefers_the_configured_uri() -> None:
    assert restore_credentials("http://u:***@h/x", ["http://u:pw@h/x"]) == "http://u:pw@h/x"
    assert restore_credentials("http://u:***@h/x", ["http://other:pw@h/x"]) == "http://u@h/x"
    assert restore_credentials("http://h/x", []) == "http://h/x"


def _cli(*args: str, env: dict[str, str]) -> str:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "asynctrack.cli", *args],
        env={**os.environ, "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


async def _create_run(location: StoreLocation) -> str:
    store = await open_store(location)
    try:
        exp = await store.create_experiment("redacted")
        run = await store.create_run(exp, "u", 1_700_000_000_000, [], "r")
        return run.info.run_id
    finally:
        await store.aclose()


async def _write_journal(directory: str, target: str, run_id: str) -> str:
    journal = Journal(directory, target, "batch", 10.0)
    steps = np.arange(5, dtype=np.int64)
    series = MetricSeries("loss", steps.astype(np.float64), steps + 1_700_000_000_000, steps)
    await journal._writer.open()
    await journal._writer.append([batch_record(1, run_id, [series], [], [])])
    await journal._writer.close()
    return journal.path


async def _history(location: StoreLocation, run_id: str) -> list[float]:
    store = await open_store(location)
    try:
        return [m.value for m in await store.get_metric_history(run_id, "loss")]
    finally:
        await store.aclose()


@pytest.mark.slow
def test_postgres_journal_is_redacted_and_still_replays(tmp_path: Path) -> None:
    postgres_db.require()
    with postgres_db.temporary_database() as plain:
        # Trust auth: the server ignores the password, but the URI carries one as a user's would.
        secret_uri = plain.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@")
        run_id = anyio.run(_create_run, resolve(plain))
        path = anyio.run(_write_journal, str(tmp_path), secret_uri, run_id)

        assert SECRET.encode() not in Path(path).read_bytes()
        state = read_journal(path)
        assert state.header is not None and state.header.target == secret_uri.replace(SECRET, "***")

        env = {"MLFLOW_TRACKING_URI": secret_uri}
        table = _cli("journal", "status", str(tmp_path), env=env)
        status = _cli("journal", "status", str(tmp_path), "--json", env=env)
        assert SECRET not in table and SECRET not in status
        assert [row["pending_writes"] for row in json.loads(status)] == [1]
        synced = _cli("sync", path, "--json", env=env)
        assert SECRET not in synced
        assert anyio.run(_history, resolve(plain), run_id) == [0.0, 1.0, 2.0, 3.0, 4.0]
