"""``RingSyncer``: the queue file's timed sync in a thread of its own. Requests coalesce, runs keep their
interval, a failing disk is reported once and does not stop later syncs, closing ends the thread without
running what was pending; in a pipeline the thread lives as long as the worker."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import asynctrack as mlflow
from asynctrack.pipeline import close_pipelines
from asynctrack.pipeline._ring_sync import RingSyncer

_WAIT = 30.0  # generous: an event these tests wait for normally comes within milliseconds


def _until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _WAIT
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


class _Recorder:
    """An action that records when each run began, and can be held inside a run."""

    def __init__(self) -> None:
        self.began: list[float] = []
        self.hold = threading.Event()
        self.hold.set()
        self.inside = threading.Event()

    def __call__(self) -> None:
        self.began.append(time.monotonic())
        self.inside.set()
        assert self.hold.wait(_WAIT)


@pytest.fixture
def syncers() -> Iterator[list[RingSyncer]]:
    made: list[RingSyncer] = []
    yield made
    for s in made:
        s.close(_WAIT)


def test_requests_while_one_is_pending_make_one_run(syncers: list[RingSyncer]) -> None:
    action = _Recorder()
    s = RingSyncer(action, interval=0.0, delay=0.05)
    syncers.append(s)
    asked = time.monotonic()
    for _ in range(5):
        s.request()
    _until(lambda: s.runs == 1)
    assert action.began[0] - asked >= 0.05  # not before the delay
    time.sleep(0.2)  # room for a wrong second run
    assert s.runs == 1


def test_a_request_during_a_run_starts_the_next_one_an_interval_later(syncers: list[RingSyncer]) -> None:
    action = _Recorder()
    s = RingSyncer(action, interval=0.2, delay=0.0)
    syncers.append(s)
    action.hold.clear()
    s.request()
    assert action.inside.wait(_WAIT)
    s.request()  # while the first run is held
    action.hold.set()
    _until(lambda: s.runs == 2)
    assert action.began[1] - action.began[0] >= 0.2


def test_a_failing_action_is_reported_once_and_later_runs_go_on(
    syncers: list[RingSyncer], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def fail() -> None:
        calls.append(1)
        raise OSError(28, "No space left on device")

    s = RingSyncer(fail, interval=0.0, delay=0.0, path="/q/file.ring")
    syncers.append(s)
    with caplog.at_level(logging.DEBUG, logger="asynctrack"):
        for n in (1, 2, 3):
            s.request()
            _until(lambda n=n: s.runs == n)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and len(calls) == 3
    message = warnings[0].getMessage()
    assert "/q/file.ring" in message and "No space left on device" in message and "power" in message
    assert s._thread.is_alive()


def test_close_ends_the_thread_without_running_a_pending_request() -> None:
    action = _Recorder()
    s = RingSyncer(action, interval=0.0, delay=60.0)
    s.request()  # pending for a minute
    assert s.close(_WAIT)
    assert not s._thread.is_alive() and s.runs == 0 and action.began == []


def test_close_waits_for_a_run_in_progress() -> None:
    action = _Recorder()
    action.hold.clear()
    s = RingSyncer(action, interval=0.0, delay=0.0)
    s.request()
    assert action.inside.wait(_WAIT)
    assert not s.close(0.05)  # the run is held: not ended within 50 ms
    action.hold.set()
    assert s.close(_WAIT) and s.runs == 1


def _sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "asynctrack-ring-sync"]


@pytest.mark.parametrize("policy", ["interval", "never"])
def test_a_pipeline_owns_one_sync_thread_and_ends_it(
    policy: str, tmp_tracking: str, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker starts the thread with its first chunk (``batch`` syncs inline and needs none) and stops
    it when the pipeline closes; the next pipeline gets its own."""
    monkeypatch.setenv("ASYNCTRACK_JOURNAL_FSYNC", policy)
    monkeypatch.setenv("ASYNCTRACK_JOURNAL_FSYNC_MS", "20")
    assert close_pipelines(timeout=30) == []
    before = set(_sync_threads())
    with mlflow.start_run() as run:
        for step in range(50):
            mlflow.log_metric("m", float(step), step=step, synchronous=False)
        mlflow.flush_async_logging()
        mine = [t for t in _sync_threads() if t not in before]
        assert len(mine) == 1
    assert close_pipelines(timeout=30) == []
    assert not mine[0].is_alive()
    points = mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert [p.step for p in points] == list(range(50))


def test_a_queue_file_that_cannot_be_synced_loses_nothing(
    tmp_tracking: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A disk error on the queue file's sync (injected: this machine's disk does not fail on request) is
    one warning; the worker goes on and every point is written. It used to end the worker, failing every
    later operation with ``PipelineClosed``."""
    from asynctrack.pipeline._ring import QueueFile

    def broken(self: QueueFile) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(QueueFile, "sync", broken)
    monkeypatch.setenv("ASYNCTRACK_JOURNAL_FSYNC", "interval")
    monkeypatch.setenv("ASYNCTRACK_JOURNAL_FSYNC_MS", "1")
    assert close_pipelines(timeout=30) == []
    with caplog.at_level(logging.WARNING, logger="asynctrack"), mlflow.start_run() as run:
        for step in range(200):
            mlflow.log_metric("m", float(step), step=step, synchronous=False)
            if step % 20 == 19:
                mlflow.flush_async_logging()
                time.sleep(0.02)  # past the interval: the next chunk asks for another sync
        mlflow.log_metric("m", 200.0, step=200, synchronous=True)
    warnings = [r.getMessage() for r in caplog.records if "could not write the queue file" in r.getMessage()]
    assert len(warnings) == 1 and "Input/output error" in warnings[0]
    points = mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert [p.step for p in points] == list(range(201))
