"""Recovery of queue files left by dead processes (``_ring.py``): what they accepted reaches the store once.

Run by a pipeline's worker before it drains its own queue (and by ``asynctrack sync``). A queue file whose
lock can be taken belongs to a process that is gone. Its records after the last acknowledgement are:

- the chunk that was in flight (``inflight``), of which the first ``progress`` batches are known durable;
  the rest are written again with the same idempotency keys the dead worker used (``q<file id>:<chunk
  start>:<batch>``), derived from the same frames, so a batch that did commit is skipped;
- then every frame never taken, in chunks of a fixed size, keyed the same way, and acknowledged in the
  file chunk by chunk, so a recovery that is itself killed resumes where it stopped.

For a journaled (remote) store the frames go into a new journal file instead, which the journal's replay
then ships; a chunk in flight that the dead process had journaled already (its journal holds writes after
the mark in the queue file) is left to that journal. Records refused by their checksum, or written after
the last sync before a reboot, are reported and never replayed.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.to_thread

from asynctrack._batching._batch import Batch, coalesce
from asynctrack._batching._ops import decode_chunk
from asynctrack._redact import redact
from asynctrack.journal._file import read_journal, try_lock
from asynctrack.pipeline._ring import DeadRing, read_ring, remove_ring, ring_files, ring_target
from asynctrack.pipeline._worker import count_operations

if TYPE_CHECKING:
    from asynctrack.pipeline._worker import Worker

__all__ = ["RecoveryReport", "recover_queue_files"]

_log = logging.getLogger("asynctrack")
CHUNK = 8192


@dataclass
class RecoveryReport:
    """What recovering one dead process's queue file did."""

    path: str
    pid: int
    written: int = 0  # operations replayed to the store (or journaled, for a remote store)
    skipped: int = 0  # operations of the chunk in flight already durable (or journaled) before the kill
    failed: int = 0  # operations the store refused for good (as it refused them from the dead process)
    torn: int = 0  # records refused by their checksum or unverifiable after a reboot: not replayed

    def summary(self) -> str:
        torn = (
            f"; {self.torn} damaged record(s) were not replayed (checksum mismatch, or written after the "
            "last sync before a reboot)"
            if self.torn
            else ""
        )
        return (
            f"recovered the queue of process {self.pid} ({os.path.basename(self.path)}): {self.written} "
            f"operations written, {self.skipped} already in the store, {self.failed} refused{torn}"
        )


def _lock(path: str) -> int | None:
    # The file's lock, if its process is gone; None while it lives (or the file vanished).
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    if not try_lock(fd):
        os.close(fd)
        return None
    return fd


def _set(fd: int, offset: int, *values: int) -> None:
    os.pwrite(fd, struct.pack(f"<{len(values)}Q", *values), offset)


def _chunks(dead: DeadRing) -> list[tuple[int, int, int, list[bytes]]]:
    """(start, end, batches already durable, frames) of each chunk to replay, in order."""
    frames = dead.frames
    out: list[tuple[int, int, int, list[bytes]]] = []
    i = 0
    start, end = dead.inflight
    if frames and end > dead.acked and frames[0][0] == start:
        while i < len(frames) and frames[i][1] <= end:
            i += 1
        out.append((start, frames[i - 1][1], dead.progress, [f for _, _, f in frames[:i]]))
    while i < len(frames):
        part = frames[i : i + CHUNK]
        out.append((part[0][0], part[-1][1], 0, [f for _, _, f in part]))
        i += CHUNK
    return out


async def _replay_to_store(worker: Worker, dead: DeadRing, fd: int, report: RecoveryReport) -> None:
    store = worker.store
    worker.names_override = dead.names
    try:
        for start, end, done, frames in _chunks(dead):
            items = decode_chunk(frames)
            batches = coalesce(items, dead.names, store.limits)
            _set(fd, 32, start, end, done)
            for i, batch in enumerate(batches):
                n = count_operations(batch.items)
                if i < done:
                    report.skipped += n
                    continue
                batch.key = f"q{dead.ring_id}:{start}:{i}"
                before = worker.failed
                await worker.apply_recovered(batch)
                failed = worker.failed - before
                report.failed += failed
                report.written += n - failed
                _set(fd, 48, i + 1)
            _set(fd, 24, end)
    finally:
        worker.names_override = None


async def _journaled_after(path: str, mark: int) -> int:
    """How many writes the dead process's journal at ``path`` holds after sequence number ``mark`` (those
    of the chunk it was journaling at the kill: all of them, or the first few when the kill cut the
    journal's write short); 0 when it cannot be read."""
    try:
        state = await anyio.to_thread.run_sync(read_journal, path)
    except (OSError, ValueError):
        return 0
    return max(0, state.last_seq - mark)


async def _replay_to_journal(worker: Worker, dead: DeadRing, report: RecoveryReport) -> None:
    from asynctrack.journal import Journal
    from asynctrack.journal._journal import journaled

    journal = worker.journal
    assert journal is not None
    limits = worker.store.limits
    frames = dead.frames
    batches: list[Batch] = []
    start, end = dead.inflight
    if frames and end > dead.acked and dead.journal_path:
        # The chunk in flight at the kill may be in the dead process's journal: wholly, or (a kill in the
        # middle of the journal's one write, which the kernel may leave short) its first writes only.
        # Its batches come out of coalescing its frames again exactly as they went into that journal, so
        # the ones the journal holds are skipped and the rest journaled here: none twice, none lost.
        done = await _journaled_after(dead.journal_path, dead.journal_mark)
        if done:
            inflight = [f for _, e, f in frames if e <= end]
            frames = frames[len(inflight) :]
            for batch in coalesce(decode_chunk(inflight), dead.names, limits):
                if done and journaled(batch):
                    done -= 1
                    report.skipped += count_operations(batch.items)
                else:
                    batches.append(batch)
    if frames:
        batches.extend(coalesce(decode_chunk([f for _, _, f in frames]), dead.names, limits))
    if not batches:
        return
    spool = Journal(journal.directory, journal.target, "batch", 0.0)
    await spool.append(batches, dead.names)
    await spool.close()
    if spool.broken is not None:
        raise OSError(spool.broken)
    report.written += sum(count_operations(b.items) for b in batches)


async def recover_queue_files(
    worker: Worker, directory: str, target: str, own: str | None = None
) -> list[RecoveryReport]:
    """Replay every dead process's queue file in ``directory`` that belongs to ``target`` (the store's
    redacted URI: several databases may share a directory) through ``worker`` (its store, or its journal
    for a remote store), then delete it. Live processes' files are left alone."""
    reports: list[RecoveryReport] = []
    wanted = (target, redact(target))  # stored redacted (older files: in clear)
    for path in await anyio.to_thread.run_sync(ring_files, directory):
        if path == own:
            continue
        # Other stores' files (dead or alive) are skipped on their header alone: never locked, and never
        # scanned, however many of them a shared directory has collected.
        try:
            theirs: str | None = await anyio.to_thread.run_sync(ring_target, path)
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            theirs = None  # a live process's file being made, or a damaged one: the lock and read decide
        if theirs is not None and theirs not in wanted:
            continue
        fd = await anyio.to_thread.run_sync(_lock, path)
        if fd is None:
            continue
        try:
            try:
                dead = await anyio.to_thread.run_sync(read_ring, path)
            except (OSError, ValueError) as exc:
                _log.warning("asynctrack: cannot read the queue file %s (%s); it is left in place", path, exc)
                continue
            if dead.target not in wanted:
                continue  # another store's (the lock is released below)
            report = RecoveryReport(path, dead.pid, torn=dead.torn)
            if worker.journal is not None:
                await _replay_to_journal(worker, dead, report)
            else:
                await _replay_to_store(worker, dead, fd, report)
            await anyio.to_thread.run_sync(remove_ring, path)
            reports.append(report)
            log = _log.warning if report.torn else _log.info
            log("asynctrack: %s", report.summary())
        finally:
            os.close(fd)
    return reports


async def sync_queue_directory(directory: str, target: str) -> list[RecoveryReport]:
    """``asynctrack sync`` for the queue files in ``directory`` (those of one store, ``target``): replay
    the dead processes' files into the store, or, for a remote store, into a journal file that the
    journal's own sync then ships. Live processes' files are left to them."""
    from asynctrack._tracking_uri import resolve
    from asynctrack.journal import Journal, target_directory
    from asynctrack.pipeline._queue import OpQueue
    from asynctrack.pipeline._worker import Worker
    from asynctrack.store._open import open_store

    location = resolve(target)
    store = await open_store(location)
    try:
        journal = (
            Journal(target_directory(location.uri), location.uri, "batch", 0.0)
            if location.is_networked
            else None
        )
        worker = Worker(OpQueue(1), store, linger=0.0, journal=journal)
        return await recover_queue_files(worker, directory, target)
    finally:
        await store.aclose()


def describe_queue_file(path: str) -> dict[str, object]:
    """What ``asynctrack journal status`` shows of a queue file."""
    fd = _lock(path)
    live = fd is None and os.path.exists(path)
    if fd is not None:
        os.close(fd)
    dead = read_ring(path)
    return {
        "path": path,
        "target": dead.target,
        "pid": dead.pid,
        "live": live,
        "pending_operations": count_operations(decode_chunk([f for _, _, f in dead.frames])),
        "damaged_records": dead.torn,
    }
