"""The express lane: a synchronous call written from the caller's own thread when the pipeline is idle.

A synchronous call through the queue crosses three threads (caller → worker on the event loop → the
store's connection thread → caller), about 150 µs of wake-ups on this machine for a 40 µs transaction.
When nothing of the pipeline is queued or in flight, nothing can be ordered before the call except what is
already durable, so the caller may write its operations itself, through the store's
:class:`~asynctrack.store.ExpressWriter` (for SQLite: a connection of its own), and skip the hops.

**Ordering.** One lock, the *gate*, is held by whoever writes: the worker from the moment it takes a chunk
until that chunk is durable or failed (``enter_worker`` / ``leave_worker``), an express caller for its
whole write. An express caller only tries the gate without waiting, and only writes if, holding it, the
queue is empty. So when it writes:

- every operation enqueued before it (by any thread) has been taken by the worker, and since the worker
  let go of the gate, that chunk is durable or failed: the call is ordered after everything earlier;
- anything enqueued meanwhile waits in the queue, and the worker cannot take it before the express write
  has committed and the gate is free: everything later is ordered after the call.

Otherwise (the gate is busy, something is queued, the queue is closed) the call goes through the queue
exactly as before. The worker never blocks its event loop on the gate: when an express write holds it, the
worker flags that it waits and sleeps on its wake-up event, which the express caller sets when it lets go
(the flag is set before the worker tries the gate a second time, so the wake-up cannot be missed).

**Same outcome as the queue.** The express lane takes the same checked operations (the makers the call
site built), turns them into one batch per run with the coalescing rules of ``_batch.py`` (tags: last
write wins), and the store applies them all in one transaction with the worker's own code. Whatever that
one transaction cannot settle goes through the queue instead, so its outcome is the queue's: operations it
does not handle (tag deletions, run updates, arrays, a param given twice with different values), and any
failure: the transaction is rolled back whole, so a permanent error (an unknown or deleted run, a changed
param) is met again by the worker, which splits the batch and fails only the bad operations, and a
transient one (another process holding the write lock for longer than the busy timeout) is retried by the
worker with back-off, bounded for the caller as before (``_outage.py``).

**Exit and fork.** Nothing here runs on its own: no thread, no task. ``close`` (at shutdown, after the
worker has stopped) takes the gate, so a write in progress finishes first, and closes the connection; a
later synchronous call finds the queue closed and raises as before. A forked child gets new pipelines.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from asynctrack._batching._ops import METRIC_FRAME, METRIC_TAG, ParamOp, TagOp, decode
from asynctrack.entities import Param, RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.store import BatchLimits, BatchWrite, ExpressWriter, MetricSeries

if TYPE_CHECKING:
    from asynctrack.pipeline._queue import OpQueue

__all__ = ["Express"]

Maker = Callable[[int, int], bytes]
_unpack_metric = METRIC_FRAME.unpack


class _RunBatch:
    """One run's share of an express call, gathered in call order."""

    __slots__ = ("metrics", "params", "tags")

    def __init__(self) -> None:
        self.metrics: dict[str, tuple[list[float], list[int], list[int]]] = {}
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}


class Express:
    """The express lane of one pipeline: its gate and its store's :class:`ExpressWriter`."""

    def __init__(self, queue: OpQueue, writer: ExpressWriter, limits: BatchLimits) -> None:
        self._queue = queue
        self._writer = writer
        self._limits = limits
        self._gate = threading.Lock()
        self._worker_waiting = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the worker's, once it has had to wait
        self._event: asyncio.Event | None = None
        self._closed = False
        self.written = 0  # calls written through the express lane (for tests and statistics)

    # -- the caller's side
    def write(self, makers: Sequence[Maker]) -> bool:
        """Write the operations ``makers`` encode (checked already) from this thread, if the pipeline is
        idle; True once they are durable, False when the call must go through the queue instead."""
        q = self._queue
        if self._closed or not q.empty():
            return False
        gate = self._gate
        if not gate.acquire(blocking=False):
            return False
        try:
            # Holding the gate: the worker has no chunk in flight. Anything queued now was queued first.
            if self._closed or not q.empty():
                return False
            writes = self._batches(makers)
            if writes is None:
                return False
            try:
                self._writer.write(writes)
            except MlflowException:
                return False  # rolled back whole: the queue gives the call its usual outcome
            self.written += 1
            return True
        finally:
            gate.release()
            if self._worker_waiting:
                self._wake_worker()

    def _wake_worker(self) -> None:
        loop, event = self._loop, self._event
        if loop is not None and event is not None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop is closed: the pipeline is shutting down
                pass

    def _batches(self, makers: Sequence[Maker]) -> list[BatchWrite] | None:
        """One write per run, or None when the call holds something only the queue handles."""
        names = self._queue.names
        runs: dict[str, _RunBatch] = {}
        for make in makers:
            frame = make(0, 0)
            if frame[0] == METRIC_TAG:
                _tag, _pid, _seq, r, k, value, timestamp, step = _unpack_metric(frame)
                run = runs.get(names[r])
                if run is None:
                    run = runs[names[r]] = _RunBatch()
                cols = run.metrics.get(names[k])
                if cols is None:
                    cols = run.metrics[names[k]] = ([], [], [])
                cols[0].append(value)
                cols[1].append(timestamp)
                cols[2].append(step)
                continue
            op = decode(frame)
            if not isinstance(op, ParamOp | TagOp):
                return None  # tag deletions, run updates, arrays, barriers: the queue's
            run = runs.get(op.run_id)
            if run is None:
                run = runs[op.run_id] = _RunBatch()
            if isinstance(op, TagOp):
                run.tags[op.key] = op.value
            elif run.params.setdefault(op.key, op.value) != op.value:
                return None  # the same param twice with different values: the queue fails the second
        limits = self._limits
        writes = []
        for run_id, run in runs.items():
            points = sum(len(c[0]) for c in run.metrics.values())
            if (
                points > limits.max_metrics
                or len(run.params) > limits.max_params
                or len(run.tags) > limits.max_tags
                or points + len(run.params) + len(run.tags) > limits.max_entities
            ):
                return None
            series = [
                MetricSeries(
                    key,
                    np.array(values, np.float64),
                    np.array(stamps, np.int64),
                    np.array(steps, np.int64),
                )
                for key, (values, stamps, steps) in run.metrics.items()
            ]
            params = [Param(k, v) for k, v in run.params.items()]
            tags = [RunTag(k, v) for k, v in run.tags.items()]
            writes.append(BatchWrite(run_id, series, params, tags))
        return writes

    # -- the worker's side
    async def enter_worker(self) -> None:
        """Take the gate before taking a chunk; while an express write holds it, sleep (never blocking
        the event loop) until that caller lets go and wakes us."""
        gate = self._gate
        if gate.acquire(blocking=False):
            return
        if self._event is None:
            self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        event = self._event
        try:
            while True:
                event.clear()
                self._worker_waiting = True
                if gate.acquire(blocking=False):  # after the flag: a release before it is seen here
                    return
                await event.wait()
        finally:
            self._worker_waiting = False

    def leave_worker(self) -> None:
        """Release the gate once the chunk taken is durable or failed."""
        self._gate.release()

    # -- shutdown
    def refuse(self) -> None:
        """Write nothing more (the pipeline is closing: later calls go to the closed queue and raise)."""
        self._closed = True

    def close(self, timeout: float) -> None:
        """Refuse further express writes and close the writer, after a write in progress (bounded by
        ``timeout``; past it the connection is left to the process's end)."""
        self._closed = True
        if self._gate.acquire(timeout=max(0.0, timeout)):
            try:
                self._writer.close()
            finally:
                self._gate.release()
