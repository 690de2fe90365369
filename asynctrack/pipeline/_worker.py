"""The batching worker: one task on the background loop per pipeline.

It sleeps until woken, lingers a few milliseconds for a batch to fill (unless a caller is waiting; longer
after write cycles that took long, see :func:`next_linger`),
drains a chunk, coalesces it into per-run ``log_batch`` writes, retries transient store errors with
capped back-off, splits a batch that fails permanently until only the bad operations fail, and finally
advances the producers' watermarks. Nothing escapes its loop: an unexpected error (a bug: a chunk that
does not decode, a failure outside the store call) fails the operations of the chunk it hit with
``INTERNAL_ERROR``, is logged once, and the worker carries on. Every accepted operation ends durable or
failed; if the worker itself ever ends for another reason, its queue is closed and waiters get
``PipelineClosed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import anyio
import numpy as np

from asynctrack._batching._batch import Batch, coalesce, rebuild, split_by
from asynctrack._batching._ops import (
    METRIC_FRAME,
    METRIC_TAG,
    BarrierOp,
    DeleteTagOp,
    Item,
    MetricPoints,
    UpdateRunOp,
    decode_chunk,
    frame_origin,
)
from asynctrack.exceptions import INTERNAL_ERROR, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.pipeline._queue import OpQueue
from asynctrack.pipeline._ring_sync import RingSyncer
from asynctrack.store import AbstractStore, BatchWrite
from asynctrack.store._retry import retry_transient

if TYPE_CHECKING:
    from asynctrack.journal import Journal
    from asynctrack.pipeline._express import Express
    from asynctrack.pipeline._ring import QueueFile

__all__ = ["Worker", "count_operations", "next_linger"]

_log = logging.getLogger("asynctrack")
_MAX_DISTINCT_LOGGED = 1000


# How often the pages ahead of the queue file's head are mapped writable when it is never synced.
_PREFAULT_INTERVAL = 0.2
# The least a timed sync or prefault waits after the chunk that asked for it (see _schedule_ring_sync).
_SYNC_DELAY = 0.005

# The largest share of wall time the worker spends in write cycles while callers trickle points in.
_DUTY = 0.003


def next_linger(linger: float, max_linger: float, cycle: float) -> float:
    """The linger before the next cycle, after one that took ``cycle`` seconds of wall time: the configured
    ``linger``, stretched so that writing takes at most 0.3 % of the time, up to ``max_linger``.

    Why: what a cycle costs a training loop is per cycle, not per point. A cycle wakes the loop thread,
    the store's thread and the queue file's sync thread, each with cold caches: about 2–3 ms of CPU on
    the project's VM even for one point, against about 0.3 µs for each further point (docs/benchmarks.md).
    On the embedded store each SQLite statement also releases the GIL and takes it back; a training loop
    running Python code that holds the GIL (Lightning, Transformers, Keras) makes every take-back wait for
    it, so a cycle lasts 5–100 ms and interrupts the loop twenty-odd times. Rarer, larger cycles cut both
    in proportion: against a hundredth of the time, 0.3 % cut the background's CPU in a 1 ms-a-step loop
    by 60 % and the training thread's waits for the GIL by 80 %; a fiftieth to a hundredth had halved a
    Lightning fit's hand-overs. Cycles that run freely (a tenth of a millisecond) keep the configured
    linger. A caller waiting for its points (``wait``, ``flush_async_logging``, a synchronous call) still
    cuts any linger short, and queued points are crash-safe in the queue file meanwhile (the default;
    with the queue in memory, a ``kill -9`` can cost up to ``max_linger`` of points instead of
    ``linger``): what a longer linger delays is when other readers see them.
    """
    if linger <= 0:
        return linger
    return max(linger, min(max_linger, cycle * (1.0 / _DUTY - 1.0)))


def count_operations(items: Sequence[Item]) -> int:
    """How many caller operations ``items`` hold (barriers excluded)."""
    n = 0
    for item in items:
        if type(item) is MetricPoints:
            n += len(item.rows)
        elif type(item) is not BarrierOp:
            n += 1
    return n


class Worker:
    """Drains one :class:`OpQueue` into one store."""

    def __init__(
        self,
        queue: OpQueue,
        store: AbstractStore,
        *,
        linger: float,
        max_linger: float = 0.0,
        chunk_size: int = 8192,
        batch_target: int = 1000,
        journal: Journal | None = None,
    ) -> None:
        self._queue = queue
        self._store = store
        self.journal = journal
        self._linger = linger
        self._max_linger = max_linger
        self.linger = linger  # the next cycle's (next_linger)
        self._chunk_size = chunk_size
        self._target = batch_target
        self._scope: anyio.CancelScope | None = None  # made on the loop, in run()
        self._finished: anyio.Event | None = None
        self.chunk: list[Item] = []  # the chunk being written, for the exit report
        self.inflight = 0  # caller operations taken from the queue and not yet written or failed
        self.written = 0  # caller operations written, for the exit report
        self.failed = 0
        self._logged: set[str] = set()
        self._gate: Express | None = None  # the express lane's gate, while this worker holds it
        # The intern table of the frames being written, when not this process's queue (recovery of a
        # dead process's queue file, ``_recover.py``).
        self.names_override: Sequence[str] | None = None
        # When the queue file's pages are written to disk (the journal's fsync policy and interval: a
        # power loss can cost what was accepted since, docs/journal.md); a kill costs nothing either way.
        self.ring_sync: tuple[str, float] = ("never", 0.0)
        self._syncer: RingSyncer | None = None  # the queue file's timed sync, made on the first chunk

    async def run(self) -> None:
        """Drain the queue until :meth:`stop`; this task is owned by its Pipeline."""
        q = self._queue
        self._scope = scope = anyio.CancelScope()
        self._finished = finished = anyio.Event()
        q.attach(asyncio.get_running_loop())
        journal = self.journal
        try:
            with scope:
                if journal is not None:
                    # What earlier processes could not ship to this target goes first.
                    await journal.replay_others(self._store)
                while True:
                    if journal is not None and q.empty():
                        await journal.flush_acknowledgements()  # idle: record what the target has
                    await q.wait_for_work(self.linger, self._target)
                    began = time.monotonic()
                    await self._drain_once()
                    self.linger = next_linger(self._linger, self._max_linger, time.monotonic() - began)
        finally:
            q.mark_stopped("the logging worker stopped")
            try:
                await self._close_syncer()
            finally:
                finished.set()

    async def _drain_once(self) -> None:
        """Take one chunk and write it."""
        q = self._queue
        express = q.express
        if express is not None:
            # The express lane's gate: held from taking a chunk until it is durable or failed, so no
            # synchronous call is written from its caller's thread meanwhile; released as the chunk
            # completes, before its waiting callers are woken, so their next synchronous call finds the
            # lane free.
            await express.enter_worker()
            self._gate = express
        try:
            ring = q.ring
            start = ring.taken if ring is not None else 0
            frames = q.take(self._chunk_size)
            if frames:
                end = ring.taken if ring is not None else 0
                per_chunk = self.ring_sync[0] == "batch"
                if ring is not None and per_chunk:
                    await anyio.to_thread.run_sync(ring.sync)  # on disk before the chunk is written
                try:
                    await self._process(frames, start, end)
                except Exception as exc:  # a bug; a store's errors are handled in _apply
                    self._fail_chunk(frames, exc)
                    if ring is not None:
                        ring.ack(end)  # failed for good: never replayed
                finally:
                    if ring is not None and not per_chunk:
                        self._schedule_ring_sync(ring)
        finally:
            self._leave_gate()

    @property
    def store(self) -> AbstractStore:
        return self._store

    async def apply_recovered(self, batch: Batch) -> None:
        """Write one batch replayed from a dead process's queue file (``_recover.py``): as :meth:`_apply`
        does, except that deleting a tag already deleted (the dead process did it before its kill) is
        not an error."""
        first = batch.items[0] if batch.items else None
        if type(first) is DeleteTagOp:
            try:
                await retry_transient(
                    lambda: self._store.delete_tag(batch.run_id, first.key),
                    what=f"deleting a tag of run {batch.run_id}",
                )
            except MlflowException as exc:
                if exc.error_code != RESOURCE_DOES_NOT_EXIST:
                    self._fail(first, batch.run_id, exc)
                    self.inflight = 0
            return
        await self._apply(batch)
        self.inflight = 0  # recovery's operations are not this process's in-flight ones

    def _schedule_ring_sync(self, ring: QueueFile) -> None:
        """Ask for the queue file's pages to be written to disk under the ``interval`` fsync policy
        (``batch`` syncs before each chunk, in :meth:`_drain_once`): at most once an interval, by the
        worker's :class:`RingSyncer` thread, at least ``_SYNC_DELAY`` after the chunk that asks, so that a
        caller waiting for its chunk never waits for the disk as well, nor for that thread (asked before
        the write, the sync's hop competed for the GIL with the write's own hop into the store's thread and
        with the woken caller: a wait at an epoch's end took 2.3-2.6 ms against 1.6-1.9 ms, on an
        earlier VM). With ``never``, that thread only maps the pages ahead writable
        (``QueueFile.prefault``; a sync does it too)."""
        syncer = self._syncer
        if syncer is None:  # a queue's ring is set when the queue is made: one syncer serves the worker
            policy, interval = self.ring_sync
            if policy == "never":
                action, interval = ring.prefault, interval or _PREFAULT_INTERVAL
            else:
                action = ring.sync
            syncer = self._syncer = RingSyncer(action, interval, _SYNC_DELAY, ring.path)
        syncer.request()

    async def _close_syncer(self) -> None:
        """Stop the sync thread (a sync in progress ends first, within a bound) before the pipeline
        closes the queue file."""
        syncer, self._syncer = self._syncer, None
        if syncer is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(syncer.close, 5.0)

    def _leave_gate(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.leave_worker()

    async def stop(self) -> None:
        """Cancel the drain loop (between store calls) and wait until it has exited."""
        if self._scope is None or self._finished is None:
            return  # never started
        self._scope.cancel()
        await self._finished.wait()

    async def _process(self, frames: list[bytes], start: int = 0, end: int = 0) -> None:
        items = decode_chunk(frames)  # fails only for a bug (our own encoders made the frames): _fail_chunk
        self.chunk = items
        self.inflight = count_operations(items)
        batches = coalesce(items, self._queue.names, self._store.limits)
        journal = self.journal
        ring = self._queue.ring
        if ring is not None:
            # The queue file records the chunk in flight, so that recovery after a kill knows which of
            # its frames may be in the store already (docs/journal.md, "The queue file").
            ring.begin(start, end, journal.last_seq if journal is not None else 0)
            if journal is None:
                # Embedded store: each batch carries an idempotency key derived from the chunk, which
                # recovery derives again from the same frames, so a batch is applied once.
                for i, batch in enumerate(batches):
                    batch.key = f"q{ring.id}:{start}:{i}"
        if journal is not None:
            # The whole chunk is in the journal before any of it is shipped.
            await journal.append(batches, self._queue.names)
            if ring is not None and journal.broken is None:
                ring.ack(end)  # the journal has it now (a journal that failed: acknowledged below)
        completed = False

        def complete() -> None:
            # Advances the watermarks once every batch of the chunk is durable or failed. The last
            # batch's store calls it right after its commit (from the store's thread), which wakes a
            # waiting caller one thread hop sooner than returning through the event loop would.
            nonlocal completed
            if not completed:
                completed = True
                if ring is not None and ring.acked < end:
                    ring.ack(end)
                self._leave_gate()
                self._complete(items)

        width = self._store.concurrent_writes
        if width > 1 and len({b.run_id for b in batches}) > 1:
            await self._apply_concurrently(batches, width)
        else:
            last = len(batches) - 1
            for i, batch in enumerate(batches):
                await self._apply(batch, complete if i == last else None)
                if batch.seq is not None and journal is not None:
                    journal.applied(batch.seq)
                elif ring is not None and i < last:
                    ring.progress(i + 1)
        # Reached only when every batch was written or failed; a cancelled chunk stays in flight and is
        # reported as not written.
        complete()

    async def _apply_concurrently(self, batches: Sequence[Batch], width: int) -> None:
        """Write different runs' batches concurrently (at most ``width`` at a time), each run's in order.

        For stores where a write is a network round trip (REST): one slow run no longer holds up the
        others, and the round trips overlap.
        """
        by_run: dict[str, list[Batch]] = {}
        for batch in batches:
            by_run.setdefault(batch.run_id, []).append(batch)
        limiter = anyio.CapacityLimiter(width)

        journal = self.journal

        async def one_run(run_batches: list[Batch]) -> None:
            async with limiter:
                for batch in run_batches:
                    await self._apply(batch)
                    if batch.seq is not None and journal is not None:
                        journal.applied(batch.seq)

        async with anyio.create_task_group() as tg:
            for run_batches in by_run.values():
                tg.start_soon(one_run, run_batches)

    async def _apply(self, batch: Batch, then: Callable[[], None] | None = None) -> None:
        """Write ``batch`` (retrying transient errors); on a permanent error, split it."""
        if not batch.items or type(batch.items[0]) is BarrierOp:
            return
        n = count_operations(batch.items)
        counted = False

        def durable() -> None:
            # Runs right after the commit, possibly in the store's thread; counting here (not after
            # the await) keeps the exit report right even if shutdown cancels us mid-write. Once only:
            # _write calls it again after a store that may already have.
            nonlocal counted
            if counted:
                return
            counted = True
            self.written += n
            self.inflight -= n
            if then is not None:
                then()

        try:
            await retry_transient(
                lambda: self._write(batch, durable),
                what=f"logging to run {batch.run_id}",
                observe=self._queue.outage.observe,  # no budget: accepted operations are never dropped
            )
        except MlflowException as exc:
            await self._split(batch, exc)
        except Exception as exc:
            _log.exception("asynctrack: unexpected error writing a batch for run %s", batch.run_id)
            await self._split(batch, MlflowException(f"{type(exc).__name__}: {exc}", INTERNAL_ERROR))

    async def _write(self, batch: Batch, durable: Callable[[], None]) -> None:
        first = batch.items[0]
        t = type(first)
        if t is DeleteTagOp or t is UpdateRunOp:
            # Rare operations without a commit callback: shielded, so a shutdown cannot leave us
            # unsure whether they landed (SQLite calls are bounded by the busy timeout). Not when
            # journaled: the journal has them, and a remote store's retries could outlast the exit.
            with anyio.CancelScope(shield=self.journal is None):
                if t is DeleteTagOp:
                    await self._store.delete_tag(batch.run_id, first.key)  # type: ignore[union-attr]
                else:
                    u: UpdateRunOp = first  # type: ignore[assignment]
                    await self._store.update_run_info(batch.run_id, u.status, u.end_time, u.run_name)
            durable()
            return
        if batch.key is None:
            await self._store.log_batch(
                batch.run_id,
                batch.metric_series(self.names_override or self._queue.names),
                batch.param_list(),
                batch.tag_list(),
                durable,
            )
            return
        # Journaled: sent with its idempotency key, so a retry or a later replay applies it once.
        write = BatchWrite(
            batch.run_id,
            batch.metric_series(self.names_override or self._queue.names),
            batch.param_list(),
            batch.tag_list(),
            batch.key,
        )
        # ``durable`` goes to the store too: one write's callback runs only if it was written (the
        # protocol's rule), in SQLite's case from its thread right after the commit, as above.
        (outcome,) = await self._store.log_batches([write], durable)
        if outcome is not None:
            raise outcome
        durable()  # a store that did not call it

    async def _split(self, batch: Batch, exc: MlflowException) -> None:
        items = batch.items
        if len(items) == 1:
            self._fail(items[0], batch.run_id, exc)
            return
        # Halve until the failing items are alone; the good ones around them are written.
        mid = len(items) // 2
        for i, half in enumerate((items[:mid], items[mid:])):
            part = rebuild(batch.run_id, half)
            if batch.key is not None:
                part.key = f"{batch.key}/{i}"
            await self._apply(part)

    def _fail(self, item: Item, run_id: str, exc: MlflowException) -> None:
        producer_by_id = self._queue.producer_by_id
        if type(item) is MetricPoints:
            # Every point of this run in the block fails for the same reason (its values were checked
            # at the call site; what remains is the run itself).
            rows = item.rows
            for pid, idx in split_by(rows["producer"]):
                p = producer_by_id(pid)
                if p is None:
                    continue
                seqs = rows["seq"][idx]
                breaks = np.flatnonzero(np.diff(seqs) != 1) + 1
                for part in np.split(seqs, breaks):
                    p.fail(int(part[0]), int(part[-1]), exc)
            n = len(rows)
        else:
            p = producer_by_id(item.producer)  # type: ignore[union-attr]
            if p is not None:
                p.fail(item.seq, item.seq, exc)  # type: ignore[union-attr]
            n = 1
        self.failed += n
        self.inflight -= n
        if exc.message not in self._logged and len(self._logged) < _MAX_DISTINCT_LOGGED:
            self._logged.add(exc.message)
            _log.warning(
                "asynctrack: %d logging operation(s) for run %s failed: %s (%s)",
                n,
                run_id,
                exc.message,
                exc.error_code,
            )

    def _fail_chunk(self, frames: list[bytes], error: Exception) -> None:
        """Fail every operation of ``frames`` not yet complete with ``INTERNAL_ERROR`` and log it once.

        A producer's operations in a chunk are consecutive sequence numbers after its watermark (the
        worker completes chunks in order), so failing ``(done, last seen]`` covers each one, including
        frames whose own header cannot be read, and may over-report batches of the chunk that were
        written before the error: never a failure reported as a success.
        """
        exc = MlflowException(
            f"asynctrack could not process {len(frames)} queued logging operations "
            f"({type(error).__name__}: {error}); this is a bug, please report it",
            INTERNAL_ERROR,
        )
        last: dict[int, int] = {}
        unknown = 0
        width = METRIC_FRAME.size
        for joined in frames:
            # A run of metric frames taken from a queue file comes joined (``_ring.py``): split it.
            if len(joined) > width and joined[0] == METRIC_TAG and len(joined) % width == 0:
                parts = [joined[i : i + width] for i in range(0, len(joined), width)]
            else:
                parts = [joined]
            for frame in parts:
                origin = frame_origin(frame)
                if origin is None:
                    unknown += 1
                elif origin[1] > last.get(origin[0], 0):
                    last[origin[0]] = origin[1]
        failed = 0
        for pid, seq in last.items():
            p = self._queue.producer_by_id(pid)
            if p is not None and seq > p.done:
                p.fail(p.done + 1, seq, exc)
                failed += seq - p.done
                p.done = seq
        self.failed += failed
        self.inflight = 0
        self.chunk = []
        key = f"{type(error).__name__}: {error}"
        if key not in self._logged and len(self._logged) < _MAX_DISTINCT_LOGGED:
            self._logged.add(key)
            _log.error(
                "asynctrack: could not process a chunk of %d queued operations; %d operation(s) failed "
                "with INTERNAL_ERROR%s",
                len(frames),
                failed,
                f" ({unknown} could not be attributed to a caller)" if unknown else "",
                exc_info=error,
            )
        self._queue.notify()

    def _complete(self, items: Sequence[Item]) -> None:
        last: dict[int, int] = {}
        for item in items:
            if type(item) is MetricPoints:
                rows = item.rows
                for pid, idx in split_by(rows["producer"]):
                    seq = int(rows["seq"][idx[-1]])
                    if seq > last.get(pid, 0):
                        last[pid] = seq
            else:
                last[item.producer] = item.seq  # type: ignore[union-attr]
        producer_by_id = self._queue.producer_by_id
        for pid, seq in last.items():
            p = producer_by_id(pid)
            if p is not None and seq > p.done:
                p.done = seq
        self._queue.notify()
