"""The worker's linger stretches after a write cycle that took long (``next_linger``), so that a training
loop holding the GIL is interrupted less often; a caller who waits for its points never pays for it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from asynctrack import MlflowClient
from asynctrack.pipeline import get_pipeline
from asynctrack.pipeline._worker import next_linger


def test_next_linger_keeps_writing_under_a_three_hundredth_of_the_time() -> None:
    assert next_linger(0.05, 1.0, 0.0001) == 0.05  # cycles that run freely: the configured linger
    assert next_linger(0.05, 1.0, 0.0006) == pytest.approx(0.6e-3 * (1 / 0.003 - 1))  # 332 times that
    assert next_linger(0.05, 1.0, 0.005) == 1.0  # 5 ms cycles (a GIL-bound loop's): the cap
    assert next_linger(0.05, 1.0, 0.2) == 1.0  # at most the cap
    assert next_linger(0.05, 0.0, 0.2) == 0.05  # a cap below the linger: the linger stays fixed
    assert next_linger(0.0, 1.0, 0.2) == 0.0  # no linger stays none
    assert next_linger(2.0, 1.0, 0.2) == 2.0  # never below the configured linger


def test_a_slow_cycle_stretches_the_linger_and_a_waiting_caller_cuts_it_short(
    db: Path, locker: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCTRACK_MAX_LINGER_MS", str(3_600_000))  # up to an hour: only a wake ends it
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    pipeline = get_pipeline()
    worker = pipeline.worker
    with locker(db) as lock:  # another connection holds the write lock for 2 s: this cycle lasts > 1 s
        threading.Timer(2.0, lock.release).start()
        client.log_metric(rid, "m", 0.0, step=0, synchronous=False).wait(timeout=60)  # type: ignore[union-attr]
    deadline = time.monotonic() + 60
    while worker.linger < 332 and time.monotonic() < deadline:  # set just after the cycle completes
        time.sleep(0.01)
    assert worker.linger >= 332 * 1.0  # over 1 s of writing: at least 332 s of linger
    # A trickle of points does not wake the stretched worker (a read through the client would: it waits
    # for this process's queued points first) ...
    client.log_metric(rid, "m", 1.0, step=1, synchronous=False)
    time.sleep(0.5)
    assert pipeline.queue.statistics().queued == 1
    # ... but a caller who waits does, at once: not after the 332 s.
    began = time.monotonic()
    client.log_metric(rid, "m", 2.0, step=2, synchronous=False).wait(timeout=60)  # type: ignore[union-attr]
    assert time.monotonic() - began < 30
    assert [m.step for m in client.get_metric_history(rid, "m")] == [0, 1, 2]


def test_a_bad_max_linger_is_refused_when_the_pipeline_opens(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCTRACK_MAX_LINGER_MS", "-5")
    with pytest.raises(
        ValueError, match=r"ASYNCTRACK_MAX_LINGER_MS must be a non-negative number, but got '-5'"
    ):
        get_pipeline()
