"""The bounded operation queue between caller threads and the batching worker.

Callers append encoded operations to a deque; the worker drains it in chunks. Three rules keep the caller's
side cheap and correct:

- **No lock per call.** Appending to a ``collections.deque`` is atomic; sequence numbers are per thread
  (a :class:`Producer`), so no shared counter is contended.
- **Wake only a sleeping worker.** The worker raises ``idle`` before it sleeps and re-checks the deque;
  a caller checks ``idle`` after appending. Whichever happens second sees the other, so no operation is
  left behind, and a busy worker costs callers nothing.
- **Back-pressure.** When ``capacity`` operations are queued, a caller blocks until the worker has taken
  a chunk (policy ``"block"``, the default) or gets ``RESOURCE_EXHAUSTED`` at once (policy ``"raise"``).
  Memory therefore stays bounded however fast the caller logs.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from asynctrack.exceptions import RESOURCE_EXHAUSTED, MlflowException
from asynctrack.pipeline import _ops
from asynctrack.pipeline._operations import Producer, RunOperations

__all__ = ["BIG_FRAME", "MAX_BIG_FRAMES", "OpQueue", "QueueStatistics"]

BIG_FRAME = 64 * 1024
MAX_BIG_FRAMES = 64

_encode = _ops.encode
_MetricOp = _ops.MetricOp


class QueueStatistics(NamedTuple):
    """A snapshot of one queue: how full it is and how many callers wait."""

    queued: int
    capacity: int
    blocked_callers: int
    waiting_callers: int


class OpQueue:
    """Caller-side half of a pipeline: producers, the deque, waking, waiting and back-pressure."""

    def __init__(self, capacity: int, full_policy: str = "block") -> None:
        if capacity <= 0:
            raise ValueError(f"queue capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._capacity = capacity  # 0 once closed: every put then takes the slow path and is refused
        self.full_policy = full_policy
        self.dq: deque[bytes] = deque()
        self.cond = threading.Condition()
        self.idle = False  # the worker sleeps until woken
        self.lingering = False  # the worker waits briefly for a batch to fill
        self.waiters = 0  # callers in wait_done()
        self.blocked = 0  # callers waiting for room
        self.closed_reason: str | None = None
        self.big_put = 0  # frames of BIG_FRAME bytes or more enqueued (callers, under cond)
        self.big_taken = 0  # ... and taken by the worker (worker only)
        self.stopped = False  # set once the worker has exited for good
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_wake: Callable[[], None] | None = None
        self._local = threading.local()
        self._ids = itertools.count(1)
        self.producers: weakref.WeakValueDictionary[int, Producer] = weakref.WeakValueDictionary()

    # -- wiring to the worker
    def attach(self, loop: asyncio.AbstractEventLoop, on_wake: Callable[[], None]) -> None:
        self._loop = loop
        self._on_wake = on_wake

    def wake(self) -> None:
        """Ask the worker to look at the queue now (cuts its sleep or linger short)."""
        self.idle = False
        loop, on_wake = self._loop, self._on_wake
        if loop is not None and on_wake is not None:
            try:
                loop.call_soon_threadsafe(on_wake)
            except RuntimeError:  # the loop is closed: the pipeline is shutting down
                pass

    # -- producers
    def producer(self) -> Producer:
        p: Producer | None = getattr(self._local, "p", None)
        if p is None:
            p = Producer(self, next(self._ids))
            self._local.p = p
            self.producers[p.id] = p
        return p

    # -- the hot path
    def put_metric(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> RunOperations:
        """Enqueue one metric point (already validated); return its RunOperations."""
        p: Producer | None = getattr(self._local, "p", None)
        if p is None:
            p = self.producer()
        seq = p.issued + 1
        frame = _encode(_MetricOp(p.id, seq, run_id, key, value, timestamp, step))
        dq = self.dq
        if len(dq) >= self._capacity:
            self._make_room()
        dq.append(frame)
        p.issued = seq
        if self.idle:
            self.wake()
        return RunOperations(p, seq, seq)

    def put(self, make: Callable[[int, int], _ops.Op]) -> RunOperations:
        """Enqueue the operation ``make(producer_id, seq)``; for everything but single metrics."""
        p = self.producer()
        seq = p.issued + 1
        frame = _encode(make(p.id, seq))
        if len(self.dq) >= self._capacity:
            self._make_room()
        self.dq.append(frame)
        p.issued = seq
        if self.idle:
            self.wake()
        return RunOperations(p, seq, seq)

    def put_many(self, makers: list[Callable[[int, int], _ops.Op]]) -> RunOperations | None:
        """Enqueue several operations in order; one RunOperations covers them all."""
        if not makers:
            return None
        p = self.producer()
        first = p.issued + 1
        for make in makers:
            seq = p.issued + 1
            frame = _encode(make(p.id, seq))
            if len(self.dq) >= self._capacity:
                self._make_room()
            if len(frame) >= BIG_FRAME:
                self._admit_big_frame()
            self.dq.append(frame)
            p.issued = seq
        if self.idle:
            self.wake()
        return RunOperations(p, first, p.issued)

    def _admit_big_frame(self) -> None:
        # Array operations are counted in bytes too: at most MAX_BIG_FRAMES of them (each up to about
        # 400 KiB) may wait in the queue, so memory stays bounded when arrays outpace the store.
        with self.cond:
            while self.big_put - self.big_taken >= MAX_BIG_FRAMES:
                if self.closed_reason is not None:
                    self._make_room()  # raises
                self.blocked += 1
                try:
                    if self.idle or self.lingering:
                        self.wake()
                    self.cond.wait(0.5)
                finally:
                    self.blocked -= 1
            self.big_put += 1

    def _make_room(self) -> None:
        if self.closed_reason is not None:
            raise MlflowException(
                f"The logging pipeline is closed ({self.closed_reason}); the operation was not accepted.",
                error_code=RESOURCE_EXHAUSTED,
            )
        if self.full_policy == "raise":
            raise MlflowException(
                f"The logging queue is full ({self.capacity} operations waiting to be written) and "
                "ASYNCTRACK_QUEUE_FULL=raise; the operation was not accepted. Wait on earlier "
                "RunOperations, call flush_async_logging(), or raise ASYNCTRACK_QUEUE_SIZE.",
                error_code=RESOURCE_EXHAUSTED,
            )
        with self.cond:
            self.blocked += 1
            try:
                if self.idle or self.lingering:
                    self.wake()
                while len(self.dq) >= self._capacity:
                    if self.closed_reason is not None:
                        self._make_room()  # raises
                    # Timed so a wake-up lost to a dying worker cannot strand the caller forever.
                    self.cond.wait(0.5)
            finally:
                self.blocked -= 1

    # -- waiting for durability
    def wait_done(self, p: Producer, seq: int, deadline: float | None) -> None:
        """Block until ``p.done >= seq``; TimeoutError at ``deadline`` (a ``time.monotonic`` value)."""
        if p.done >= seq:
            return
        with self.cond:
            self.waiters += 1
            try:
                if self.idle or self.lingering:
                    self.wake()
                while p.done < seq:
                    if self.stopped:
                        raise MlflowException(
                            f"The logging pipeline stopped ({self.closed_reason}) before these "
                            "operations were written."
                        )
                    if deadline is None:
                        self.cond.wait(1.0)
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(
                            f"logging operations not yet durable (waited for operation {seq} of "
                            f"producer {p.id}; {len(self.dq)} operations queued)"
                        )
                    self.cond.wait(remaining)
            finally:
                self.waiters -= 1

    def notify(self) -> None:
        """Called by the worker after it freed room or advanced watermarks."""
        if self.waiters or self.blocked:
            with self.cond:
                self.cond.notify_all()

    def close(self, reason: str) -> None:
        """Refuse further operations (they raise at the call site)."""
        self.closed_reason = reason
        self._capacity = 0

    def statistics(self) -> QueueStatistics:
        return QueueStatistics(len(self.dq), self.capacity, self.blocked, self.waiters)
