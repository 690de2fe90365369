"""A pipeline: one store, its queue, and the worker that drains one into the other."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, TypeVarTuple, cast

import anyio

from asynctrack._batching._batch import coalesce
from asynctrack._batching._ops import (
    BarrierOp,
    MetricArrayOp,
    MetricPoints,
    ParamOp,
    TagOp,
    UpdateRunOp,
    decode_chunk,
    encode,
)
from asynctrack._redact import redact
from asynctrack._tracking_uri import StoreLocation
from asynctrack.environment import (
    ASYNCTRACK_JOURNAL,
    ASYNCTRACK_JOURNAL_FSYNC,
    ASYNCTRACK_JOURNAL_FSYNC_MS,
    ASYNCTRACK_LINGER_MS,
    ASYNCTRACK_MAX_LINGER_MS,
    ASYNCTRACK_OFFLINE,
    ASYNCTRACK_QUEUE_FILE,
    ASYNCTRACK_QUEUE_FILE_MB,
    ASYNCTRACK_QUEUE_FULL,
    ASYNCTRACK_QUEUE_SIZE,
)
from asynctrack.journal import Journal, target_directory
from asynctrack.journal._journal import earlier_directories
from asynctrack.journal._offline import OfflineStore
from asynctrack.pipeline._express import Express
from asynctrack.pipeline._loop import BackgroundLoop
from asynctrack.pipeline._operations import RunOperations
from asynctrack.pipeline._queue import OpQueue
from asynctrack.pipeline._recover import RecoveryReport, recover_queue_files
from asynctrack.pipeline._ring import QueueFile
from asynctrack.pipeline._worker import Worker, count_operations
from asynctrack.store import AbstractStore
from asynctrack.store._here import run_here
from asynctrack.store._open import open_store

__all__ = ["Pipeline"]


def _journal_for(location: StoreLocation, offline: bool = False) -> Journal | None:
    """The journal of a networked store's pipeline, a tracking server's or a PostgreSQL database's (None:
    the embedded store, or ASYNCTRACK_JOURNAL=off; offline mode always journals: the journal is all it
    has)."""
    if not location.is_networked or (ASYNCTRACK_JOURNAL.get() == "off" and not offline):
        return None
    return Journal(
        target_directory(location.uri),
        location.uri,
        ASYNCTRACK_JOURNAL_FSYNC.get(),
        ASYNCTRACK_JOURNAL_FSYNC_MS.get(),
        offline,
    )


T = TypeVar("T")
Ts = TypeVarTuple("Ts")
_log = logging.getLogger("asynctrack")


def _new_queue(ring: QueueFile | None = None) -> OpQueue:
    return OpQueue(ASYNCTRACK_QUEUE_SIZE.get(), ASYNCTRACK_QUEUE_FULL.get(), ring)


def queue_directory(location: StoreLocation) -> str:
    """Where the queue files of a store live: beside the embedded store's database (whatever directory
    the process runs in, the next one logging to that file finds them), else with the target's
    journals."""
    if location.db_path:
        return os.path.join(os.path.dirname(location.db_path), ".asynctrack-queues")
    return target_directory(location.uri)


def _queue_file_for(location: StoreLocation, journal: Journal | None) -> QueueFile | None:
    """The pipeline's queue file (ASYNCTRACK_QUEUE_FILE), or None when off or when it cannot be made (a
    read-only or full disk: logged once; the queue is then in memory only, as before)."""
    if not ASYNCTRACK_QUEUE_FILE.get():
        return None
    size = 1 << ((ASYNCTRACK_QUEUE_FILE_MB.get() * 1024 * 1024).bit_length() - 1)  # a power of two
    try:
        return QueueFile(
            queue_directory(location), size, journal.path if journal is not None else "", redact(location.uri)
        )
    except OSError as exc:
        _log.warning(
            "asynctrack: cannot create a queue file for %s (%s); queued operations are kept in memory only "
            "and do not survive a kill of this process",
            redact(location.uri),
            exc,
        )
        return None


class Pipeline:
    """Everything asynctrack runs for one tracking URI in this process."""

    def __init__(
        self,
        location: StoreLocation,
        store: AbstractStore,
        loop: BackgroundLoop,
        queue: OpQueue | None = None,
        linger: float | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.location = location
        self.store = store
        self.loop = loop
        self.queue = queue if queue is not None else _new_queue()
        self.journal = journal
        self.queue.outage.budget = store.synchronous_retries
        self.queue.outage.kept = (
            "this call's operations stay queued in this process, journaled before they are shipped, so "
            "they are sent when the target is back, by this process or, after it exits, the next one or "
            "`asynctrack sync` (docs/journal.md)."
            if journal is not None
            else "this call's operations stay queued in this process (in memory) and are written as soon as "
            "the store recovers, as asynchronous calls are; if the process exits first, its exit report "
            "lists them (docs/pipeline.md)."
        )
        if linger is None:
            linger = ASYNCTRACK_LINGER_MS.get() / 1000.0
        # The express lane writes from callers' threads; never for a journaled (remote) store, whose
        # writes must pass through the journal.
        writer = store.express_writer() if journal is None else None
        if writer is not None:
            self.queue.set_express(Express(self.queue, writer, store.limits))
        max_linger = ASYNCTRACK_MAX_LINGER_MS.get() / 1000.0
        self.worker = Worker(self.queue, store, linger=linger, max_linger=max_linger, journal=journal)
        self.worker.ring_sync = (ASYNCTRACK_JOURNAL_FSYNC.get(), ASYNCTRACK_JOURNAL_FSYNC_MS.get() / 1000.0)
        self.recovered: list[RecoveryReport] = []
        ring = self.queue.ring
        if ring is not None:
            # What dead processes had queued for this store is written before this process's first call
            # returns, so that a reader that opens the store sees it (``_recover.py``).
            here = os.path.dirname(ring.path)
            older = earlier_directories(location.uri, os.path.dirname(here)) if journal is not None else []
            try:
                for directory in (here, *older):
                    self.recovered += loop.call(
                        recover_queue_files, self.worker, directory, redact(location.uri), ring.path
                    )
            except Exception as exc:  # the files stay for the next process or `asynctrack sync`
                _log.warning("asynctrack: recovering earlier processes' queue files failed: %s", exc)
        self.spooled = 0  # operations still queued at shutdown, journaled instead of shipped
        self.journal_kept = False
        self._task = loop.submit(self.worker.run)
        self._task.add_done_callback(self._worker_ended)

    @classmethod
    def open(cls, location: StoreLocation, loop: BackgroundLoop) -> Pipeline:
        # Settings first: a bad value is reported before any connection is opened.
        _new_queue()
        linger = ASYNCTRACK_LINGER_MS.get() / 1000.0
        ASYNCTRACK_MAX_LINGER_MS.get()  # a bad value is reported here too
        if location.is_networked and ASYNCTRACK_OFFLINE.get():
            journal = _journal_for(location, offline=True)
            assert journal is not None
            queue = _new_queue(_queue_file_for(location, journal))
            return cls(location, OfflineStore(journal), loop, queue, linger, journal)
        journal = _journal_for(location)
        store = loop.call(open_store, location)
        queue = _new_queue(_queue_file_for(location, journal))
        return cls(location, store, loop, queue, linger, journal)

    def _worker_ended(self, fut: Any) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            _log.error(
                "asynctrack: the logging worker for %s died", self.location.uri, exc_info=fut.exception()
            )

    # -- store calls from sync code
    def call(self, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T:
        """Run a store coroutine on the background loop and return its result."""
        return self.loop.call(fn, *args)

    def read(self, fn: Callable[[*Ts], Coroutine[Any, Any, T]], *args: *Ts) -> T:
        """:meth:`call` for a read: in the calling thread when the store can (``store/_here.py``: no
        thread hops), else on the background loop."""
        if self.store.reads_in_caller_thread:
            done, result = run_here(fn, *args)
            if done:
                return cast(T, result)
        return self.loop.call(fn, *args)

    # -- flushing
    def barrier(self) -> RunOperations:
        return self.queue.put(lambda pid, seq: encode(BarrierOp(pid, seq)))

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything enqueued before this call is written (or failed)."""
        self.barrier().wait(timeout)

    def sync_own_writes(self) -> None:
        """Wait for this thread's earlier operations, so a read sees what the caller wrote."""
        p = self.queue.producer()
        if p.done < p.issued:
            self.queue.wait_done(p, p.issued, None)

    # -- shutdown
    def shutdown(self, deadline: float, reason: str = "the interpreter is exiting") -> str | None:
        """Flush until ``deadline`` (a ``time.monotonic`` value), then stop the worker and close the
        store; return a report of what could not be written, or None when everything was."""
        try:
            self.barrier().wait(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            pass
        except Exception as exc:  # a closed queue, a failed barrier: reported below
            _log.debug("asynctrack: flush at shutdown failed: %r", exc)
        express = self.queue.express
        if express is not None:
            express.refuse()  # from here on a synchronous call meets the closed queue, as before
        self.queue.close(reason)
        try:
            self.loop.call(self._stop)
        except Exception as exc:
            _log.debug("asynctrack: stopping the pipeline failed: %r", exc)
        if express is not None:
            express.close(max(1.0, deadline - time.monotonic()))
        # After the store is closed, so a write that was in flight is counted as what it became.
        report = self._unwritten_report()
        self._close_ring()
        return report

    def _ring_keeps(self) -> bool:
        # Whether the queue file still holds operations nobody else has: the embedded store did not take
        # them, or the journal could not take the remote store's.
        ring = self.queue.ring
        if ring is None:
            return False
        pending = bool(ring) or ring.acked < ring.taken
        if self.journal is not None:
            return pending and self.journal.broken is not None
        return pending

    def _close_ring(self) -> None:
        ring = self.queue.ring
        if ring is not None:
            try:
                ring.close(unlink=not self._ring_keeps())
            except OSError as exc:
                _log.debug("asynctrack: closing the queue file failed: %r", exc)

    def forget_ring(self) -> None:
        """In a forked child: let go of the parent's queue file (the parent still writes it)."""
        ring = self.queue.ring
        if ring is not None:
            ring.forget()

    async def _stop(self) -> None:
        # A write in flight finishes (SQLite calls are bounded by the busy timeout); then the store's
        # connections and threads are closed, within a bound.
        with anyio.move_on_after(5.0):
            await self.worker.stop()
        if self.journal is not None:
            # What the target did not take in time stays in the journal, for the next process.
            with anyio.move_on_after(5.0):
                await self._spool_queue(self.journal)
                self.journal_kept = await self.journal.close()
        with anyio.move_on_after(2.0):
            await self.store.aclose()

    async def _spool_queue(self, journal: Journal) -> None:
        items = decode_chunk(self.queue.snapshot())
        if items:
            await journal.append(coalesce(items, self.queue.names, self.store.limits), self.queue.names)
            if journal.broken is None:
                self.spooled = count_operations(items)

    def _unwritten_report(self) -> str | None:
        queued_items = decode_chunk(self.queue.snapshot())
        inflight = self.worker.inflight
        items = queued_items + (self.worker.chunk if inflight else [])
        kinds: Counter[str] = Counter()
        runs: set[str] = set()
        names = self.queue.names
        for item in items:
            t = type(item)
            if t is MetricPoints:
                rows = item.rows  # type: ignore[union-attr]
                kinds["metric points"] += len(rows)
                runs.update(names[i] for i in set(rows["run"].tolist()))
                continue
            if t is BarrierOp:
                continue
            runs.add(item.run_id)  # type: ignore[union-attr]
            if t is MetricArrayOp:
                kinds["metric points (arrays)"] += len(item.values) // 8  # type: ignore[union-attr]
            elif t is ParamOp:
                kinds["params"] += 1
            elif t is TagOp:
                kinds["tags"] += 1
            elif t is UpdateRunOp:
                kinds["run updates"] += 1
            else:
                kinds["tag deletions"] += 1
        queued = count_operations(queued_items)
        journal = self.journal
        if journal is not None and journal.offline:
            if not self.journal_kept:
                return None
            return (
                f"asynctrack: offline (ASYNCTRACK_OFFLINE=1): {journal.pending_operations()} logging "
                f"operations and {journal.records} runs/experiments are in the journal {journal.path}; "
                f"upload to {redact(self.location.uri)} with `asynctrack sync`."
            )
        if not queued and not inflight:
            return None
        detail = ", ".join(f"{n} {what}" for what, n in kinds.items())
        where = redact(self.location.uri)
        summary = (
            f"({queued} queued, {inflight} in flight; among them: {detail}; runs: "
            f"{', '.join(sorted(runs)) or '-'}). The store did not take them in time "
            "(ASYNCTRACK_EXIT_TIMEOUT)"
            + (f": it was failing ({self.queue.outage.message}); " if self.queue.outage.streak else "; ")
            + f"{self.worker.written} operations were written by this process."
        )
        ring = self.queue.ring
        if ring is not None and journal is None:
            return (
                f"asynctrack: {queued + inflight} logging operations were not yet written to {where} "
                f"{summary} They are kept in the queue file {ring.path} and will be written by the next "
                "process that opens this store, or now with `asynctrack sync`."
            )
        if journal is not None and self.journal_kept and self.spooled == queued:
            return (
                f"asynctrack: {queued + inflight} logging operations were not yet written to {where} "
                f"{summary} "
                f"They are kept in the journal {journal.path} ({journal.pending_operations()} operations not "
                f"acknowledged by the target) and will be sent by the next process that logs to {where}, or "
                "now with `asynctrack sync`."
            )
        lost = f" The journal could not be written ({journal.broken})." if journal and journal.broken else ""
        return (
            f"asynctrack: {queued + inflight} logging operations were NOT written to {where} {summary}{lost}"
        )
