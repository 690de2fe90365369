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

import errno
import fcntl
import os
import time
from collections.abc import Sequence

import aiofiles
import aiofiles.os
import msgspec
from aiofiles.threadpool.binary import AsyncBufferedIOBase

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


class JournalWriter:
    """Appends records to one journal file; one writer per file, used from one event loop."""

    def __init__(self, path: str, header: Header, fsync: str = "interval", fsync_ms: float = 100.0) -> None:
        self.path = path
        self.header = header
        self.fsync = fsync
        self._fsync_s = fsync_ms / 1000.0
        self._file: AsyncBufferedIOBase | None = None
        self._last_sync = 0.0
        self._dirty = False
        self._pending_applied: list[int] = []
        self._pending_rejected: list[tuple[int, str, str]] = []
        self.seq = 0
        self.size = 0

    async def open(self) -> JournalWriter:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        f = await aiofiles.open(self.path, "ab")
        if not try_lock(f.fileno()):  # a fresh file: nobody else can hold it
            await f.close()
            raise RuntimeError(f"journal {self.path} is locked by another process")
        self._file = f
        await self._write(MAGIC + encode_frame(KIND_HEADER, _enc.encode(self.header)))
        await self._sync(force=True)
        return self

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def append(
        self, records: Sequence[BatchRecord | RunRecord | ExperimentRecord | MappingRecord]
    ) -> None:
        """Write ``records`` (and any pending acknowledgements) and sync as the policy says; when this
        returns, the records are in the journal."""
        parts = [self._done_frame()]
        for r in records:
            kind = (
                KIND_BATCH
                if type(r) is BatchRecord
                else KIND_RUN
                if type(r) is RunRecord
                else KIND_EXPERIMENT
            )
            parts.append(encode_frame(kind, _enc.encode(r)))
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
        if self._file is None:
            return
        try:
            await self.flush_done()
            await self._sync(force=self.fsync != "never")
        finally:
            f, self._file = self._file, None
            await f.close()

    def _done_frame(self) -> bytes:
        if not self._pending_applied and not self._pending_rejected:
            return b""
        rec = DoneRecord(self._pending_applied, self._pending_rejected)
        self._pending_applied, self._pending_rejected = [], []
        return encode_frame(KIND_DONE, _enc.encode(rec))

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        assert self._file is not None, "journal is closed"
        try:
            await self._file.write(data)
            await self._file.flush()
        except OSError as exc:
            raise JournalFullError(
                f"could not write {len(data)} bytes to the journal {self.path}: {exc.strerror or exc} "
                f"(it holds {self.size} bytes of intact records)"
            ) from exc
        self.size += len(data)
        self._dirty = True

    async def _sync(self, force: bool = False) -> None:
        if not self._dirty or self.fsync == "never" or self._file is None:
            return
        now = time.monotonic()
        if not force and now - self._last_sync < self._fsync_s:
            return
        try:
            await aiofiles.os.wrap(os.fsync)(self._file.fileno())
        except OSError as exc:
            raise JournalFullError(f"could not sync the journal {self.path}: {exc.strerror or exc}") from exc
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
