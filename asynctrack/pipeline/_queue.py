"""The bounded operation queue between caller threads and the batching worker.

Callers append encoded operations to a deque; the worker drains it in chunks. Three rules keep the caller's
side cheap and correct:

- **No lock per call.** Appending to a ``collections.deque`` is atomic; sequence numbers are per thread
  (a :class:`Producer`), so no shared counter is contended.
- **Wake the worker only when it is worth it.** ``wake_limit`` says how many queued operations should
  wake the worker: 0 while it is idle (any operation wakes it), ``high_water`` (half the capacity) while
  it lingers to let a batch grow, and never while it is busy. After a write the worker stays warm for
  one linger period (limit ``high_water``) before it goes idle, so a steady stream of calls never pays
  a wake-up. The worker sets the limit before it
  sleeps and re-checks the deque; a caller compares the queue length with the limit after appending.
  Whichever happens second sees the other, so no operation is left behind, and a busy or lingering
  worker costs callers one comparison. :meth:`OpQueue.nudge` (a run ended without waiting) wakes it and
  skips the next linger, so what is queued is written now without anybody waiting for it.
- **Back-pressure.** When ``capacity`` operations are queued, a caller blocks until the worker has taken
  a chunk (policy ``"block"``, the default) or gets :class:`~asynctrack.exceptions.QueueFull`
  (``RESOURCE_EXHAUSTED``) at once (policy ``"raise"``).
  Memory therefore stays bounded however fast the caller logs.

Its state is private, as an anyio memory stream's is: callers use ``put*``, ``has_room()``,
``wait_done()`` and ``statistics()``; the worker uses ``wait_for_work()``, ``take(n)``, ``producer_by_id()``
and ``notify()``. Nothing outside ``pipeline/`` reaches into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

from asynctrack._batching import _ops
from asynctrack._int64 import INT64_MAX as _INT64_MAX
from asynctrack._int64 import INT64_MIN as _INT64_MIN
from asynctrack.exceptions import MlflowException, PipelineClosed, QueueFull
from asynctrack.pipeline._native import EXTENSION, QueueCore
from asynctrack.pipeline._operations import Producer, RunOperations, wait_for_watermark
from asynctrack.pipeline._outage import Outage
from asynctrack.pipeline._ring import METRIC_RECORD
from asynctrack.validation import check_metric

if TYPE_CHECKING:
    from asynctrack.pipeline._express import Express
    from asynctrack.pipeline._ring import QueueFile

__all__ = [
    "BIG_FRAME",
    "COMPILED",
    "MAX_BIG_FRAMES",
    "NEVER",
    "OpQueue",
    "QueueStatistics",
    "bind_compiled",
    "compiled",
    "put_metric_at",
    "put_points_at",
]

NEVER = 1 << 62  # a wake_limit no queue length reaches

BIG_FRAME = 64 * 1024
MAX_BIG_FRAMES = 64

# How long a store's thread that ended a caller's wait waits for that caller to take the GIL and leave
# (``OpQueue.notify``): a caller's wake-up takes 20-50 us; past this, something else holds the GIL.
_HAND_OFF_S = 0.001

_pack_metric = _ops.pack_metric
_pack_record = METRIC_RECORD.pack_into
_METRIC_TAG = _ops.METRIC_TAG
_FLOAT_OR_INT = frozenset((float, int))


class QueueStatistics(NamedTuple):
    """A snapshot of one queue: how full it is and how many callers wait."""

    #: operations waiting in the queue (not yet taken by the worker)
    queued: int
    #: the most operations the queue holds before callers block (or are refused)
    capacity: int
    #: callers waiting for room (a full queue, or too many large array operations)
    blocked_callers: int
    #: callers waiting for their operations to be durable
    waiting_callers: int
    #: large operations (``BIG_FRAME`` bytes or more: metric arrays) queued, at most ``MAX_BIG_FRAMES``
    queued_large: int


class OpQueue(QueueCore):
    """Caller-side half of a pipeline: producers, the deque, waking, waiting and back-pressure.

    ``_ring``, ``_name_ids``, ``_wake_limit`` and ``_capacity`` are :class:`QueueCore`'s, which the
    compiled calls read (``_native.py``)."""

    def __init__(self, capacity: int, full_policy: str = "block", ring: QueueFile | None = None) -> None:
        if capacity <= 0:
            raise ValueError(f"queue capacity must be positive, got {capacity}")
        self._max = capacity
        self._capacity = capacity  # 0 once closed: every put then takes the slow path and is refused
        self._full_policy = full_policy
        # The frames: in the queue file when there is one (``_ring.py``: they survive a kill), else in
        # memory. Both answer len(), append() and extend(); taking differs (take()).
        self._ring = ring
        if ring is not None:
            # One comparison on the caller's path covers both bounds: the queue's capacity in 64-byte
            # records (counted from the last acknowledgement, so a chunk in flight counts too) and the
            # ring's room; past it, _put_metric_slow sorts out which applies.
            ring.limit = min(ring.limit, capacity * 64)
        self._dq: deque[bytes] | QueueFile = ring if ring is not None else deque()
        self._cond = threading.Condition()
        self._high_water = max(1, capacity // 2)
        self._wake_limit = NEVER  # see the module docstring; written by the worker and by _wake()
        self._waiters = 0  # callers in wait_done() or waiting()
        # What each caller in wait_done() waits for, (producer, sequence number): so that a store's
        # thread that completed a chunk can tell whether it woke one of them (``notify``).
        self._awaited: list[tuple[Producer, int]] = []
        self._handing_off = False  # a store's thread waits for a woken caller to leave (``notify``)
        self._left = 0  # callers that have left wait_done, counted for _hand_off
        self._loop_thread = 0  # the worker's event loop thread, which never waits in notify()
        self._blocked = 0  # callers waiting for room
        self._closed_reason: str | None = None
        self._big_put = 0  # frames of BIG_FRAME bytes or more enqueued (callers, under _cond)
        self._big_taken = 0  # ... and taken by the worker (worker only)
        self._stopped = False  # set once the worker has exited for good
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None  # the worker's wake-up, set from any thread via the loop
        self._timed_out = False  # the worker's linger ended by its timer, not by a wake-up
        self._urgent = False  # nudge(): the next cycle does not linger
        # Intern table for run ids and metric keys in metric frames: index -> string and back. Appended
        # under a lock, read without one (list and dict reads are atomic).
        self._names: list[str] = []
        self._name_ids: dict[str, int] = {}
        self._intern_lock = threading.Lock()
        self._local = threading.local()
        self._ids = itertools.count(1)
        self._producers: weakref.WeakValueDictionary[int, Producer] = weakref.WeakValueDictionary()
        # the store's current streak of failures, which bounds synchronous callers (``_outage.py``)
        self._outage = Outage()
        self._outage.attach(self.notify)
        self._express: Express | None = None

    # -- read-only views
    @property
    def capacity(self) -> int:
        """The most operations the queue holds (``ASYNCTRACK_QUEUE_SIZE``)."""
        return self._max

    @property
    def full_policy(self) -> str:
        """``"block"`` (wait for room) or ``"raise"`` (refuse at once) when the queue is full."""
        return self._full_policy

    @property
    def names(self) -> Sequence[str]:
        """The intern table: index -> run id or metric key (append-only)."""
        return self._names

    @property
    def outage(self) -> Outage:
        """The store's current streak of failures, as the worker reports it (for the pipeline)."""
        return self._outage

    @property
    def ring(self) -> QueueFile | None:
        """The queue file holding the frames (None: they are in memory only)."""
        return self._ring

    @property
    def express(self) -> Express | None:
        """The express lane of synchronous calls, when the store has one (``_express.py``)."""
        return self._express

    def set_express(self, express: Express | None) -> None:
        """Give the queue its express lane (the pipeline does, at start), or take it away."""
        self._express = express

    def statistics(self) -> QueueStatistics:
        """A snapshot of how full the queue is and how many callers wait."""
        return QueueStatistics(
            len(self._dq), self._max, self._blocked, self._waiters, self._big_put - self._big_taken
        )

    def has_room(self) -> bool:
        """True when a call may enqueue now without blocking (an event loop's check before it puts:
        room for more than one operation, and for a large one). False once the queue is closed."""
        ring = self._ring
        return (
            len(self._dq) < self._capacity - 1
            and self._big_put - self._big_taken < MAX_BIG_FRAMES // 2
            and (ring is None or ring.head - ring.acked < ring.size // 2)  # the queue file's room too
        )

    def empty(self) -> bool:
        return not self._dq

    def snapshot(self) -> list[bytes]:
        """The frames still queued, oldest first (for the exit report and the journal's spool)."""
        dq = self._dq
        if isinstance(dq, deque):
            return list(dq)
        return dq.pending()

    def give_up_check(self, call: str) -> Callable[[], MlflowException | None]:
        """For one synchronous call starting now: the check ``wait_done(give_up=...)`` takes, which returns
        the error to raise once the store has failed past its retry budget (``_outage.py``)."""
        return self._outage.give_up_check(call)

    # -- the worker's side
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the queue to the worker running on ``loop`` (called from that loop)."""
        self._loop = loop
        self._event = asyncio.Event()
        self._loop_thread = threading.get_ident()

    def _sleeping(self) -> bool:
        # The worker is idle or lingering (a waiting caller should wake it).
        return self._wake_limit != NEVER

    def _wake(self) -> None:
        # Ask the worker to look at the queue now (cuts its sleep or linger short).
        self._wake_limit = NEVER
        loop, event = self._loop, self._event
        if loop is not None and event is not None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop is closed: the pipeline is shutting down
                pass

    async def wait_for_work(self, linger: float = 0.0, target: int = 0) -> None:
        """Return once there is something to take: sleep while the queue is empty; then, when ``linger``
        is positive and fewer than ``target`` operations are queued, let the batch grow for up to
        ``linger`` seconds, or until the queue is half full or a caller waits (the worker's side of the
        wake rule in the module docstring)."""
        dq, event = self._dq, self._event
        assert event is not None, "attach() first"
        try:
            if not dq and linger > 0:
                # Still warm (just after a write, or at start): wait up to ``linger`` under the lingering
                # limit before sleeping for good, so that a steady trickle (a training loop's few metrics
                # a step) never has its caller wake the worker: each wake-up is a cross-thread write whose
                # system call hands the GIL to the loop thread in the middle of the caller's step.
                event.clear()
                self._wake_limit = self._high_water
                idle = not self._waiters and not self._blocked and not self._urgent
                if not dq and idle and await self._linger(event, linger):
                    return  # woken: half full, a caller waits, or the queue closes
                self._wake_limit = NEVER
                if dq:
                    return  # the batch had its linger to grow
            if not dq:
                event.clear()
                self._wake_limit = 0
                if not dq:  # re-check after setting the limit: see the module docstring
                    await event.wait()
                self._wake_limit = NEVER
            if linger > 0 and len(dq) < target:
                # Fewer, larger writes; the training loop keeps the GIL meanwhile.
                event.clear()
                self._wake_limit = self._high_water
                idle = not self._waiters and not self._blocked and not self._urgent
                if len(dq) < self._high_water and idle:
                    await self._linger(event, linger)
        finally:
            self._wake_limit = NEVER

    async def _linger(self, event: asyncio.Event, linger: float) -> bool:
        """Wait for ``event`` at most ``linger`` seconds; whether it was set (not timed out).

        A timer that sets the event, rather than ``asyncio.timeout``, which ends the wait by cancelling
        the task and raising through it: a lingering worker times out about twenty times a second under
        a training loop's trickle of points, and the exception costs more than the timer."""
        loop = self._loop
        assert loop is not None
        self._timed_out = False
        timer = loop.call_later(linger, self._linger_over, event)
        try:
            await event.wait()
        finally:
            timer.cancel()
        timed_out, self._timed_out = self._timed_out, False
        return not timed_out

    def _linger_over(self, event: asyncio.Event) -> None:
        if not event.is_set():
            self._timed_out = True
            event.set()

    def take(self, n: int) -> list[bytes]:
        """Remove and return up to ``n`` frames, oldest first; callers blocked on a full queue wake."""
        self._urgent = False
        dq = self._dq
        if self._ring is not None:
            # Runs of scalar metric frames come out joined, one frame per run (decode_chunk splits them).
            frames, big = self._ring.take(n)
        else:
            assert isinstance(dq, deque)
            n = min(len(dq), n)
            popleft = dq.popleft
            frames = [popleft() for _ in range(n)]
            big = sum(1 for f in frames if len(f) >= BIG_FRAME)
        if big:
            self._big_taken += big
        if self._blocked:
            self.notify()
        return frames

    def nudge(self) -> None:
        """Have the worker write what is queued now, without lingering and without waiting for it (a run
        has ended: its last points and its status are worth writing at once, and nobody waits on them)."""
        self._urgent = True
        if self._sleeping():
            self._wake()

    def producer_by_id(self, producer_id: int) -> Producer | None:
        """The producer with this id, or None if its thread (and every RunOperations of it) is gone."""
        return self._producers.get(producer_id)

    def notify(self) -> None:
        """Called by the worker after it freed room or advanced watermarks.

        Called from a store's own thread (SQLite: right after the commit) when a caller's wait is over,
        it also hands the GIL to that caller: it waits (at most ``_HAND_OFF_S``) until the caller (the
        first of several) has left ``wait_done``. Without that, the store's thread hands its result to
        the event loop, whose thread wakes with the caller and usually takes the GIL first, running the
        worker's bookkeeping (0.2 ms here) while the caller, with nothing left to wait for, waits on. The
        event loop's own thread never waits here."""
        if self._waiters or self._blocked:
            with self._cond:
                self._cond.notify_all()
                if self._awaited and threading.get_ident() != self._loop_thread:
                    self._hand_off()

    def _hand_off(self) -> None:
        # Under _cond: wait until one caller whose wait is over has left wait_done (each one leaving
        # counts and notifies), or none is left, or the time is up. One, not all: with many synchronous
        # callers through the queue, waiting for every one of them cost 6 % of their calls/s.
        deadline = time.monotonic() + _HAND_OFF_S
        left = self._left
        self._handing_off = True
        try:
            while self._left == left and any(p.done >= seq for p, seq in self._awaited):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    break
        finally:
            self._handing_off = False

    def mark_stopped(self, reason: str) -> None:
        """The worker has exited for good: waiters raise instead of waiting on, and the queue refuses new
        operations (closed with ``reason``, unless it was closed already), since nobody would write them."""
        with self._cond:
            if self._closed_reason is None:
                self.close(reason)
            self._stopped = True
            self._cond.notify_all()

    # -- producers
    def producer(self) -> Producer:
        """The calling thread's producer (created on first use)."""
        p: Producer | None = getattr(self._local, "p", None)
        if p is None:
            p = Producer(self, next(self._ids))
            if self._ring is not None:
                p.prefix = self._ring.metric_prefix(p.id)
            self._local.p = p
            self._producers[p.id] = p
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
                    i = len(self._names)
                    if self._ring is not None:
                        self._ring.add_name(i, name)  # on disk before any frame uses it
                    self._names.append(name)  # visible before the id, so the worker can always resolve
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
        return put_metric_at(self, p, r, key, value, timestamp, step)

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
        ring = self._ring
        if ring is not None:
            # QueueFile.write_metric, inlined (a method call is a third of what the queue file adds): a slot
            # from the ring's counter (no lock), one bound check covering the queue's capacity and the
            # ring's room, one pack_into.
            h = ring.reserve()
            if h < ring.bound:
                _pack_record(ring.data, h & ring.mask, p.prefix, seq, r, k, value, timestamp, step, h + 1)
            else:
                self._put_metric_slow(ring, h, p, seq, r, k, value, timestamp, step)
            n = (h - ring.taken) >> 6
        else:
            frame = _pack_metric(_METRIC_TAG, p.id, seq, r, k, value, timestamp, step)
            dq = self._dq
            n = len(dq)
            if n >= self._capacity:
                self._make_room()
            dq.append(frame)
        p.issued = seq
        if n >= self._wake_limit:
            self._wake()
        return RunOperations(p, seq, seq)

    def _put_metric_slow(
        self, ring: QueueFile, h: int, p: Producer, seq: int, r: int, k: int, value: float, timestamp: int,
        step: int,
    ) -> None:  # fmt: skip
        # Past the fast path's bound with slot ``h`` in hand: the queue is full before it (block or
        # raise, as for the in-memory queue; a refused call voids its slot), or the ring lacks room.
        try:
            if (h - ring.taken) >> 6 >= self._capacity:
                self._make_room(h)
        except BaseException:
            ring.void(h)
            raise
        ring.write_metric(h, p.prefix, seq, r, k, value, timestamp, step)

    def put_metrics_at(
        self, p: Producer, r: int, metrics: Mapping[str, object], timestamp: object, step: object
    ) -> RunOperations | None:
        """:meth:`put_metric_at` for several keys at one step and timestamp (``log_metrics``): every point
        is checked before any is enqueued, then all go in through :meth:`put_points_at`, with one wake
        check and one RunOperations, so a dict of metrics costs about what one ``log_metric`` does. The
        timestamp and step, shared by every point, are checked once."""
        ids = self._name_ids
        ts, st = timestamp, step
        shared_ok = (
            type(ts) is int and type(st) is int and 0 <= ts <= _INT64_MAX and _INT64_MIN <= st <= _INT64_MAX
        )
        keys: list[int] = []
        values: list[float] = []
        for key, value in metrics.items():
            try:
                k = ids.get(key)
            except TypeError:  # an unhashable key: check_metric names it
                k = None
            if k is None or type(value) is not float or not shared_ok:
                value, ts, st = check_metric(key, value, timestamp, step)
                k = self.intern(key)
            keys.append(k)
            values.append(value)
        if not keys:
            return None
        return put_points_at(self, p, r, keys, values, ts, st)  # type: ignore[arg-type]

    def put_points_at(
        self, p: Producer, r: int, keys: Sequence[int], values: Sequence[float], timestamp: int, step: int
    ) -> RunOperations:
        """Enqueue checked points of run ``r``: ``keys`` are intern indexes of valid metric keys,
        ``values`` floats, ``timestamp`` and ``step`` ints in int64's range (the callers check, once per
        key or per call: :meth:`put_metrics_at`, the integrations' ``TrainingRun.log_metrics``). All are
        accepted or none (a full queue blocks or refuses the whole call)."""
        if not (
            type(timestamp) is int
            and type(step) is int
            and 0 <= timestamp <= _INT64_MAX
            and _INT64_MIN <= step <= _INT64_MAX
        ):
            # Checked before any slot is taken: a record that failed to pack half-way through would leave
            # slots the worker waits for.
            raise ValueError(f"put_points_at needs int64 timestamp and step, got {timestamp!r}, {step!r}")
        count = len(keys)
        if count != len(values) or not count:
            raise ValueError(f"put_points_at needs one value per key, at least one: {count}, {len(values)}")
        first = p.issued + 1
        ring = self._ring
        if ring is not None:
            # Every slot at once (one C call), so the capacity check covers the whole call (a refused call
            # voids its slots).
            slots = ring.reserve_many(count)
            last = slots[-1]
            n = (last - ring.taken) >> 6
            bound = ring.bound
            if last >= bound and n >= self._capacity:
                try:
                    self._make_room(slots[0])
                except BaseException:
                    ring.void_all(slots)
                    raise
            data, mask, prefix = ring.data, ring.mask, p.prefix
            seq = first
            for i, (h, k, v) in enumerate(zip(slots, keys, values, strict=True)):
                if h < bound:
                    _pack_record(data, h & mask, prefix, seq, r, k, v, timestamp, step, h + 1)
                else:
                    try:  # waits for room in the ring; voids its own slot if it raises
                        ring.write_metric(h, prefix, seq, r, k, v, timestamp, step)
                    except BaseException:  # interrupted while waiting (Ctrl-C), or the file closed
                        # The points before it are in; the slots after it are given back (the worker
                        # would wait for them forever) and the numbers used stay used.
                        p.issued = seq - 1
                        if i + 1 < count:
                            ring.void_all(slots[i + 1 :])
                        raise
                seq += 1
        else:
            dq = self._dq
            n = len(dq)
            if n >= self._capacity:
                self._make_room()
            assert isinstance(dq, deque)
            pid = p.id
            dq.extend(
                [
                    _pack_metric(_METRIC_TAG, pid, seq, r, k, v, timestamp, step)
                    for seq, k, v in zip(range(first, first + count), keys, values, strict=True)
                ]
            )
        last_seq = first + count - 1
        p.issued = last_seq
        if n + count > self._wake_limit:
            self._wake()
        return RunOperations(p, first, last_seq)

    def put_dict_at(
        self,
        p: Producer,
        r: int,
        seen: tuple[tuple[object, ...], Sequence[int]],
        metrics: Mapping[Any, object],
        step: object,
    ) -> RunOperations | None:
        """Enqueue a training step's ``metrics`` as points of run ``r`` at ``step`` and now, when they are
        the usual dict: an exact dict whose keys are ``seen[0]``, in order (their intern indexes are
        ``seen[1]``: the integrations' ``TrainingRun`` caches them from the last such dict), every value a
        float or an int, and ``step`` an int in int64's range. None, with nothing queued, for anything
        else: the caller then takes its own pass over the dict, which checks every key and value."""
        if type(metrics) is not dict or type(step) is not int or not _INT64_MIN <= step <= _INT64_MAX:
            return None
        if tuple(metrics) != seen[0]:
            return None
        values = list(metrics.values())
        if not values or not _FLOAT_OR_INT.issuperset(map(type, values)):
            return None
        try:
            floats = list(map(float, values))
        except OverflowError:  # an int past float's range
            return None
        return put_points_at(self, p, r, seen[1], floats, time.time_ns() // 1_000_000, step)

    def put(self, make: Callable[[int, int], bytes]) -> RunOperations:
        """Enqueue the encoded operation ``make(producer_id, seq)``."""
        p = self.producer()
        seq = p.issued + 1
        frame = make(p.id, seq)
        n = len(self._dq)
        if n >= self._capacity:
            self._make_room()
        self._dq.append(frame)
        p.issued = seq
        if n >= self._wake_limit:
            self._wake()
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
            if len(self._dq) >= self._capacity:
                self._make_room()
            if len(frame) >= BIG_FRAME:
                self._admit_big_frame()
            self._dq.append(frame)
            p.issued = seq
        if len(self._dq) > self._wake_limit:
            self._wake()
        return RunOperations(p, first, p.issued)

    def _admit_big_frame(self) -> None:
        # Array operations are counted in bytes too: at most MAX_BIG_FRAMES of them (each up to about
        # 400 KiB) may wait in the queue, so memory stays bounded when arrays outpace the store.
        with self._cond:
            while self._big_put - self._big_taken >= MAX_BIG_FRAMES:
                if self._closed_reason is not None:
                    self._make_room()  # raises
                self._blocked += 1
                try:
                    if self._sleeping():
                        self._wake()
                    self._cond.wait(0.5)
                finally:
                    self._blocked -= 1
            self._big_put += 1

    def _make_room(self, at: int | None = None) -> None:
        # Block until the queue has room (or raise). ``at``: the caller already holds the queue file's
        # slot there, so only the records before it count (the worker cannot take past it).
        if self._closed_reason is not None:
            raise PipelineClosed(
                f"The logging pipeline is closed ({self._closed_reason}); the operation was not accepted. "
                "Runs and clients from before the close belong to it: start a new run or client."
            )
        if self._full_policy == "raise":
            raise QueueFull(
                f"The logging queue is full ({self._max} operations waiting to be written) and "
                "ASYNCTRACK_QUEUE_FULL=raise; the operation was not accepted. Wait on earlier "
                "RunOperations, call flush_async_logging(), or raise ASYNCTRACK_QUEUE_SIZE."
            )
        with self._cond:
            self._blocked += 1
            try:
                if self._sleeping():
                    self._wake()
                ring = self._ring
                while (
                    len(self._dq) if at is None or ring is None else (at - ring.taken) >> 6
                ) >= self._capacity:
                    if self._closed_reason is not None:
                        self._make_room()  # raises
                    # Timed so a wake-up lost to a dying worker cannot strand the caller forever.
                    self._cond.wait(0.5)
            finally:
                self._blocked -= 1

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
        awaited = (p, seq)
        with self._cond:
            self._waiters += 1
            self._awaited.append(awaited)
            try:
                if self._sleeping():
                    self._wake()
                wait_for_watermark(
                    self._cond,
                    p,
                    seq,
                    deadline,
                    give_up,
                    stopped=self._stopped_error,
                    timed_out=lambda: (
                        f"logging operations not yet durable (waited for operation {seq} of "
                        f"producer {p.id}; {len(self._dq)} operations queued)"
                    ),
                )
            finally:
                self._waiters -= 1
                self._awaited.remove(awaited)
                self._left += 1
                if self._handing_off:
                    self._cond.notify_all()  # the store's thread in _hand_off may go on

    def _stopped_error(self) -> MlflowException | None:
        if not self._stopped:
            return None
        return PipelineClosed(
            f"The logging pipeline stopped ({self._closed_reason}) before these operations were written."
        )

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Count the calling thread as a waiter for the block (a synchronous call, before it enqueues),
        so the worker it wakes does not linger."""
        with self._cond:
            self._waiters += 1
        try:
            yield
        finally:
            with self._cond:
                self._waiters -= 1

    def close(self, reason: str) -> None:
        """Refuse further operations (they raise at the call site)."""
        self._closed_reason = reason
        self._capacity = 0
        if self._ring is not None:
            self._ring.limit = 0  # every metric then takes _put_metric_slow, which refuses it


def _load_compiled() -> ModuleType | None:
    # The compiled calls (``_cqueue.c``), bound to this module's classes; None where the extension is not
    # in use (``_native.py``: not built, cannot work here, or ``ASYNCTRACK_NO_EXTENSIONS`` is set).
    return None if EXTENSION is None else bind_compiled(EXTENSION)


def bind_compiled(extension: ModuleType) -> ModuleType:
    """``extension`` (``_cqueue``) told what its calls return and which methods take every other case."""
    extension.bind(RunOperations, OpQueue.put_metric_at, OpQueue.put_points_at, OpQueue.put_dict_at)
    return extension


_cqueue = _load_compiled()
#: whether this process runs the compiled calls (``_cqueue.c``; docs/pipeline.md, "The compiled calls")
COMPILED = _cqueue is not None


def compiled() -> ModuleType | None:
    """The compiled extension (``asynctrack.pipeline._cqueue``) where it is in use, else None (for
    fluent's ``log_metric``, whose own hot path it also compiles)."""
    return _cqueue


# The hot calls as functions of the queue (``put_metric_at(queue, p, r, ...)``), for the callers on a
# training step's path (fluent ``log_metric``/``log_metrics``, the client's ``log_metric``, the
# integrations): the compiled ones where they are built, which take the common case and hand every other
# to the methods above, else the methods themselves. Either way the methods are the reference: the two
# write the same bytes (tests/pipeline/test_compiled.py).
put_metric_at: Callable[[OpQueue, Producer, int, str, object, object, object], RunOperations] = (
    _cqueue.put_metric_at if _cqueue is not None else OpQueue.put_metric_at
)
put_points_at: Callable[[OpQueue, Producer, int, Sequence[int], Sequence[float], int, int], RunOperations] = (
    _cqueue.put_points_at if _cqueue is not None else OpQueue.put_points_at
)
put_dict_at: Callable[
    [OpQueue, Producer, int, tuple[tuple[object, ...], Sequence[int]], Mapping[Any, object], object],
    RunOperations | None,
] = _cqueue.put_dict_at if _cqueue is not None else OpQueue.put_dict_at
