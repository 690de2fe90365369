"""RunOperations: waiting, failures, combining, and awaiting from asyncio and trio."""

from __future__ import annotations

import concurrent.futures
import gc
import random
import threading
from pathlib import Path

import anyio
import pytest

import asynctrack as mlflow
from asynctrack import MlflowException, RunOperations
from asynctrack.pipeline import _queue


def _count(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def test_wait_returns_once_durable(db: Path) -> None:
    """wait() returns when the operation is written; done() then reports True."""
    with mlflow.start_run() as run:
        ops = mlflow.log_metric("loss", 0.5, step=3, synchronous=False)
        assert isinstance(ops, RunOperations)
        ops.wait()
        assert ops.done()
        assert ops.exception() is None
        history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [(m.value, m.step) for m in history] == [(0.5, 3)]


def test_the_embedded_stores_commit_wakes_the_waiting_caller_from_its_own_thread(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller waiting on a chunk is woken by SQLite's thread right after the commit, which then lets it
    run before anything else of the pipeline does (``OpQueue.notify``): not by the event loop's thread
    once the result has come back to it, one thread hop and 0.1-0.3 ms later."""
    handed_off: list[str] = []
    hand_off = _queue.OpQueue._hand_off

    def recording(self: _queue.OpQueue) -> None:
        handed_off.append(threading.current_thread().name)
        hand_off(self)

    monkeypatch.setattr(_queue.OpQueue, "_hand_off", recording)
    with mlflow.start_run() as run:
        ops = [mlflow.log_metric("m", float(i), step=i, synchronous=False) for i in range(100)]
        RunOperations.combine(ops).wait()  # type: ignore[union-attr]
        assert handed_off, "no store thread woke the caller"
        assert {"asynctrack-loop", threading.current_thread().name}.isdisjoint(handed_off)
    assert len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")) == 100


def test_failure_keeps_error_code_and_lists_all_failures(db: Path) -> None:
    """A failed operation raises the store's error with its code; .failures lists every failure."""
    with mlflow.start_run():
        mlflow.log_param("p", "1")
        bad1 = mlflow.log_param("p", "2", synchronous=False)
        bad2 = mlflow.log_param("p", "3", synchronous=False)
        both = bad1 + bad2
        with pytest.raises(MlflowException) as info:
            both.wait()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "Changing param values is not allowed" in info.value.message
        assert len(info.value.failures) == 2
        assert both.done()
        exc = bad2.exception()
        assert exc is not None and "'3'" in exc.message


def test_combination_covers_exactly_its_operations(db: Path) -> None:
    """Combining the good operations around a failed one does not report the failure."""
    with mlflow.start_run():
        mlflow.log_param("p", "1")
        good1 = mlflow.log_metric("m", 1.0, synchronous=False)
        bad = mlflow.log_param("p", "other", synchronous=False)
        good2 = mlflow.log_metric("m", 2.0, synchronous=False)
        RunOperations.combine([good1, good2]).wait()  # type: ignore[union-attr]
        with pytest.raises(MlflowException):
            RunOperations.combine([good1, bad, good2]).wait()  # type: ignore[union-attr]
        with pytest.raises(MlflowException):
            (good1 + bad).wait()


def test_sum_and_none_combine(db: Path) -> None:
    """sum() and None entries combine; combining nothing gives None."""
    assert RunOperations.combine([]) is None
    assert RunOperations.combine([None]) is None
    with mlflow.start_run() as run:
        ops = [mlflow.log_metric("m", float(i), step=i, synchronous=False) for i in range(100)]
        total = sum(ops[1:], ops[0])  # type: ignore[arg-type]
        total = total + None
        total.wait()
        assert "100 operation(s)" in repr(total)
    assert len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")) == 100


def test_wait_timeout_while_store_is_locked(db: Path, locker: type) -> None:
    """wait(timeout) raises TimeoutError while the store cannot write, then succeeds once it can."""
    with mlflow.start_run() as run:
        mlflow.log_metric("warm", 1.0)
        with locker(db):
            ops = mlflow.log_metric("m", 1.0, synchronous=False)
            with pytest.raises(TimeoutError):
                ops.wait(timeout=0.3)
            assert not ops.done()
        ops.wait(timeout=10)
    assert mlflow.get_run(run.info.run_id).data.metrics["m"] == 1.0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_await_from_async_code(db: Path, locker: type, backend: str) -> None:
    """``await ops`` works from asyncio and trio, and other tasks keep running while it waits.

    Event-driven, not timed: the store stays locked until another task has run 20 times during the wait,
    so the await can only end if the loop kept running that task. An await that blocked the loop would
    leave the lock to a 60 s fallback and the other task to run only afterwards, finding the operation
    done."""
    with mlflow.start_run() as run:
        mlflow.log_metric("warm", 1.0)
        with locker(db) as lock:
            ops = mlflow.log_metric("m", 2.0, synchronous=False)
            fallback = threading.Timer(60, lock.release)
            fallback.start()

            async def main() -> int:
                ticks = 0

                async def ticker() -> None:
                    nonlocal ticks
                    while ticks < 20:
                        assert not ops.done(), "the other task ran only once the wait was over"
                        ticks += 1
                        await anyio.sleep(0.001)
                    await anyio.to_thread.run_sync(lock.release)  # now the store can write

                async with anyio.create_task_group() as tg:
                    tg.start_soon(ticker)
                    await ops
                return ticks

            try:
                ticks = anyio.run(main, backend=backend)
            finally:
                fallback.cancel()
        assert ops.done()
        assert ticks == 20
    assert mlflow.get_run(run.info.run_id).data.metrics["m"] == 2.0


def test_await_raises_the_failure(db: Path) -> None:
    """Awaiting a failed operation raises its MlflowException."""
    with mlflow.start_run():
        mlflow.log_param("p", "1")
        bad = mlflow.log_param("p", "2", synchronous=False)

        async def main() -> None:
            await bad

        with pytest.raises(MlflowException, match="Changing param values"):
            anyio.run(main)


def test_hot_path_allocates_no_lock_or_future(db: Path) -> None:
    """Logging 20,000 points asynchronously creates no Future and no lock per call."""
    with mlflow.start_run():
        mlflow.log_metric("warm", 1.0)
        lock_type = type(threading.Lock())
        gc.collect()
        futures_before = _count(concurrent.futures.Future)
        locks_before = _count(lock_type)
        kept = [mlflow.log_metric("m", 0.5, step=i, synchronous=False) for i in range(20_000)]
        futures_after = _count(concurrent.futures.Future)
        locks_after = _count(lock_type)
        RunOperations.combine(kept).wait()  # type: ignore[union-attr]
    assert futures_after - futures_before < 10
    assert locks_after - locks_before < 10


def test_synchronous_true_returns_none_and_is_durable(db: Path) -> None:
    """synchronous=True returns None (log_param: the value) only after the data is in the store."""
    with mlflow.start_run() as run:
        assert mlflow.log_metric("m", 1.5, synchronous=True) is None
        assert mlflow.log_param("p", 7, synchronous=True) == 7
        data = mlflow.get_run(run.info.run_id).data  # no flush: the store already has them
    assert data.metrics["m"] == 1.5 and data.params["p"] == "7"


def test_combine_in_any_order_covers_exactly_its_calls(db: Path) -> None:
    """Combining shuffled operations covers all of them; every other one covers half."""
    with mlflow.start_run():
        ops = [mlflow.log_metric("m", float(i), step=i, synchronous=False) for i in range(1600)]
        shuffled = ops[:]
        random.Random(0).shuffle(shuffled)
        assert "1600 operation(s)" in repr(RunOperations.combine(shuffled))
        assert "800 operation(s)" in repr(RunOperations.combine(ops[::2]))
        assert "800 operation(s)" in repr(RunOperations.combine(shuffled[::2]))
        RunOperations.combine(shuffled).wait()  # type: ignore[union-attr]


def test_combine_in_order_is_one_range_and_overlaps_fall_back(db: Path) -> None:
    """One thread's calls in order (the fast path) give the same single range as the general merge; an
    overlap, a gap, a step back or a combined input leaves the fast path with the same answer."""
    with mlflow.start_run():
        ops = [mlflow.log_metric("m", float(i), step=i, synchronous=False) for i in range(10)]
        assert ops[0] is not None and ops[9] is not None
        whole = RunOperations.combine(ops)
        assert whole is not None
        assert list(whole._parts()) == list(RunOperations._merge(ops)._parts())  # type: ignore[arg-type]
        assert len(list(whole._parts())) == 1
        for variant, n in (
            (ops[:5] + ops[3:], 10),  # overlap
            (ops[:3] + ops[5:], 8),  # gap
            (ops[5:] + ops[:5], 10),  # step back
            ([ops[0] + ops[9], *ops[1:9]], 10),  # a combined (two-range) input
        ):
            combined = RunOperations.combine(variant)
            assert combined is not None and f"{n} operation(s)" in repr(combined)
            assert list(combined._parts()) == list(RunOperations._merge(variant)._parts())  # type: ignore[arg-type]
        whole.wait()
