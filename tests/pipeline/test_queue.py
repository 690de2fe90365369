"""OpQueue on its own: the wake rule, put_many, back-pressure bookkeeping, and Producer.fail's ranges.

These drive the queue directly (no worker, no store), so each rule is checked where it lives.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from loops import PRODUCTION_LOOP

from asynctrack.exceptions import MlflowException, PipelineClosed, QueueFull
from asynctrack.pipeline import _operations, _queue
from asynctrack.pipeline._operations import Producer, RunOperations
from asynctrack.pipeline._queue import BIG_FRAME, OpQueue

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP  # asyncio on uvloop, in debug mode: the loop asynctrack runs (tests/loops.py)


def frame(tag: bytes = b"op", size: int = 0) -> Callable[[int, int], bytes]:
    """A maker whose frame records the producer and sequence number it was given."""
    return lambda pid, seq: tag + f":{pid}:{seq}".encode() + b"\0" * size


async def settle() -> None:
    """Let callbacks scheduled with call_soon_threadsafe run (a wake-up is one such callback)."""
    for _ in range(5):
        await asyncio.sleep(0)


class LingeringWorker:
    """The worker's side of the wake rule: each :meth:`run` is one ``wait_for_work`` with a linger of an
    hour, so only the wake rule can end it early; ``woke`` is set when it returns."""

    def __init__(self, q: OpQueue) -> None:
        self.q = q
        self.woke = anyio.Event()

    async def run(self) -> None:
        await self.q.wait_for_work(linger=3600.0, target=1000)
        self.woke.set()


async def test_idle_worker_wakes_on_the_first_operation() -> None:
    """An idle worker (empty queue) sleeps until an operation arrives; one operation wakes it."""
    q = OpQueue(100)
    q.attach(asyncio.get_running_loop())
    async with anyio.create_task_group() as tg:
        woke = anyio.Event()

        async def worker() -> None:
            await q.wait_for_work()
            woke.set()

        tg.start_soon(worker)
        await settle()
        assert not woke.is_set()  # nothing queued: still asleep
        q.put(frame())
        with anyio.fail_after(30):
            await woke.wait()
    assert q.take(10) == [b"op:1:1"]


async def test_lingering_worker_wakes_at_high_water_not_before() -> None:
    """While the worker lingers for a batch to fill, operations below half the capacity do not wake it;
    the one that reaches half does (the linger here is an hour, so only the wake rule can end it)."""
    q = OpQueue(20)  # high water: 10
    q.attach(asyncio.get_running_loop())
    q.put(frame())  # something queued: the worker skips the idle sleep and lingers
    worker = LingeringWorker(q)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await settle()
        for _ in range(9):  # 10 queued: the 10th put saw 9 < 10 before appending
            q.put(frame())
            await settle()
            assert not worker.woke.is_set()
        q.put(frame())  # saw 10 queued (the limit) before appending: wakes
        with anyio.fail_after(30):
            await worker.woke.wait()
    assert len(q.take(100)) == 11


async def test_a_waiting_caller_cuts_the_linger_short() -> None:
    """A caller that waits for durability wakes a lingering worker at once: a synchronous call never
    pays for the linger."""
    q = OpQueue(1000)
    q.attach(asyncio.get_running_loop())
    ops = q.put(frame())
    p = q.producer()
    worker = LingeringWorker(q)
    waited: list[BaseException | None] = []

    def caller() -> None:
        try:
            ops.wait(timeout=60)
            waited.append(None)
        except BaseException as exc:  # reported below
            waited.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await settle()
        assert not worker.woke.is_set()
        thread = threading.Thread(target=caller)
        thread.start()
        with anyio.fail_after(30):
            await worker.woke.wait()
        assert q.take(10) == [b"op:1:1"]
        p.done = 1  # what the worker does once the chunk is written
        q.notify()
        await anyio.to_thread.run_sync(thread.join)
    assert waited == [None]


async def test_nudge_wakes_a_lingering_worker_and_skips_its_next_linger() -> None:
    """``nudge`` (a run ended without waiting) ends a linger at once, and a worker woken from idle by it
    does not linger either: nobody waits, yet what is queued is taken now (the lingers here are an hour,
    so only the nudge can end them)."""
    q = OpQueue(1000)
    q.attach(asyncio.get_running_loop())
    q.put(frame())
    worker = LingeringWorker(q)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await settle()
        assert not worker.woke.is_set()  # lingering for a batch
        q.nudge()
        with anyio.fail_after(30):
            await worker.woke.wait()
    assert q.take(10) == [b"op:1:1"]
    # Idle now: an operation wakes the worker, which would then linger for its batch; nudged, it does not.
    worker = LingeringWorker(q)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await settle()
        q.put(frame())
        q.nudge()
        with anyio.fail_after(30):
            await worker.woke.wait()
    assert q.take(10) == [b"op:1:2"]
    # take() spent the nudge: the next operation is lingered over again, as usual.
    q.put(frame())
    worker = LingeringWorker(q)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await settle()
        assert not worker.woke.is_set()
        tg.cancel_scope.cancel()


class CountingLoop:
    """A loop stand-in that counts the wake-ups scheduled on it (and passes them on)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.scheduled = 0

    def call_soon_threadsafe(self, callback: Callable[[], object]) -> asyncio.Handle:
        self.scheduled += 1
        return self.loop.call_soon_threadsafe(callback)


async def test_busy_worker_is_not_woken() -> None:
    """While the worker is busy (not in wait_for_work), callers do not schedule wake-ups: a put costs
    one comparison. Once it is idle, the first put schedules one."""
    q = OpQueue(10)
    loop = CountingLoop(asyncio.get_running_loop())
    q.attach(loop)  # type: ignore[arg-type]
    for _ in range(9):
        q.put(frame())
    assert loop.scheduled == 0
    q.take(100)

    async def worker() -> None:
        await q.wait_for_work()

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        await settle()
        q.put(frame())  # the worker sleeps on an empty queue: this put wakes it, at once
        assert loop.scheduled == 1


def test_put_many_numbers_in_order_and_one_run_operations_covers_them() -> None:
    """put_many gives consecutive sequence numbers, queues the frames in order, and returns one
    RunOperations for all of them; an empty list queues nothing and returns None."""
    q = OpQueue(100)
    assert q.put_many([]) is None
    q.put(frame(b"a"))
    ops = q.put_many([frame(b"b"), frame(b"c"), frame(b"d")])
    assert isinstance(ops, RunOperations)
    assert [(first, last) for _p, first, last in ops._parts()] == [(2, 4)]
    assert q.take(100) == [b"a:1:1", b"b:1:2", b"c:1:3", b"d:1:4"]
    assert not ops.done()
    q.producer().done = 4
    assert ops.done()


def test_put_many_counts_large_frames_and_take_releases_them() -> None:
    """Large operations are counted as they are queued and released as the worker takes them."""
    q = OpQueue(100)
    q.put_many([frame(size=BIG_FRAME), frame(), frame(size=BIG_FRAME)])
    assert q.statistics().queued_large == 2
    assert q.statistics().queued == 3
    assert len(q.take(2)) == 2
    assert q.statistics().queued_large == 1
    q.take(10)
    assert q.statistics().queued_large == 0


def test_put_many_on_a_full_queue_with_raise_policy_refuses_the_rest() -> None:
    """With policy "raise", put_many queues what fits and raises QueueFull for the first that does not;
    nothing after it is numbered."""
    q = OpQueue(2, "raise")
    with pytest.raises(QueueFull) as info:
        q.put_many([frame(b"a"), frame(b"b"), frame(b"c")])
    assert info.value.error_code == "RESOURCE_EXHAUSTED"
    assert q.take(10) == [b"a:1:1", b"b:1:2"]
    assert q.producer().issued == 2


def test_closed_queue_refuses_puts_and_has_no_room() -> None:
    """After close() a put raises naming the reason, and has_room() says no (an event loop then hands
    the call to a thread, which raises there)."""
    q = OpQueue(10)
    assert q.has_room()
    q.close("test over")
    assert not q.has_room()
    with pytest.raises(PipelineClosed, match="test over") as info:
        q.put(frame())
    assert info.value.error_code == "RESOURCE_EXHAUSTED"


def test_waiters_get_pipeline_closed_when_the_worker_stops() -> None:
    """A caller waiting for operations the worker will never write (it stopped for good) gets
    PipelineClosed naming the reason, instead of waiting forever."""
    q = OpQueue(10)
    ops = q.put(frame())
    q.mark_stopped("shutting down")
    with pytest.raises(PipelineClosed, match="shutting down"):
        ops.wait(timeout=60)
    with pytest.raises(PipelineClosed, match="shutting down"):
        q.put(frame())  # nobody would write it


def test_wait_done_times_out_naming_what_it_waited_for() -> None:
    """A wait with a deadline in the past raises TimeoutError at once, naming the operation."""
    q = OpQueue(10)
    ops = q.put(frame())
    with pytest.raises(TimeoutError, match="operation 1 of producer 1"):
        ops.wait(timeout=0)


# -- handing the GIL to a caller whose wait is over


def _waiting_in_thread(q: OpQueue, ops: RunOperations) -> threading.Thread:
    """A thread waiting on ``ops``, started and seen inside wait_done (its count of waiters)."""
    thread = threading.Thread(target=ops.wait, kwargs={"timeout": 60})
    thread.start()
    deadline = time.monotonic() + 60
    while q.statistics().waiting_callers == 0:
        assert thread.is_alive() and time.monotonic() < deadline, "the waiter never started waiting"
        time.sleep(0.001)
    return thread


def test_a_store_thread_ending_a_wait_returns_once_the_caller_has_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """notify() from a thread other than the event loop's (a store's, right after its commit), when it
    ended a caller's wait, returns only once that caller has left wait_done: the caller runs first,
    instead of waiting on while the loop's thread takes the GIL."""
    monkeypatch.setattr(_queue, "_HAND_OFF_S", 60.0)  # no time limit that a loaded machine could reach
    q = OpQueue(10)
    ops = q.put(frame())
    p = q.producer()
    waiter = _waiting_in_thread(q, ops)
    p.done = 1  # the worker's watermark: the operation is durable
    q.notify()
    assert q.statistics().waiting_callers == 0  # the caller has left wait_done already
    waiter.join(60)
    assert not waiter.is_alive()


def test_notify_does_not_wait_for_a_caller_whose_wait_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk that does not reach a waiting caller's operation does not hold the store's thread: notify()
    returns with the caller still waiting."""
    monkeypatch.setattr(_queue, "_HAND_OFF_S", 60.0)
    q = OpQueue(10)
    q.put(frame())
    ops = q.put(frame())
    p = q.producer()
    waiter = _waiting_in_thread(q, ops)
    p.done = 1  # the first operation only
    notifier = threading.Thread(target=q.notify)
    notifier.start()
    notifier.join(30)  # half the hand-off's limit: a notify() that waited for this caller is still there
    assert not notifier.is_alive()
    assert q.statistics().waiting_callers == 1
    p.done = 2
    q.notify()
    waiter.join(60)
    assert not waiter.is_alive()


async def test_the_event_loops_thread_never_waits_in_notify(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the worker's event loop, notify() wakes the caller and returns without handing off: blocking
    there would stall every other task of the loop."""
    monkeypatch.setattr(_queue, "_HAND_OFF_S", 60.0)
    q = OpQueue(10)
    q.attach(asyncio.get_running_loop())
    ops = q.put(frame())
    p = q.producer()
    waiter = await anyio.to_thread.run_sync(_waiting_in_thread, q, ops)
    p.done = 1
    began = time.monotonic()
    q.notify()
    assert time.monotonic() - began < 30  # a hand-off would have held this thread for 60 s
    await anyio.to_thread.run_sync(waiter.join, 60)
    assert not waiter.is_alive()


# -- Producer.fail


def test_fail_merges_adjacent_ranges_of_one_error() -> None:
    """Consecutive failures with the same error become one range; a gap or another error starts a new one."""
    p = Producer(OpQueue(10), 1)
    a, b = MlflowException("a"), MlflowException("b")
    p.fail(1, 3, a)
    p.fail(4, 4, a)
    p.fail(5, 6, a)
    assert p.failures == [(1, 6, a)]
    p.fail(8, 8, a)  # gap at 7
    p.fail(9, 9, b)  # another error
    assert p.failures == [(1, 6, a), (8, 8, a), (9, 9, b)]
    assert p.failures_between(6, 8) == [a]
    assert p.failures_between(7, 7) == []
    assert p.failures_between(1, 100) == [a, b]


def test_fail_bounds_its_ranges_by_merging_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the limit, the two oldest ranges merge: over-reporting the operations between them as failed,
    never reporting a failure as a success, and memory stays bounded."""
    monkeypatch.setattr(_operations, "_MAX_FAILURE_RANGES", 3)
    p = Producer(OpQueue(10), 1)
    errors = [MlflowException(f"e{i}") for i in range(5)]
    for i, exc in enumerate(errors):
        p.fail(10 * i, 10 * i, exc)
    assert len(p.failures) == 3
    assert p.failures[0][:2] == (0, 20)  # ops 0..20 reported failed, though only 0, 10, 20 were
    for i in range(5):
        assert p.failures_between(10 * i, 10 * i)  # every real failure is still reported


@pytest.mark.parametrize("with_ring", [False, True])
def test_put_points_at_checks_before_taking_slots(with_ring: bool, tmp_path: Any) -> None:
    """put_points_at (checked points from log_metrics and the integrations) refuses a timestamp or step
    outside int64 before it takes any slot, so the queue is left as it was and the next call numbers on
    from the last accepted one; accepted points come out in order with one RunOperations."""
    from asynctrack._batching._ops import MetricPoints, decode_chunk
    from asynctrack.pipeline._ring import QueueFile

    q = OpQueue(100, ring=QueueFile(str(tmp_path), 1 << 16) if with_ring else None)
    p, r, k = q.producer(), q.intern("run"), q.intern("loss")
    first = q.put_points_at(p, r, [k, k], [1.0, 2.0], 5, 0)
    for ts, step in ((5, 2**63), (-1, 0), (5, 1.5)):
        with pytest.raises(ValueError, match="int64 timestamp and step"):
            q.put_points_at(p, r, [k], [3.0], ts, step)  # type: ignore[arg-type]
    second = q.put_points_at(p, r, [k], [4.0], 6, 1)
    assert [(a, b) for _p, a, b in (first + second)._parts()] == [(1, 3)]
    assert q.statistics().queued == 3
    (block,) = [i for i in decode_chunk(q.take(10)) if type(i) is MetricPoints]
    assert block.rows["value"].tolist() == [1.0, 2.0, 4.0] and block.rows["seq"].tolist() == [1, 2, 3]
