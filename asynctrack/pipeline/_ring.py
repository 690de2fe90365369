"""The queue file: a memory-mapped ring holding the pipeline's queued frames, so they survive ``kill -9``.

A logging call that returned has its encoded frame in this file's pages (``MAP_SHARED``): if the process
dies, the kernel still has them and writes them back; the next process that logs to the same store (or
``asynctrack sync``) replays what the dead process had not made durable (``_recover.py``). The file *is*
the queue (no second copy in memory): callers write frames in place, the worker reads them in place.

Layout: one 4 KiB header page, then a ring of ``size`` bytes cut into 64-byte slots. A record fills one
or more whole slots::

    u32 length | u32 crc32 (0: none) | payload | padding | u64 commit

``commit`` is the record's logical position + 1, written last: a record whose commit word does not match was
never finished (the process died while writing it, its call had not returned) or is left over from an
earlier lap of the ring. A scalar metric record is exactly one slot and carries no checksum (computing one
would double the caller's cost); every other record carries a CRC-32 of its payload. A *void* record
(length ``0xFFFFFFFE``, committed) fills a slot that was handed out but not used (a call refused after
taking it, or slots that did not come out contiguous for a larger record); readers skip it.

**No lock.** Slots are handed out by a counter whose every step is one C call and therefore atomic under
the GIL (a lock's acquire and release cost the caller as much as packing the record): the compiled
``RingCore``'s, or an ``itertools.count`` without the extension (``_native.py``). A record of ``k`` slots
takes them in one call too; should they cross the end of the ring (or, in a free-threaded build, not
be contiguous), they are voided and the record tries again. Producers write
their slots concurrently, so records become readable out of order: the worker takes records up to the
first slot not yet committed (its writer is still writing it, or waits for room), and recovery skips such
holes (a hole's call had not returned; the calls after it had, and their records are kept). Free-threaded
builds (no GIL) hand slots out under a lock instead.

Positions are logical (they only grow); ``logical % size`` is where a record lies, and records never
cross the end. The header records what the worker has made durable (``acked``), the chunk it is writing
(``inflight``, with the count of that chunk's batches already durable, ``progress``), and the boot id of
the machine: after a reboot (a power loss) only records known to be on disk are trusted (see
``synced`` and docs/journal.md).

The file is locked (``flock``) while its process lives, so recovery never touches a live queue. Files of
the first format (``ATQRING1``: 8-byte aligned records, one producer lock, wrap markers) are still read.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import mmap
import os
import secrets
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from asynctrack._batching._ops import METRIC_FRAME, METRIC_TAG
from asynctrack.pipeline._native import RingCore

__all__ = [
    "HEADER_SIZE",
    "METRIC_RECORD",
    "RING_SUFFIX",
    "DeadRing",
    "QueueFile",
    "RingFull",
    "boot_id",
    "read_ring",
    "ring_target",
]

RING_SUFFIX = ".queue"
NAMES_SUFFIX = ".names"
HEADER_SIZE = 4096
# The intern table (run ids and metric keys that metric frames refer to by index) lives after the header:
# written in place like the frames (never a system call on the caller's thread, which may be an event
# loop's); past this size, further names go to a ``.names`` file beside it.
NAMES_SIZE = 1024 * 1024
_DATA_AT = HEADER_SIZE + NAMES_SIZE
# Linux keeps a MAP_SHARED file mapping's pages in the file's page cache: fdatasync writes them back.
_FDATASYNC_WRITES_MAPPINGS = sys.platform.startswith("linux") and hasattr(os, "fdatasync")
_MAGIC = b"ATQRING2"
_MAGIC_V1 = b"ATQRING1"  # 8-byte aligned records after one producer lock (still read by recovery)
# magic, reserved (0), size, acked, inflight start, inflight end, progress, journal mark, synced, pid
_HEADER = struct.Struct("<8sQQQQQQQQQ")
_BOOT_AT = 96  # 36 bytes of /proc/sys/kernel/random/boot_id
_JOURNAL_AT = 160  # u16 length + the journal path this queue's chunks were journaled to (remote stores)
_TARGET_AT = 2048  # u16 length + the store's URI, credentials redacted (for `asynctrack sync`)
_FIELD_MAX = 1800
_HEAD = struct.Struct("<II")  # length, crc
_COMMIT = struct.Struct("<Q")
_WRAP = 0xFFFFFFFF  # the first format's wrap marker
_VOID = 0xFFFFFFFE  # slots handed out but not used (the crc word holds how many: a void record's span)
# A scalar metric frame as one 64-byte record: length, crc (0), the frame's fields, 3 pad bytes, commit.
# Packed with the record's first 13 bytes (length, crc, tag, producer) as one prefix made per producer:
# struct converts every argument, so fewer arguments is what makes the caller's call cheaper.
METRIC_RECORD = struct.Struct("<13sqIIdqq3xQ")
_PREFIX = struct.Struct("<IIBI")
assert METRIC_RECORD.size == 64 and _PREFIX.size == 13
_METRIC_LEN = METRIC_FRAME.size
# A run of metric records, as numpy sees it: the length word, and the frame (its first byte the tag).
_RECORDS = np.dtype(
    {"names": ["length", "tag", "frame", "commit"], "formats": ["<u4", "u1", f"V{_METRIC_LEN}", "<u8"],
     "offsets": [0, 8, 8, 56], "itemsize": 64}
)  # fmt: skip
BIG_RECORD = 64 * 1024  # the queue's BIG_FRAME: large operations are also counted (MAX_BIG_FRAMES)
_NAME = struct.Struct("<I")
# Pages ahead of the head are mapped writable in advance (``QueueFile.prefault``), at least this much.
_PREFAULT_MIN = 64 * 1024
_MADV_POPULATE_WRITE = 23  # Linux 5.14 and later


@functools.cache
def _libc_madvise() -> Callable[[int, int, int], int] | None:
    """libc's ``madvise``, called through ctypes, which releases the GIL around it (``mmap.madvise``
    holds it); None off Linux or without ctypes."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        f = ctypes.CDLL(None, use_errno=True).madvise
    except (ImportError, OSError, AttributeError):
        return None
    f.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    f.restype = ctypes.c_int
    return f


def prefault_spans(head: int, window: int, size: int) -> list[tuple[int, int]]:
    """The ``(offset, length)`` spans of the ring (``size`` bytes, a power of two) that hold the
    ``window`` bytes from logical position ``head``, from the start of head's page: one span, or two when
    the window runs past the ring's end."""
    start = (head & (size - 1)) & ~(mmap.PAGESIZE - 1)
    window = min(window, size)
    first = min(window, size - start)
    return [(start, first)] if first == window else [(start, first), (0, window - first)]


def _ring_address(mm: mmap.mmap) -> tuple[Callable[[int, int, int], int] | None, int]:
    """libc's madvise and the mapping's address, or (None, 0) where pages cannot be prefaulted."""
    madvise = _libc_madvise()
    if madvise is None:
        return None, 0
    import ctypes

    anchor = ctypes.c_char.from_buffer(mm)  # exports mm's buffer while it lives: released below
    try:
        return madvise, ctypes.addressof(anchor)
    finally:
        del anchor


def boot_id() -> bytes:
    """This boot of the machine (Linux), to tell a process death from a reboot; empty elsewhere."""
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            return f.read(36)
    except OSError:
        return b""


_BOOT = boot_id()


class RingFull(Exception):
    """No room in the ring file for a record until the worker acknowledges more (internal)."""


def _record_size(n: int) -> int:
    # The slots a record of an ``n``-byte frame fills, in bytes.
    return (n + 16 + 63) & ~63


def _span(length: int, crc: int) -> int:
    # The bytes a record whose head reads (length, crc) fills: a void record's crc word counts its slots.
    return 64 * max(crc, 1) if length == _VOID else _record_size(length)


def _record_size_v1(n: int) -> int:
    return 8 + ((n + 7) & ~7) + 8


def _record_at(data: memoryview, size: int, t: int) -> tuple[int, int, int] | None:
    # (length, crc, bytes filled) of the committed record at logical position ``t``, or None: not written
    # yet, half written, or a stale slot of an earlier lap.
    o = t & (size - 1)
    length, crc = _HEAD.unpack_from(data, o)
    need = _span(length, crc)
    if o + need > size or _COMMIT.unpack_from(data, o + need - 8)[0] != t + 1:
        return None
    return length, crc, need


class QueueFile(RingCore):
    """The live ring of one pipeline: producers append, the worker takes and acknowledges.

    The slot counter (``reserve``, ``reserve_many``, ``head``) and the fields the compiled calls read
    (``mask``, ``bound``, ``taken``) come from :class:`RingCore` (``_native.py``)."""

    def __init__(self, directory: str, size: int, journal_path: str = "", target: str = "") -> None:
        super().__init__()
        os.makedirs(directory, exist_ok=True)
        self.id = secrets.token_hex(8)
        stem = f"{int(time.time() * 1000)}-{os.getpid()}-{self.id}"
        self.path = os.path.join(directory, stem + RING_SUFFIX)
        self.names_path = os.path.join(directory, stem + NAMES_SUFFIX)
        if size < 1 << 16 or size & (size - 1):
            raise ValueError(f"a queue file's ring must be a power of two of at least 64 KiB, not {size}")
        self.size = size
        self.mask = size - 1
        # The caller's fast path: at most this many bytes between the last acknowledgement and the head
        # (set by the queue from its capacity; the ring's own size bounds it).
        self._limit = size - 128
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Blocks allocated and pages mapped now, not on the caller's first write to each page (a
            # fault into the file system per 64 records otherwise costs the caller ~1 µs per call).
            os.posix_fallocate(fd, 0, _DATA_AT + size)
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            self._mm = mmap.mmap(fd, _DATA_AT + size, flags, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            raise
        self._fd = fd
        self.data = memoryview(self._mm)[_DATA_AT:]
        self._attach(self.data)  # held for the compiled calls until _release()
        self._populate, self._address = _ring_address(self._mm)
        self._prefault_head = 0
        self._names_at = HEADER_SIZE  # where the next name goes in the names area
        self._names_fd: int | None = None  # the overflow file, once the area is full
        _HEADER.pack_into(self._mm, 0, _MAGIC, 0, size, 0, 0, 0, 0, 0, 0, os.getpid())
        self._mm[_BOOT_AT : _BOOT_AT + len(_BOOT)] = _BOOT
        for at, text in ((_JOURNAL_AT, journal_path), (_TARGET_AT, target)):
            raw = text.encode()[:_FIELD_MAX]
            struct.pack_into(f"<H{len(raw)}s", self._mm, at, len(raw), raw)
        self._room = threading.Condition(threading.Lock())
        # Logical end of what the worker has taken (everything before it is committed) and of what is
        # durable (or failed): the space before ``acked`` is free.
        self.taken = 0
        self.acked = 0
        # The caller's fast path writes a slot at ``h`` when ``h < bound`` (acked + limit): one load and
        # one comparison for both the queue's capacity and the ring's room.
        self.bound = self._limit
        self._waiting = 0
        self.closed = False
        self.prefault()

    # -- producers
    @property
    def limit(self) -> int:
        """The most bytes between the last acknowledgement and a slot the fast path writes (the queue sets
        it from its capacity, and to 0 when it closes: every call then takes the slow path)."""
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._limit = value
        self.bound = self.acked + value

    def __len__(self) -> int:
        """Queued records, in 64-byte units (exact for scalar metrics; a larger operation counts more)."""
        return (self.head - self.taken) >> 6

    def __bool__(self) -> bool:
        """Whether the worker has a record to take now (the next one is committed)."""
        return self._committed_at(self.taken)

    def _committed_at(self, t: int) -> bool:
        return _record_at(self.data, self.size, t) is not None

    @staticmethod
    def metric_prefix(producer_id: int) -> bytes:
        """The first 13 bytes of every metric record of one producer (see :meth:`write_metric`)."""
        return _PREFIX.pack(_METRIC_LEN, 0, METRIC_TAG, producer_id)

    def write_metric(
        self, h: int, prefix: bytes, seq: int, run: int, key: int, value: float, timestamp: int, step: int
    ) -> None:
        """Write a scalar metric frame into the slot at ``h`` once there is room (see :meth:`wait_room`)."""
        try:
            self.wait_room(h + 64)
        except BaseException:
            self.void(h)
            raise
        METRIC_RECORD.pack_into(
            self.data, h & self.mask, prefix, seq, run, key, value, timestamp, step, h + 1
        )

    def append(self, frame: bytes) -> None:
        """Append any frame (checksummed), in as many contiguous slots as it needs."""
        n = len(frame)
        need = _record_size(n)
        if need > self.size // 2:
            raise ValueError(f"an operation of {n} bytes does not fit the queue file ({self.size} bytes)")
        crc = zlib.crc32(frame) or 1
        k = need >> 6
        while True:
            got = self.reserve_many(k)  # contiguous under the GIL (one C call)
            h, last = got[0], got[-1]
            if last - h == need - 64 and (h & self.mask) + need <= self.size:
                break
            self.void_all(got)  # not contiguous, or across the end: give them back
        try:
            self.wait_room(h + need)
        except BaseException:
            self.void_all(got)
            raise
        o = h & self.mask
        data = self.data
        _HEAD.pack_into(data, o, n, crc)
        data[o + 8 : o + 8 + n] = frame
        _COMMIT.pack_into(data, o + need - 8, h + 1)

    def void(self, h: int, slots: int = 1) -> None:
        """Fill ``slots`` slots from ``h`` (handed out, not used; not across the ring's end) with one void
        record, so readers go past them in one step."""
        if self.closed:
            return
        with contextlib.suppress(RingFull):
            self.wait_room(h + 64 * slots)
            o = h & self.mask
            _HEAD.pack_into(self.data, o, _VOID, slots)
            _COMMIT.pack_into(self.data, o + 64 * slots - 8, h + 1)

    def void_all(self, got: list[int]) -> None:
        """Void the slots ``got`` (ascending positions) in as few records as they allow: one per run of
        contiguous slots, split at the ring's end (a large record's slots that crossed it: two records,
        not thousands)."""
        start = prev = got[0]
        for h in got[1:]:
            if h != prev + 64 or h & self.mask == 0:
                self.void(start, (prev - start >> 6) + 1)
                start = h
            prev = h
        self.void(start, (prev - start >> 6) + 1)

    def wait_room(self, end: int) -> None:
        """Return once the space up to logical position ``end`` is free (the worker has acknowledged
        what lay there on the ring's previous lap); RingFull once the file is closed."""
        if end - self.acked <= self.size:
            return
        with self._room:
            self._waiting += 1
            try:
                while end - self.acked > self.size:
                    if self.closed:
                        raise RingFull("the queue file is closed")
                    self._room.wait(0.5)
            finally:
                self._waiting -= 1

    def add_name(self, index: int, name: str) -> None:
        """Record intern table entry ``index`` (before any frame uses it: metric frames hold indexes)."""
        data = name.encode()
        at = self._names_at
        if at + 4 + len(data) + 4 <= _DATA_AT and self._names_fd is None:
            self._mm[at + 4 : at + 4 + len(data)] = data
            _NAME.pack_into(self._mm, at, len(data) + 1)  # last: a reader stops at a zero length
            self._names_at = at + 4 + len(data)
            return
        if self._names_fd is None:  # rare: thousands of distinct keys and runs in one process
            self._names_fd = os.open(
                self.names_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
            )
        os.write(self._names_fd, _NAME.pack(len(data)) + data)

    # -- the worker
    def take(self, n: int) -> tuple[list[bytes], int]:
        """Copy out up to ``n`` records after what was taken, oldest first, and count the large ones;
        stop at the first record not yet committed.

        Consecutive scalar metric records come out as one frame holding all their frames back to back
        (what ``decode_chunk`` joins anyway), read with numpy rather than one Python step per record.
        """
        out: list[bytes] = []
        t = self.taken
        end = self.head  # slots handed out so far (some may still be being written)
        size, mask = self.size, self.mask
        data = self.data
        head_unpack = _HEAD.unpack_from
        taken = big = 0
        while taken < n and t < end:
            o = t & mask
            length, crc = head_unpack(data, o)
            if length == _METRIC_LEN and data[o + 8] == METRIC_TAG:
                m = min(n - taken, (size - o) // 64, (end - t) // 64)
                view = np.frombuffer(data, _RECORDS, m, o)
                # The commit words first, the rest after: numpy may drop the GIL for this, so producers
                # write meanwhile, and a writer writes a record's commit word last. Checked in the other
                # order, a slot read as an old metric record and committed by then (as a void record
                # whose other bytes are still the old record's) would pass.
                ok = view["commit"] == np.arange(t + 1, t + 1 + 64 * m, 64, dtype=np.uint64)
                ok &= view["length"] == _METRIC_LEN
                ok &= view["tag"] == METRIC_TAG
                run = m if ok.all() else int(np.argmin(ok))
                if run == 0:
                    break  # being written
                out.append(view["frame"][:run].tobytes())
                t += 64 * run
                taken += run
                continue
            record = _record_at(data, size, t)
            if record is None:
                break  # being written (or its writer waits for room)
            length, crc, need = record
            if head_unpack(data, o) != (length, crc):
                continue  # the head read was the old lap's, and the record was written since: again
            if length != _VOID:
                if length >= BIG_RECORD:
                    big += 1
                out.append(bytes(data[o + 8 : o + 8 + length]))
                taken += 1
            t += need
        self.taken = t
        return out, big

    def pending(self) -> list[bytes]:
        """The frames not yet taken, oldest first, left in place (the exit report, the journal's spool)."""
        saved = self.taken
        try:
            return self.take(1 << 62)[0]
        finally:
            self.taken = saved

    def begin(self, start: int, end: int, journal_mark: int = 0) -> None:
        """Record the chunk ``[start, end)`` the worker is about to write (and, for a journaled store,
        the journal's last sequence number before it)."""
        struct.pack_into("<QQQQ", self._mm, 32, start, end, 0, journal_mark)

    def progress(self, batches: int) -> None:
        """``batches`` batches of the chunk in flight are durable."""
        struct.pack_into("<Q", self._mm, 48, batches)

    def ack(self, end: int) -> None:
        """Everything before ``end`` is durable (or failed for good): free its space."""
        struct.pack_into("<Q", self._mm, 24, end)
        limit = self._limit
        self.acked = end
        self.bound = end + limit
        if self._limit != limit:  # the queue closed meanwhile (limit 0): its bound stands
            self.bound = self.acked + self._limit
        if self._waiting:
            with self._room:
                self._room.notify_all()

    def sync(self) -> None:
        """Write the file's dirty pages to disk (blocking: call from a thread) and record how far the
        disk copy goes, so a reader after a reboot trusts those records. A closed file is left alone, as
        :meth:`prefault` leaves it (the worker's sync thread may ask after the pipeline closed it)."""
        if self.closed:
            return
        taken = self.taken  # every record before it is complete (later slots may be half written)
        self._flush()
        struct.pack_into("<Q", self._mm, 64, taken)
        self._flush(mmap.PAGESIZE)
        self.prefault()  # the write-back left every page read-only

    def prefault(self) -> None:
        """Map the pages ahead of the head writable, without changing a byte (blocking: call from a
        thread; the worker calls it after each sync of the file, or on its own timer with the ``never``
        policy).

        Why: the kernel maps a shared file's pages read-only until their first write (that is how it
        tracks dirty pages), and again after each write-back, so the first record in each page made its
        producer, the training thread, take a write fault into the file system: about 1 µs warm and
        tens of µs after a framework's step (measured in a Lightning hook: 22 against 18 µs for 11
        points, docs/benchmarks.md). The window is twice what producers wrote since the last call (at
        least 64 KiB, at most a quarter of the ring). The cost: the pages of the window are dirty, so the
        next sync writes them back as well. Off Linux, or before Linux 5.14 (no ``MADV_POPULATE_WRITE``),
        this does nothing and producers fault as before."""
        populate = self._populate
        if populate is None or self.closed:
            return
        head = self.head
        window = min(max(2 * (head - self._prefault_head), _PREFAULT_MIN), self.size // 4)
        self._prefault_head = head
        base = self._address + _DATA_AT
        for start, length in prefault_spans(head, window, self.size):
            # A closed ring is unmapped: madvise then fails (ENOMEM) and never writes; the next call sees
            # ``closed``.
            if populate(base + start, length, _MADV_POPULATE_WRITE) != 0:
                self._populate = None  # unsupported here: stop trying
                return

    def _flush(self, length: int = 0) -> None:
        # ``mmap.flush()`` holds the GIL through its msync(MS_SYNC) (CPython's mmapmodule.c, every
        # version), which stalled every Python thread, the training loop's included, for the whole disk
        # write of the 16 MiB ring several times a second. On Linux a shared mapping's dirty pages are the
        # file's page cache, which fdatasync(2) writes back with the GIL released (and only the dirty
        # pages, where msync walks the whole range). Elsewhere msync is the portable guarantee.
        if _FDATASYNC_WRITES_MAPPINGS:
            os.fdatasync(self._fd)
        elif length:
            self._mm.flush(0, length)
        else:
            self._mm.flush()

    # -- lifetime
    def close(self, unlink: bool) -> None:
        """Unmap and unlock; delete the files when nothing in them is pending (``unlink``)."""
        if self.closed:
            return
        self.closed = True
        with self._room:
            self._room.notify_all()
        if unlink:
            for p in (self.path, self.names_path):
                with contextlib.suppress(OSError):
                    os.unlink(p)
        self._release()

    def forget(self) -> None:
        """In a forked child: drop the parent's file without touching it (the parent still owns it)."""
        self.closed = True
        self._release()

    def _release(self) -> None:
        self._detach()  # the compiled calls' hold on the bytes first, so that they can be unmapped
        with contextlib.suppress(BufferError, ValueError):
            self.data.release()
        with contextlib.suppress(BufferError, ValueError):
            self._mm.close()
        if self._names_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._names_fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)


# -- reading a dead process's file (recovery, `asynctrack journal status`)
class DeadRing(NamedTuple):
    """What a queue file holds past its last acknowledgement."""

    path: str
    #: the file's id (its name's last part): the idempotency keys of its writes start with it
    ring_id: str
    pid: int
    acked: int
    inflight: tuple[int, int]
    progress: int
    journal_mark: int
    journal_path: str
    #: the store's URI, credentials redacted
    target: str
    #: (logical start, logical end, frame) of each readable record after ``acked``, oldest first
    frames: list[tuple[int, int, bytes]]
    names: list[str]
    #: records refused: a checksum mismatch, or written after the last sync on an earlier boot
    torn: int
    reboot: bool


def _area_names(mm: mmap.mmap) -> list[str]:
    names: list[str] = []
    at = HEADER_SIZE
    while at + 4 <= _DATA_AT:
        (n,) = _NAME.unpack_from(mm, at)
        if n == 0 or at + 4 + n - 1 > _DATA_AT:
            break
        names.append(bytes(mm[at + 4 : at + 3 + n]).decode())
        at += 3 + n
    return names


def _names(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return []
    names: list[str] = []
    i = 0
    while i + 4 <= len(raw):
        (n,) = _NAME.unpack_from(raw, i)
        if i + 4 + n > len(raw):
            break  # torn tail: the process died writing it, so no frame uses it
        names.append(raw[i + 4 : i + 4 + n].decode())
        i += 4 + n
    return names


def _record_starts(data: memoryview, size: int, start: int) -> list[int]:
    # The logical positions, ascending, where a committed record of the lap after ``start`` may begin. A
    # record's commit word (its last 8 bytes) holds its start + 1, so each slot's last word names at most one
    # record start; only words naming a slot-aligned position in this lap, at or before their own slot, can
    # be real commits (stale slots of earlier laps name positions before ``start``). Every committed record
    # is among them; _record_at checks each. numpy finds them in one pass over the lap (262,144 slots of a
    # 16 MiB ring), where stepping slot by slot in Python cost ~0.1 s per dead file, mostly over empty slots.
    n = size // 64
    commits = np.frombuffer(data, dtype="<u8", count=n * 8)[7::8]
    first = (start & (size - 1)) // 64  # the slot where the lap begins: rotated to the front
    commits = np.concatenate((commits[first:], commits[:first]))
    # each slot's logical position + 1 (a lap starts at a slot: records are slot-aligned)
    pos = np.arange(n, dtype=np.uint64) * np.uint64(64) + np.uint64((start & ~63) + 1)
    below = np.uint64(start)
    cand = commits[(commits > below) & (commits <= pos) & ((commits - np.uint64(1) - below) % 64 == 0)]
    cand.sort(kind="stable")  # already in order unless a stale word mimics a start: O(n) then
    keep = np.ones(len(cand), dtype=bool)
    np.not_equal(cand[1:], cand[:-1], out=keep[1:])
    starts: list[int] = (cand[keep] - np.uint64(1)).tolist()
    return starts


def _records(data: memoryview, size: int, start: int) -> Iterator[tuple[int, int, int, bytes]]:
    # (start, end, crc status: 1 ok / 0 none / -1 bad, frame) of each committed record in the lap after
    # ``start``. Slots were written concurrently, so a slot not committed (its writer died before its
    # call returned) is a hole to step over, not the end: later records may be complete.
    h = start
    for t in _record_starts(data, size, start):
        if t < h:
            continue  # inside the record taken last
        record = _record_at(data, size, t)
        if record is None:
            continue  # a hole, or a stale slot of an earlier lap
        length, crc, need = record
        if length != _VOID:
            o = t & (size - 1)
            frame = bytes(data[o + 8 : o + 8 + length])
            status = 0 if crc == 0 else (1 if (zlib.crc32(frame) or 1) == crc else -1)
            yield t, t + need, status, frame
        h = t + need


def _records_v1(data: memoryview, size: int, start: int) -> Iterator[tuple[int, int, int, bytes]]:
    # The first format's records (one producer lock: the first record not committed ends them).
    h = start
    commit = _COMMIT.unpack_from
    while True:
        o = h % size
        if o + 16 > size:
            h += size - o
            continue
        length, crc = _HEAD.unpack_from(data, o)
        if length == _WRAP:
            if commit(data, o + 8)[0] != h + 1:
                return
            h += size - o
            continue
        need = _record_size_v1(length)
        if o + need > size or commit(data, o + need - 8)[0] != h + 1:
            return
        frame = bytes(data[o + 8 : o + 8 + length])
        status = 0 if crc == 0 else (1 if (zlib.crc32(frame) or 1) == crc else -1)
        yield h, h + need, status, frame
        h += need


def _field(mm: mmap.mmap | bytes, at: int) -> str:
    (n,) = struct.unpack_from("<H", mm, at)
    return bytes(mm[at + 2 : at + 2 + min(n, _FIELD_MAX)]).decode(errors="replace")


def ring_target(path: str) -> str:
    """The store a queue file belongs to (its redacted URI), read from its header alone: recovery asks
    this of every dead file in a shared directory before it reads one, so other stores' files (a
    directory of several databases, processes killed long ago) cost a header read, not a scan."""
    with open(path, "rb") as f:
        head = f.read(_TARGET_AT + 2 + _FIELD_MAX)
    if head[:8] not in (_MAGIC, _MAGIC_V1) or len(head) < _TARGET_AT + 2:
        raise ValueError(f"{path} is not an asynctrack queue file")
    return _field(head, _TARGET_AT)


def read_ring(path: str) -> DeadRing:
    """Read a queue file left by a process (the caller holds its lock, or only wants to look)."""
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        magic, _reserved, size, acked, start, end, progress, jmark, synced, pid = _HEADER.unpack_from(mm, 0)
        if magic not in (_MAGIC, _MAGIC_V1):
            raise ValueError(f"{path} is not an asynctrack queue file")
        records = _records if magic == _MAGIC else _records_v1
        boot = bytes(mm[_BOOT_AT : _BOOT_AT + 36])
        jpath, target = (_field(mm, at) for at in (_JOURNAL_AT, _TARGET_AT))
        reboot = bool(_BOOT) and boot[: len(_BOOT)] != _BOOT
        names = _area_names(mm)
        data = memoryview(mm)[_DATA_AT:]
        frames: list[tuple[int, int, bytes]] = []
        torn = 0
        try:
            for s, e, status, frame in records(data, size, acked):
                if status < 0 or (reboot and status == 0 and e > synced):
                    torn += 1  # never replayed: reported
                    continue
                frames.append((s, e, frame))
        finally:
            data.release()
    finally:
        mm.close()
    stem = path[: -len(RING_SUFFIX)]
    ring_id = os.path.basename(stem).rsplit("-", 1)[-1]
    return DeadRing(
        path,
        ring_id,
        pid,
        acked,
        (start, end),
        progress,
        jmark,
        jpath,
        target,
        frames,
        names + _names(stem + NAMES_SUFFIX),
        torn,
        reboot,
    )


def ring_files(directory: str) -> list[str]:
    """The queue files in ``directory``, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in sorted(names) if n.endswith(RING_SUFFIX)]


def remove_ring(path: str) -> None:
    """Delete a queue file and its names file."""
    for p in (path, path[: -len(RING_SUFFIX)] + NAMES_SUFFIX):
        with contextlib.suppress(OSError):
            os.unlink(p)
