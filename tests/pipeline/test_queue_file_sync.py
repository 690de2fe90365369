"""The queue file's timed sync (ASYNCTRACK_JOURNAL_FSYNC=interval): it runs in a thread of its own beside the
writes, so a caller waiting for its chunk never waits for the disk too, and it still records how far the
disk copy goes; ``never`` leaves the file to the kernel."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

import asynctrack as mlflow
from asynctrack.pipeline._ring import ring_files


def _synced_mark(queues: Path) -> int:
    (path,) = ring_files(str(queues))
    with open(path, "rb") as f:
        return int(struct.unpack_from("<Q", f.read(72), 64)[0])


@pytest.mark.parametrize("policy", ["interval", "batch", "never"])
def test_the_queue_file_is_synced_under_the_policy(
    policy: str, tmp_tracking: str, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCTRACK_JOURNAL_FSYNC", policy)
    monkeypatch.setenv("ASYNCTRACK_JOURNAL_FSYNC_MS", "50")
    with mlflow.start_run() as run:
        for step in range(100):
            mlflow.log_metric("m", float(step), step=step, synchronous=False)
        mlflow.flush_async_logging()  # durable, whether or not the sync has run yet
        queues = db.parent / ".asynctrack-queues"
        deadline = time.monotonic() + 30
        while policy != "never" and _synced_mark(queues) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        mark = _synced_mark(queues)
        assert (mark > 0) == (policy != "never"), mark
    points = mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert [p.value for p in points] == [float(s) for s in range(100)]
