"""Writing and reading one journal file.

:class:`JournalWriter` appends frames in worker threads (the event loop never blocks on the disk) under an
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
import contextlib
import errno
import fcntl
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar, TypeVarTuple

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

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
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


class _Descriptor:
    """A file descriptor that no system call can reach once it is closed.

    The writer's calls run in worker threads, and a background fsync may still be queued or running when
    the journal is closed. Closing a descriptor under such a call would make it fail with EBADF (seen: a
    client exiting while its server was down printed "Task exception was never retrieved ... fsync() ...
    Bad file descriptor"), or worse, reach whatever file reuses the number. So calls register while they
    use the number, ``close()`` hides it from new calls at once, and the last call in progress closes it.
    ``close()`` never waits for the disk.
    """

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._users = 0
        self._closing = False
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def use(self) -> Iterator[int | None]:
        """The descriptor for one call, or None once closing."""
        with self._lock:
            fd = None if self._closing else self._fd
            if fd is not None:
                self._users += 1
        try:
            yield fd
        finally:
            if fd is not None:
                with self._lock:
                    self._users -= 1
                    last = self._closing and self._users == 0
                if last:
                    self._really_close()

    def write_all(self, data: bytes) -> None:
        with self.use() as fd:
            if fd is None:
                raise OSError(errno.EBADF, "the journal file is closed")
            _write_all(fd, data)

    def fsync(self) -> None:
        with self.use() as fd:
            if fd is not None:  # closed meanwhile: its last sync was the close's own (or it was abandoned)
                os.fsync(fd)

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            now = self._users == 0
        if now:
            self._really_close()

    def _really_close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _open_locked(path: str) -> _Descriptor:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if not try_lock(fd):  # a fresh file: nobody else can hold it
        os.close(fd)
        raise RuntimeError(f"journal {path} is locked by another process")
    return _Descriptor(fd)


async def _in_thread(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """One disk call in a worker thread of the loop's default pool: the event loop never blocks."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))


class JournalWriter:
    """Appends records to one journal file; one writer per file, used from one asyncio event loop.

    Each append is one ``write(2)`` in a worker thread. Under the ``interval`` policy the fsync runs in the
    background (the next append does not wait for it; a failed one is reported by the next call), so the
    disk's sync latency is not on the shipping path; ``batch`` waits for it before returning. The
    background fsync never outlives the file: ``close`` waits for it, and even a close cut short (an error,
    a cancellation) leaves the descriptor to the call still using it (:class:`_Descriptor`).
    """

    def __init__(self, path: str, header: Header, fsync: str = "interval", fsync_ms: float = 100.0) -> None:
        self.path = path
        self.header = header
        self.fsync = fsync
        self._fsync_s = fsync_ms / 1000.0
        self._fd: _Descriptor | None = None
        self._last_sync = 0.0
        self._dirty = False
        self._background: asyncio.Future[None] | None = None
        self._background_error: BaseException | None = None
        self._pending_applied: list[int] = []
        self._pending_rejected: list[tuple[int, str, str]] = []
        self.size = 0

    async def open(self) -> JournalWriter:
        self._fd = await _in_thread(_open_locked, self.path)
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
        """Write the last acknowledgements, sync (waiting for a background sync first), close the file."""
        if self._fd is None:
            return
        try:
            await self.flush_done()
            await self._sync(force=self.fsync != "never")
        finally:
            fd, self._fd = self._fd, None
            # Not awaited, so nothing can cut it short; a background fsync still running (a close cut short
            # by an error or a cancellation) keeps the descriptor until it ends.
            fd.close()

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
            await _in_thread(self._fd.write_all, data)
        except OSError as exc:
            raise JournalFullError(
                f"could not write {len(data)} bytes to the journal {self.path}: {exc.strerror or exc} "
                f"(it holds {self.size} bytes of intact records)"
            ) from exc
        self.size += len(data)
        self._dirty = True

    def _background_ended(self, fut: asyncio.Future[None]) -> None:
        # Runs when the background fsync ends, whoever is waiting: its error is taken here (so asyncio
        # never reports it as "never retrieved") and raised by the writer's next call.
        if self._background is fut:
            self._background = None
        if not fut.cancelled() and fut.exception() is not None:
            self._background_error = fut.exception()

    def _check_background(self) -> None:
        exc, self._background_error = self._background_error, None
        if exc is not None:
            raise JournalFullError(f"could not sync the journal {self.path}: {exc}") from exc

    async def _sync(self, force: bool = False) -> None:
        if force and self._background is not None:
            await asyncio.wait([self._background])  # also when nothing is dirty: it must end first
        self._check_background()
        if not self._dirty or self.fsync == "never" or self._fd is None:
            return
        now = time.monotonic()
        if force:
            try:
                await _in_thread(self._fd.fsync)
            except OSError as exc:
                raise JournalFullError(
                    f"could not sync the journal {self.path}: {exc.strerror or exc}"
                ) from exc
        elif now - self._last_sync < self._fsync_s or self._background is not None:
            return
        else:
            self._background = asyncio.ensure_future(_in_thread(self._fd.fsync))
            self._background.add_done_callback(self._background_ended)
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
    last_seq: int = 0  # the highest write sequence number in the intact prefix, acknowledged or not

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
    last = max(batches, default=0)
    return JournalState(path, header, pending, applied, rejected, runs, experiments, torn, end, mapping, last)
