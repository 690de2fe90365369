"""The pipeline's write-ahead journal for one remote target, in this process.

The worker journals each chunk's batches (one append, synced by the fsync policy) *before* shipping any of
them, ships each with the idempotency key ``<journal id>:<seq>``, and acknowledges it once the target has
it (or has rejected it for good). What this process could not ship (the target down at exit, a kill) stays
in the file and is replayed by the next process that logs to the same target, or by ``asynctrack sync``.

One file per process and target, under ``<journal dir>/<target digest>/``; the file is deleted at a clean
close once every write in it was acknowledged.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Sequence

import anyio.to_thread
import numpy as np

from asynctrack._batching._batch import Batch
from asynctrack._batching._ops import BarrierOp, DeleteTagOp, UpdateRunOp
from asynctrack._redact import redact
from asynctrack.entities import Param, RunTag
from asynctrack.environment import ASYNCTRACK_JOURNAL_DIR
from asynctrack.exceptions import MlflowException
from asynctrack.journal._file import JournalFullError, JournalWriter
from asynctrack.journal._format import BatchRecord, ExperimentRecord, Header, RunRecord, SeriesRecord
from asynctrack.store import AbstractStore, MetricSeries

__all__ = [
    "Journal",
    "batch_record",
    "earlier_directories",
    "journal_root",
    "journaled",
    "record_series",
    "target_directory",
]

_log = logging.getLogger("asynctrack")


def journal_root() -> str:
    """``ASYNCTRACK_JOURNAL_DIR``, else ``./mlruns/.journal`` (absolute, resolved now)."""
    return os.path.abspath(ASYNCTRACK_JOURNAL_DIR.get() or os.path.join("mlruns", ".journal"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def target_directory(target: str, root: str | None = None) -> str:
    """The directory holding the journals (and queue files) of one target: a digest of its URI without
    its password (URIs are not file names). Without the password, because a digest of a short password is
    open to guessing and a changed password must find the journals written before the change."""
    return os.path.join(root or journal_root(), _digest(redact(target)))


def earlier_directories(target: str, root: str | None = None) -> list[str]:
    """Where releases before 2026-12-05 put the journals of a target with a password in its URI (their
    digest included it): still replayed and recovered from, so an upgrade loses nothing."""
    old = os.path.join(root or journal_root(), _digest(target))
    return [old] if old != target_directory(target, root) else []


def batch_record(
    seq: int, run_id: str, metrics: Sequence[MetricSeries], params: Sequence[Param], tags: Sequence[RunTag]
) -> BatchRecord:
    return BatchRecord(
        seq,
        run_id,
        metrics=[
            SeriesRecord(
                s.key,
                np.ascontiguousarray(s.values, "<f8").tobytes(),
                np.ascontiguousarray(s.timestamps, "<i8").tobytes(),
                np.ascontiguousarray(s.steps, "<i8").tobytes(),
            )
            for s in metrics
        ],
        params=[(p.key, p.value) for p in params],
        tags=[(t.key, t.value) for t in tags],
    )


def record_series(rec: BatchRecord) -> list[MetricSeries]:
    return [
        MetricSeries(
            s.key,
            np.frombuffer(s.values, "<f8").astype(np.float64),
            np.frombuffer(s.timestamps, "<i8").astype(np.int64),
            np.frombuffer(s.steps, "<i8").astype(np.int64),
        )
        for s in rec.metrics
    ]


def journaled(batch: Batch) -> bool:
    """Whether :meth:`Journal.append` gives ``batch`` a record (a barrier has nothing to write)."""
    return type(batch.items[0]) is not BarrierOp


def _record(seq: int, batch: Batch, names: Sequence[str]) -> BatchRecord | None:
    if not journaled(batch):
        return None
    first = batch.items[0]
    t = type(first)
    if t is DeleteTagOp:
        return BatchRecord(seq, batch.run_id, op="delete_tag", key=first.key)  # type: ignore[union-attr]
    if t is UpdateRunOp:
        u: UpdateRunOp = first  # type: ignore[assignment]
        return BatchRecord(
            seq, batch.run_id, op="update_run", status=u.status, end_time=u.end_time, run_name=u.run_name
        )
    return batch_record(seq, batch.run_id, batch.metric_series(names), batch.param_list(), batch.tag_list())


class Journal:
    """Appends, acknowledges and spools the writes of one pipeline (one target)."""

    def __init__(
        self, directory: str, target: str, fsync: str, fsync_ms: float, offline: bool = False
    ) -> None:
        self.journal_id = uuid.uuid4().hex
        self.target = target
        self.directory = directory
        now = int(time.time() * 1000)
        self.path = os.path.join(directory, f"{now}-{os.getpid()}-{self.journal_id[:8]}.journal")
        self._writer = JournalWriter(
            self.path, Header(self.journal_id, redact(target), os.getpid(), now, offline), fsync, fsync_ms
        )
        self.offline = offline
        self.records = 0  # runs and experiments recorded (offline)
        self._opened = False
        self._seq = 0
        self.unacked: dict[int, int] = {}  # seq -> operations, for the exit report
        self.broken: str | None = None  # why the journal could not be written, once it could not

    @property
    def last_seq(self) -> int:
        """The sequence number of the last write journaled by this process (0: none yet)."""
        return self._seq

    def key(self, seq: int) -> str:
        return f"{self.journal_id}:{seq}"

    async def append(self, batches: Sequence[Batch], names: Sequence[str]) -> None:
        """Journal ``batches`` (one write); each batch gets its ``seq`` and idempotency ``key``.

        If the journal cannot be written (a full disk, an I/O error), it says so once, loudly, and the
        pipeline goes on shipping without it: the operations still reach the target if it is up, and the
        exit report lists whatever is not written; they are only no longer protected against a crash.
        """
        if self.broken is not None:
            return
        records = []
        for batch in batches:
            rec = _record(self._seq + 1, batch, names)
            if rec is None:
                continue
            self._seq += 1
            records.append((batch, rec))
        if not records:
            return
        try:
            if not self._opened:
                await self._writer.open()
                self._opened = True
            await self._writer.append([rec for _, rec in records])
        except (JournalFullError, OSError) as exc:
            self.broken = str(exc)
            _log.error(
                "asynctrack: the journal for %s cannot be written (%s). Logging goes on without it: "
                "operations are still shipped to the target, but no longer survive a crash or an outage "
                "at exit. Free space in %s (ASYNCTRACK_JOURNAL_DIR) to journal again in the next process.",
                redact(self.target),
                exc,
                self.directory,
            )
            return
        for batch, rec in records:
            batch.seq = rec.seq
            batch.key = self.key(rec.seq)
            self.unacked[rec.seq] = rec.operation_count()

    async def flush_acknowledgements(self) -> None:
        """Write pending acknowledgements now (the worker calls this when it goes idle)."""
        if self._opened and self.broken is None:
            try:
                await self._writer.flush_done()
            except (JournalFullError, OSError) as exc:
                self.broken = str(exc)

    async def replay_others(self, store: AbstractStore) -> None:
        """Replay the journals other processes left for this target (live processes' are locked)."""
        from asynctrack.journal._replay import replay_pending

        if self.offline:
            return  # no target to replay to
        try:
            root = os.path.dirname(self.directory)
            for directory in (self.directory, *earlier_directories(self.target, root)):
                await replay_pending(directory, store, self.target)
        except MlflowException as exc:
            _log.warning(
                "asynctrack: replaying earlier journals for %s failed (%s); they stay in %s for the next "
                "process or `asynctrack sync`",
                redact(self.target),
                exc.message,
                self.directory,
            )

    async def record(self, rec: RunRecord | ExperimentRecord) -> None:
        """Offline: journal a locally created run or experiment now (before any of its data)."""
        if not self._opened:
            await self._writer.open()
            self._opened = True
        await self._writer.append([rec])
        self.records += 1

    def applied(self, seq: int) -> None:
        """The target has write ``seq`` (or rejected it for good: then the pipeline reported the error).
        Offline, nothing reaches a target: writes stay pending for ``asynctrack sync``."""
        if self.offline:
            return
        if self.unacked.pop(seq, None) is not None:
            self._writer.applied(seq)

    def pending_operations(self) -> int:
        return sum(self.unacked.values())

    def _remove(self) -> None:
        os.unlink(self.path)
        with contextlib.suppress(OSError):  # the target's directory, if no other journal is in it
            os.rmdir(self.directory)

    async def close(self) -> bool:
        """Record the last acknowledgements and close; delete the file if nothing in it is pending.
        Returns whether the journal keeps pending writes."""
        if not self._opened:
            return False
        try:
            await self._writer.close()
        except (JournalFullError, OSError) as exc:
            self.broken = self.broken or str(exc)
        if not self.unacked and not self.records and self.broken is None:
            await anyio.to_thread.run_sync(self._remove)
            return False
        return bool(self.unacked or self.records)
