"""The bounded queue: a full queue blocks the caller until there is room, or raises by policy."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient
from asynctrack.exceptions import QueueFull
from asynctrack.pipeline import get_pipeline


@pytest.mark.slow
def test_full_queue_blocks_then_proceeds(db: Path, locker: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for 100 operations and the store locked for 1 s, the caller waits, then all land."""
    monkeypatch.setenv("ASYNCTRACK_QUEUE_SIZE", "100")
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    queue = get_pipeline().queue
    assert queue.capacity == 100
    lock = locker(db).__enter__()
    threading.Timer(1.0, lock.__exit__).start()
    start = time.monotonic()
    peak = 0
    ops = []
    for i in range(1000):
        ops.append(client.log_metric(rid, "m", float(i), step=i, synchronous=False))
        peak = max(peak, queue.statistics().queued)
    blocked_for = time.monotonic() - start
    mlflow.RunOperations.combine(ops).wait()  # type: ignore[union-attr]
    assert blocked_for >= 0.8
    assert peak <= 100
    assert len(client.get_metric_history(rid, "m")) == 1000


def test_raise_policy_refuses_at_the_call_site(
    db: Path, locker: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASYNCTRACK_QUEUE_FULL=raise: a call facing a full queue raises RESOURCE_EXHAUSTED at once."""
    monkeypatch.setenv("ASYNCTRACK_QUEUE_SIZE", "50")
    monkeypatch.setenv("ASYNCTRACK_QUEUE_FULL", "raise")
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    accepted = []
    with locker(db):
        with pytest.raises(QueueFull) as info:
            for i in range(10_000):
                accepted.append(client.log_metric(rid, "m", float(i), step=i, synchronous=False))
        assert info.value.error_code == "RESOURCE_EXHAUSTED"
        assert "ASYNCTRACK_QUEUE_FULL" in info.value.message
    mlflow.RunOperations.combine(accepted).wait()  # type: ignore[union-attr]
    history = client.get_metric_history(rid, "m")
    assert [m.step for m in history] == list(range(len(accepted)))
    assert 50 <= len(accepted) < 10_000


@pytest.mark.slow
def test_array_bytes_are_bounded(db: Path, locker: type) -> None:
    """Large arrays wait for room too: at most 64 array operations queue up while the store is stuck
    (the worker holds at most one chunk more)."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    queue = get_pipeline().queue
    values = np.arange(16_384 * 200, dtype=np.float64)
    with locker(db) as lock:
        threading.Timer(1.0, lock.release).start()
        start = time.monotonic()
        ops = client.log_metric_array(rid, "big", values, synchronous=False)
        waited = time.monotonic() - start
        assert queue.statistics().queued_large <= 64
    ops.wait()  # type: ignore[union-attr]
    assert waited >= 0.5
    steps, got, _ = client.get_metric_history_arrays(rid, "big")
    assert np.array_equal(got, values) and np.array_equal(steps, np.arange(len(values)))
