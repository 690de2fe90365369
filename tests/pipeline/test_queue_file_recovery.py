"""Recovery in a directory that several databases share: another store's dead queue file is judged by its
header alone (not locked, not scanned), stays untouched, and its own store still recovers every point of
it. Real processes: a child logs to database A and exits without flushing, so its queue file keeps what
it accepted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asynctrack import MlflowClient
from asynctrack.pipeline import _recover, close_pipelines
from asynctrack.pipeline._ring import read_ring, ring_files, ring_target

_CHILD = """
import os, sys
import asynctrack
asynctrack.set_tracking_uri(sys.argv[1])
run = asynctrack.start_run()
for i in range(100):
    asynctrack.log_metric("m", float(i), step=i, synchronous=False)
print(run.info.run_id, flush=True)
os._exit(0)  # no flush, no clean-up: the queue file is left as a kill leaves it
"""


def test_another_stores_dead_queue_file_is_skipped_on_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri_a, uri_b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ASYNCTRACK_"))}
    env["ASYNCTRACK_LINGER_MS"] = "600000"  # the worker waits for a full batch: nothing is written
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, uri_a], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    run_a = done.stdout.strip()
    (dead,) = ring_files(str(tmp_path / ".asynctrack-queues"))
    assert ring_target(dead) == uri_a
    assert len(read_ring(dead).frames) >= 100  # the points (and the run's tags), never written

    scanned: list[str] = []
    real = _recover.read_ring
    monkeypatch.setattr(_recover, "read_ring", lambda path: scanned.append(path) or real(path))
    client_b = MlflowClient(uri_b)
    run_b = client_b.create_run("0").info.run_id
    client_b.log_metric(run_b, "x", 1.0, synchronous=True)  # B's worker has run its recovery
    assert scanned == [] and os.path.exists(dead)

    close_pipelines()
    history = MlflowClient(uri_a).get_metric_history(run_a, "m")  # A's pipeline recovers its own file
    assert [m.step for m in history] == list(range(100))
    assert scanned == [dead] and not os.path.exists(dead)
