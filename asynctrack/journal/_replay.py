"""Finding pending journals and replaying them into their target.

A journal is *pending* while it holds writes that were neither acknowledged nor rejected. Replay takes the
file's lock (so two processes never replay one journal, and a live writer's journal is left alone), keeps
a damaged tail aside (``<journal>.torn-<offset>``, reported with its offset) and truncates the file to its
intact prefix, ships every pending write in order with its original idempotency key, splitting a write the
target rejects until only the bad operations are rejected, appends the outcomes, and deletes the journal
once nothing is left.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import msgspec

from asynctrack._redact import redact
from asynctrack.entities import Param, RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.journal._file import JournalState, read_journal, try_lock
from asynctrack.journal._format import (
    KIND_DONE,
    KIND_MAPPING,
    BatchRecord,
    DoneRecord,
    MappingRecord,
    SeriesRecord,
    TornTail,
    encode_frame,
)
from asynctrack.journal._journal import record_series
from asynctrack.store import AbstractStore, BatchWrite, StoreUnavailable
from asynctrack.store._retry import retry_transient

__all__ = ["ReplayReport", "journal_files", "replay_journal", "replay_pending"]

_log = logging.getLogger("asynctrack")
_enc = msgspec.msgpack.Encoder()


@dataclass
class ReplayReport:
    path: str
    shipped_writes: int = 0
    shipped_operations: int = 0
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # (what, error_code, message)
    torn: TornTail | None = None
    torn_copy: str | None = None
    skipped: str | None = None  # why the journal was not replayed (locked, other target, ...)
    deleted: bool = False
    created_runs: list[str] = field(default_factory=list)  # offline journals: runs created at the target

    def summary(self) -> str:
        if self.skipped:
            return f"{self.path}: skipped ({self.skipped})"
        parts = [
            f"{self.path}: replayed {self.shipped_operations} operations in {self.shipped_writes} writes"
        ]
        if self.rejected:
            parts.append(f"{len(self.rejected)} rejected by the target (first: {self.rejected[0][2]})")
        if self.torn is not None:
            parts.append(
                f"damaged tail of {self.torn.lost_bytes} bytes at offset {self.torn.offset} "
                f"({self.torn.reason}) not replayed; kept in {self.torn_copy}"
            )
        return "; ".join(parts)


def journal_files(directory: str) -> list[str]:
    """Journal files in ``directory``, oldest first (names start with their creation time)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in sorted(names) if n.endswith(".journal")]


def _halves(rec: BatchRecord) -> tuple[BatchRecord, BatchRecord] | None:
    """Split a log_batch record into two non-empty parts, or None if it holds a single operation."""
    if rec.op != "log_batch" or rec.operation_count() < 2:
        return None
    # Operations in a fixed order (params, tags, then points key by key); the halves split that list.
    points = [(s, i) for s in rec.metrics for i in range(0, len(s.values), 8)]
    n_params, n_tags = len(rec.params), len(rec.tags)
    total = n_params + n_tags + len(points)
    mid = total // 2

    def build(lo: int, hi: int) -> BatchRecord:
        params = rec.params[max(0, lo) : max(0, min(hi, n_params))]
        tags = rec.tags[max(0, lo - n_params) : max(0, min(hi - n_params, n_tags))]
        cols: dict[str, list[bytes]] = {}
        for s, i in points[max(0, lo - n_params - n_tags) : max(0, hi - n_params - n_tags)]:
            c = cols.setdefault(s.key, [b"", b"", b""])
            c[0] += s.values[i : i + 8]
            c[1] += s.timestamps[i : i + 8]
            c[2] += s.steps[i : i + 8]
        series = [SeriesRecord(k, c[0], c[1], c[2]) for k, c in cols.items()]
        return BatchRecord(rec.seq, rec.run_id, metrics=series, params=params, tags=tags)

    return build(0, mid), build(mid, total)


async def _send(store: AbstractStore, rec: BatchRecord, key: str) -> None:
    if rec.op == "delete_tag":
        assert rec.key is not None
        await store.delete_tag(rec.run_id, rec.key)
    elif rec.op == "update_run":
        await store.update_run_info(rec.run_id, rec.status, rec.end_time, rec.run_name)
    else:
        write = BatchWrite(
            rec.run_id,
            record_series(rec),
            [Param(k, v) for k, v in rec.params],
            [RunTag(k, v) for k, v in rec.tags],
            key,
        )
        (outcome,) = await store.log_batches([write])
        if outcome is not None:
            raise outcome


async def _ship(
    store: AbstractStore,
    rec: BatchRecord,
    key: str,
    report: ReplayReport,
    map_run: Callable[[str], str],
    persistent: bool,
) -> None:
    target = msgspec.structs.replace(rec, run_id=map_run(rec.run_id))
    try:
        if persistent:
            await retry_transient(lambda: _send(store, target, key), what=f"replaying {report.path}")
        else:  # the store's own retries only: an unreachable target ends the replay (journal kept)
            await _send(store, target, key)
    except StoreUnavailable:
        raise  # transient: the journal keeps the write for a later replay
    except MlflowException as exc:
        parts = _halves(rec)
        if parts is None:
            report.rejected.append(
                (f"write {rec.seq} ({rec.op}) for run {rec.run_id}", exc.error_code, exc.message)
            )
            return
        for i, part in enumerate(parts):
            await _ship(store, part, f"{key}/r{i}", report, map_run, persistent)
        return
    report.shipped_writes += 1
    report.shipped_operations += rec.operation_count()


def _open_for_replay(path: str, target: str | None, report: ReplayReport) -> tuple[int, JournalState] | None:
    """Lock the journal, read it, set a damaged tail aside and truncate to the intact prefix. Blocking: run
    in a worker thread. None (with ``report.skipped`` set) when it is not ours to replay."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        report.skipped = "gone (replayed by another process)"
        return None
    ok = False
    try:
        if not try_lock(fd):
            report.skipped = "in use by a live process"
            return None
        state = read_journal(path)
        if state.header is None:
            report.skipped = state.torn.reason if state.torn else "no header"
            return None
        # Journals store their target redacted (older ones in clear): either form matches.
        if target is not None and state.header.target not in (target, redact(target)):
            report.skipped = f"written for {redact(state.header.target)}"
            return None
        if state.torn is not None:
            report.torn = state.torn
            report.torn_copy = f"{path}.torn-{state.torn.offset}"
            with open(path, "rb") as src, open(report.torn_copy, "wb") as dst:
                src.seek(state.torn.offset)
                dst.write(src.read())
            os.ftruncate(fd, state.intact_bytes)
            _log.warning(
                "asynctrack: journal %s has a damaged tail at offset %d (%s, %d bytes); the intact prefix is "
                "replayed, the tail is kept in %s",
                path,
                state.torn.offset,
                state.torn.reason,
                state.torn.lost_bytes,
                report.torn_copy,
            )
        ok = True
        return fd, state
    finally:
        if not ok:
            os.close(fd)


def _append_done(fd: int, seq: int) -> None:
    os.lseek(fd, 0, os.SEEK_END)
    os.write(fd, encode_frame(KIND_DONE, _enc.encode(DoneRecord(applied=[seq]))))


def _append_mapping(fd: int, local_id: str, target_id: str) -> None:
    os.lseek(fd, 0, os.SEEK_END)
    os.write(fd, encode_frame(KIND_MAPPING, _enc.encode(MappingRecord(local_id, target_id))))
    os.fsync(fd)  # before any data is sent under the new id: a second sync must not create it again


async def _create_offline_entities(
    store: AbstractStore, state: JournalState, fd: int, report: ReplayReport
) -> dict[str, str]:
    """Find or create the journal's experiments (by name) and create its runs at the target; return the
    local id -> target id mapping (ids mapped by an earlier, interrupted sync are reused)."""
    mapping = dict(state.mapping)
    for exp in state.experiments:
        if exp.local_id in mapping:
            continue
        found = await store.get_experiment_by_name(exp.name)
        target_id = found.experiment_id if found is not None else await store.create_experiment(exp.name)
        await anyio.to_thread.run_sync(_append_mapping, fd, exp.local_id, target_id)
        mapping[exp.local_id] = target_id
    for run in state.runs:
        if run.local_id in mapping:
            continue
        experiment_id = mapping.get(run.experiment_id, run.experiment_id)
        # Tag values naming a local run (mlflow.parentRunId) get the target's id; parents come first.
        tags = [RunTag(k, mapping.get(v, v)) for k, v in run.tags]
        created = await store.create_run(experiment_id, run.user_id, run.start_time, tags, run.run_name)
        await anyio.to_thread.run_sync(_append_mapping, fd, run.local_id, created.info.run_id)
        mapping[run.local_id] = created.info.run_id
        report.created_runs.append(created.info.run_id)
    return mapping


def _finish(fd: int, path: str, delete: bool) -> None:
    try:
        os.fsync(fd)
        if delete:
            os.unlink(path)
    finally:
        os.close(fd)


async def replay_journal(
    path: str,
    store: AbstractStore,
    target: str | None = None,
    map_run: Callable[[str], str] = lambda r: r,
    persistent: bool = False,
) -> ReplayReport:
    """Replay one journal into ``store``. ``target``: only if the journal was written for that URI.

    A transient failure that outlasts the store's retries propagates (``StoreUnavailable``) and the journal
    keeps what was not shipped; ``persistent`` retries such failures with back-off until cancelled."""
    report = ReplayReport(path)
    opened = await anyio.to_thread.run_sync(_open_for_replay, path, target, report)
    if opened is None:
        return report
    fd, state = opened
    assert state.header is not None
    jid = state.header.journal_id
    finished = False
    try:
        if state.header.offline:
            mapping = await _create_offline_entities(store, state, fd, report)
            map_run = lambda run_id: mapping.get(run_id, run_id)  # noqa: E731
        for rec in state.pending:
            await _ship(store, rec, f"{jid}:{rec.seq}", report, map_run, persistent)
            await anyio.to_thread.run_sync(_append_done, fd, rec.seq)
        finished = True
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_finish, fd, path, finished)
    report.deleted = True
    return report


async def replay_pending(directory: str, store: AbstractStore, target: str) -> list[ReplayReport]:
    """Replay every unlocked journal in ``directory`` written for ``target``, oldest first."""
    reports = []
    for path in await anyio.to_thread.run_sync(journal_files, directory):  # a directory listing: off the loop
        with contextlib.suppress(FileNotFoundError):
            rep = await replay_journal(path, store, target)
            if rep.skipped is None:
                reports.append(rep)
                _log.warning("asynctrack: %s", rep.summary())
    return reports
