"""Writing and reading one journal file.

:class:`JournalWriter` appends frames with aiofiles (the event loop never blocks on the disk) under an
exclusive ``flock``, so a live journal is never replayed by another process; the lock dies with the process,
so a crashed process's journal is free for the next one. :func:`read_journal` scans a file and tells what is
still to ship.

Fsync policies (``ASYNCTRACK_JOURNAL_FSYNC``): ``batch`` syncs after every write before the write is shipped
(survives power loss), ``interval`` at most every ``ASYNCTRACK_JOURNAL_FSYNC_MS`` (a crash of the process
loses nothing, since the data is in the OS page cache; a power loss may lose the last interval), ``never``
leaves it to the OS.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import time
from collections.abc import Sequence

import aiofiles.os
import msgspec

from asynctrack.exceptions import MlflowException
from asynctrack.journal._format import (
    KIND_BATCH,
    KIND_DONE,
    KIND_EXPERIMENT,
    KIND_HEADER,
    KIND_MAPPING,
    KIND_RUN,
    MAGIC,
    BatchRecord,
    DoneRecord,
    ExperimentRecord,
    Header,
    MappingRecord,
    RunRecord,
    TornTail,
    encode_frame,
    iter_frames,
)

__all__ = ["JournalFullError", "JournalState", "JournalWriter", "read_journal", "try_lock"]

_enc = msgspec.msgpack.Encoder()
_dec_header = msgspec.msgpack.Decoder(Header)
_dec_batch = msgspec.msgpack.Decoder(BatchRecord)
_dec_done = msgspec.msgpack.Decoder(DoneRecord)
_dec_run = msgspec.msgpack.Decoder(RunRecord)
_dec_experiment = msgspec.msgpack.Decoder(ExperimentRecord)
_dec_mapping = msgspec.msgpack.Decoder(MappingRecord)
_KINDS = {
    BatchRecord: KIND_BATCH,
    RunRecord: KIND_RUN,
    ExperimentRecord: KIND_EXPERIMENT,
    MappingRecord: KIND_MAPPING,
}


class JournalFullError(MlflowException):
    """The journal's disk is full (or the write failed): the operations named were not journaled."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code="RESOURCE_EXHAUSTED")


def try_lock(fd: int) -> bool:
    """Take the journal's exclusive lock without waiting; False if a live process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_locked(path: str) -> int:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if not try_lock(fd):  # a fresh file: nobody else can hold it
        os.close(fd)
        raise RuntimeError(f"journal {path} is locked by another process")
    return fd


# aiofiles' executor wrappers: each disk call is one hop to a worker thread, the event loop never blocks.
_awrite = aiofiles.os.wrap(_write_all)
_afsync = aiofiles.os.wrap(os.fsync)
_aopen = aiofiles.os.wrap(_open_locked)
_aclose = aiofiles.os.wrap(os.close)


class JournalWriter:
    """Appends records to one journal file; one writer per file, used from one asyncio event loop.

    Each append is one ``write(2)`` in a worker thread. Under the ``interval`` policy the fsync runs in the
    background (the next append does not wait for it; a failed one is reported by the next call), so the
    disk's sync latency is not on the shipping path; ``batch`` waits for it before returning.
    """

    def __init__(self, path: str, header: Header, fsync: str = "interval", fsync_ms: float = 100.0) -> None:
        self.path = path
        self.header = header
        self.fsync = fsync
        self._fsync_s = fsync_ms / 1000.0
        self._fd: int | None = None
        self._last_sync = 0.0
        self._dirty = False
        self._background: asyncio.Future[None] | None = None
        self._pending_applied: list[int] = []
        self._pending_rejected: list[tuple[int, str, str]] = []
        self.size = 0

    async def open(self) -> JournalWriter:
        self._fd = await _aopen(self.path)
        await self._write(MAGIC + encode_frame(KIND_HEADER, _enc.encode(self.header)))
        await self._sync(force=True)
        return self

    async def append(
        self, records: Sequence[BatchRecord | RunRecord | ExperimentRecord | MappingRecord]
    ) -> None:
        """Write ``records`` (and any pending acknowledgements) and sync as the policy says; when this
        returns, the records are in the journal (in the OS page cache at least)."""
        parts = [self._done_frame()]
        for r in records:
            parts.append(encode_frame(_KINDS[type(r)], _enc.encode(r)))
        await self._write(b"".join(parts))
        await self._sync(force=self.fsync == "batch")

    def applied(self, seq: int) -> None:
        """Record that the target has ``seq`` (written with the next append, or at close)."""
        self._pending_applied.append(seq)

    def rejected(self, seq: int, error_code: str, message: str) -> None:
        self._pending_rejected.append((seq, error_code, message))

    async def flush_done(self) -> None:
        frame = self._done_frame()
        if frame:
            await self._write(frame)
            await self._sync()

    async def close(self) -> None:
        if self._fd is None:
            return
        try:
            await self.flush_done()
            await self._sync(force=self.fsync != "never")
        finally:
            fd, self._fd = self._fd, None
            await _aclose(fd)

    def _done_frame(self) -> bytes:
        if not self._pending_applied and not self._pending_rejected:
            return b""
        rec = DoneRecord(self._pending_applied, self._pending_rejected)
        self._pending_applied, self._pending_rejected = [], []
        return encode_frame(KIND_DONE, _enc.encode(rec))

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        assert self._fd is not None, "journal is closed"
        try:
            await _awrite(self._fd, data)
        except OSError as exc:
            raise JournalFullError(
                f"could not write {len(data)} bytes to the journal {self.path}: {exc.strerror or exc} "
                f"(it holds {self.size} bytes of intact records)"
            ) from exc
        self.size += len(data)
        self._dirty = True

    def _check_background(self) -> None:
        bg = self._background
        if bg is not None and bg.done():
            self._background = None
            exc = bg.exception()
            if exc is not None:
                raise JournalFullError(f"could not sync the journal {self.path}: {exc}") from exc

    async def _sync(self, force: bool = False) -> None:
        self._check_background()
        if not self._dirty or self.fsync == "never" or self._fd is None:
            return
        now = time.monotonic()
        if force:
            if self._background is not None:
                await asyncio.wait([self._background])
                self._check_background()
            try:
                await _afsync(self._fd)
            except OSError as exc:
                raise JournalFullError(
                    f"could not sync the journal {self.path}: {exc.strerror or exc}"
                ) from exc
        elif now - self._last_sync < self._fsync_s or self._background is not None:
            return
        else:
            self._background = asyncio.ensure_future(_afsync(self._fd))
        self._last_sync = now
        self._dirty = False


class JournalState(msgspec.Struct):
    """What a journal file holds: its header, the writes not yet acknowledged, and damage if any."""

    path: str
    header: Header | None
    pending: list[BatchRecord]
    applied: int  # writes acknowledged by the target
    rejected: list[tuple[int, str, str]]
    runs: list[RunRecord]
    experiments: list[ExperimentRecord]
    torn: TornTail | None
    intact_bytes: int
    mapping: dict[str, str] = {}  # local id -> the target's id (offline journals being synced)

    def pending_operations(self) -> int:
        return sum(r.operation_count() for r in self.pending)


def read_journal(path: str) -> JournalState:
    """Scan a journal; a bad magic, header or frame ends the intact prefix (reported in ``torn``)."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(MAGIC):
        bad = TornTail(0, "not an asynctrack journal (bad magic)", len(data))
        return JournalState(path, None, [], 0, [], [], [], bad, 0)
    header: Header | None = None
    batches: dict[int, BatchRecord] = {}
    done: set[int] = set()
    rejected: list[tuple[int, str, str]] = []
    runs: list[RunRecord] = []
    experiments: list[ExperimentRecord] = []
    mapping: dict[str, str] = {}
    torn: TornTail | None = None
    end = len(MAGIC)
    for frame in iter_frames(data, len(MAGIC)):
        if isinstance(frame, TornTail):
            torn = frame
            break
        offset, kind, payload = frame
        try:
            if kind == KIND_HEADER:
                header = _dec_header.decode(payload)
            elif kind == KIND_BATCH:
                rec = _dec_batch.decode(payload)
                batches[rec.seq] = rec
            elif kind == KIND_DONE:
                d = _dec_done.decode(payload)
                done.update(d.applied)
                done.update(r[0] for r in d.rejected)
                rejected.extend(d.rejected)
            elif kind == KIND_RUN:
                runs.append(_dec_run.decode(payload))
            elif kind == KIND_EXPERIMENT:
                experiments.append(_dec_experiment.decode(payload))
            elif kind == KIND_MAPPING:
                m = _dec_mapping.decode(payload)
                mapping[m.local_id] = m.target_id
        except msgspec.DecodeError as exc:  # checksum fine, content not ours: stop trusting the file
            torn = TornTail(offset, f"undecodable record: {exc}", len(data) - offset)
            break
        end = offset + (len(payload) + 9)
    pending = [r for seq, r in sorted(batches.items()) if seq not in done]
    applied = len(done) - len(rejected)
    return JournalState(path, header, pending, applied, rejected, runs, experiments, torn, end, mapping)
