"""The bounded operation queue between caller threads and the batching worker.

Callers append encoded operations to a deque; the worker drains it in chunks. Three rules keep the caller's
side cheap and correct:

- **No lock per call.** Appending to a ``collections.deque`` is atomic; sequence numbers are per thread
  (a :class:`Producer`), so no shared counter is contended.
- **Wake the worker only when it is worth it.** ``wake_limit`` says how many queued operations should
  wake the worker: 0 while it is idle (any operation wakes it), ``high_water`` (half the capacity) while
  it lingers to let a batch grow, and never while it is busy. The worker sets the limit before it
  sleeps and re-checks the deque; a caller compares the queue length with the limit after appending.
  Whichever happens second sees the other, so no operation is left behind, and a busy or lingering
  worker costs callers one comparison.
- **Back-pressure.** When ``capacity`` operations are queued, a caller blocks until the worker has taken
  a chunk (policy ``"block"``, the default) or gets ``RESOURCE_EXHAUSTED`` at once (policy ``"raise"``).
  Memory therefore stays bounded however fast the caller logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import NamedTuple

from asynctrack.exceptions import RESOURCE_EXHAUSTED, MlflowException
from asynctrack.pipeline import _ops
from asynctrack.pipeline._operations import Producer, RunOperations
from asynctrack.pipeline._outage import Outage
from asynctrack.validation import check_metric

__all__ = ["BIG_FRAME", "MAX_BIG_FRAMES", "NEVER", "OpQueue", "QueueStatistics"]

NEVER = 1 << 62  # a wake_limit no queue length reaches

BIG_FRAME = 64 * 1024
MAX_BIG_FRAMES = 64

_pack_metric = _ops.pack_metric
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_METRIC_TAG = _ops.METRIC_TAG


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
        self.high_water = max(1, capacity // 2)
        self.wake_limit = NEVER  # see the module docstring; written by the worker and by wake()
        self.waiters = 0  # callers in wait_done()
        self.blocked = 0  # callers waiting for room
        self.closed_reason: str | None = None
        self.big_put = 0  # frames of BIG_FRAME bytes or more enqueued (callers, under cond)
        self.big_taken = 0  # ... and taken by the worker (worker only)
        self.stopped = False  # set once the worker has exited for good
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_wake: Callable[[], None] | None = None
        # Intern table for run ids and metric keys in metric frames: index -> string and back. Appended
        # under a lock, read without one (list and dict reads are atomic).
        self.names: list[str] = []
        self._name_ids: dict[str, int] = {}
        self._intern_lock = threading.Lock()
        self._local = threading.local()
        self._ids = itertools.count(1)
        self.producers: weakref.WeakValueDictionary[int, Producer] = weakref.WeakValueDictionary()
        #: the store's current streak of failures, which bounds synchronous callers (``_outage.py``)
        self.outage = Outage()
        self.outage.attach(self.notify)

    # -- wiring to the worker
    def attach(self, loop: asyncio.AbstractEventLoop, on_wake: Callable[[], None]) -> None:
        self._loop = loop
        self._on_wake = on_wake

    @property
    def sleeping(self) -> bool:
        """The worker is idle or lingering (a waiting caller should wake it)."""
        return self.wake_limit != NEVER

    def wake(self) -> None:
        """Ask the worker to look at the queue now (cuts its sleep or linger short)."""
        self.wake_limit = NEVER
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

    def intern(self, name: str) -> int:
        """The index of ``name`` in the intern table (added on first use).

        Only run ids and metric keys that passed validation are interned (run ids are valid keys too).
        """
        i = self._name_ids.get(name)
        if i is None:
            with self._intern_lock:
                i = self._name_ids.get(name)
                if i is None:
                    i = len(self.names)
                    self.names.append(name)  # visible before the id, so the worker can always resolve
                    self._name_ids[name] = i
        return i

    # -- the hot path
    def put_metric(
        self, run_id: str, key: str, value: object, timestamp: object, step: object
    ) -> RunOperations:
        """Check and enqueue one metric point for ``run_id``; return its RunOperations."""
        r = self._name_ids.get(run_id)
        if r is None:
            r = self.intern(run_id)
        p: Producer | None = getattr(self._local, "p", None)
        if p is None:
            p = self.producer()
        return self.put_metric_at(p, r, key, value, timestamp, step)

    def put_metric_at(
        self, p: Producer, r: int, key: str, value: object, timestamp: object, step: object
    ) -> RunOperations:
        """Check and enqueue one metric point, for a caller that already holds its producer ``p`` and
        the run's intern index ``r`` (the fluent API caches both per thread).

        The intern table doubles as the cache of valid keys (a name is interned only once checked), so
        the common call costs a dict lookup and a few type checks before packing its frame. Anything
        unusual takes :func:`asynctrack.validation.check_metric`, which raises MLflow's errors.
        """
        ids = self._name_ids
        try:
            k = ids.get(key)
        except TypeError:  # an unhashable key: check_metric names it
            k = None
        if (
            k is None
            or type(value) is not float
            or type(timestamp) is not int
            or type(step) is not int
            or not 0 <= timestamp <= _INT64_MAX
            or not _INT64_MIN <= step <= _INT64_MAX
        ):
            value, timestamp, step = check_metric(key, value, timestamp, step)
            k = self.intern(key)
        seq = p.issued + 1
        frame = _pack_metric(_METRIC_TAG, p.id, seq, r, k, value, timestamp, step)
        dq = self.dq
        n = len(dq)
        if n >= self._capacity:
            self._make_room()
        dq.append(frame)
        p.issued = seq
        if n >= self.wake_limit:
            self.wake()
        return RunOperations(p, seq, seq)

    def put(self, make: Callable[[int, int], bytes]) -> RunOperations:
        """Enqueue the encoded operation ``make(producer_id, seq)``."""
        p = self.producer()
        seq = p.issued + 1
        frame = make(p.id, seq)
        n = len(self.dq)
        if n >= self._capacity:
            self._make_room()
        self.dq.append(frame)
        p.issued = seq
        if n >= self.wake_limit:
            self.wake()
        return RunOperations(p, seq, seq)

    def put_many(self, makers: list[Callable[[int, int], bytes]]) -> RunOperations | None:
        """Enqueue several encoded operations in order; one RunOperations covers them all."""
        if not makers:
            return None
        p = self.producer()
        first = p.issued + 1
        for make in makers:
            seq = p.issued + 1
            frame = make(p.id, seq)
            if len(self.dq) >= self._capacity:
                self._make_room()
            if len(frame) >= BIG_FRAME:
                self._admit_big_frame()
            self.dq.append(frame)
            p.issued = seq
        if len(self.dq) > self.wake_limit:
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
                    if self.sleeping:
                        self.wake()
                    self.cond.wait(0.5)
                finally:
                    self.blocked -= 1
            self.big_put += 1

    def _make_room(self) -> None:
        if self.closed_reason is not None:
            raise MlflowException(
                f"The logging pipeline is closed ({self.closed_reason}); the operation was not accepted. "
                "Runs and clients from before the close belong to it: start a new run or client.",
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
                if self.sleeping:
                    self.wake()
                while len(self.dq) >= self._capacity:
                    if self.closed_reason is not None:
                        self._make_room()  # raises
                    # Timed so a wake-up lost to a dying worker cannot strand the caller forever.
                    self.cond.wait(0.5)
            finally:
                self.blocked -= 1

    # -- waiting for durability
    def wait_done(
        self,
        p: Producer,
        seq: int,
        deadline: float | None,
        give_up: Callable[[], MlflowException | None] | None = None,
    ) -> None:
        """Block until ``p.done >= seq``; TimeoutError at ``deadline`` (a ``time.monotonic`` value); the
        error ``give_up()`` returns, as soon as it returns one (checked at each wake-up)."""
        if p.done >= seq:
            return
        with self.cond:
            self.waiters += 1
            try:
                if self.sleeping:
                    self.wake()
                while p.done < seq:
                    if give_up is not None and (error := give_up()) is not None:
                        raise error
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

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Count the calling thread as a waiter for the block (a synchronous call, before it enqueues),
        so the worker it wakes does not linger."""
        with self.cond:
            self.waiters += 1
        try:
            yield
        finally:
            with self.cond:
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
