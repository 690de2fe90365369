"""The journal's on-disk format: a magic line, then length-prefixed msgpack frames, each with a checksum.

::

    file   := MAGIC frame*
    frame  := length:u32le  crc32:u32le  kind:u8  payload[length]     (crc32 over kind and payload)

A frame is intact when its header and payload are complete and the checksum matches; the first frame that
is not marks the *torn tail* (a crash mid-write, a full disk, a flipped bit). Readers keep the intact prefix
and report the tail with its offset; nothing after a bad frame is trusted, since lengths may be garbage.

Records (payloads, msgspec Structs in msgpack):

- :class:`Header` once, first: which target the journal ships to, who wrote it, since when.
- :class:`BatchRecord` a ``log_batch`` (metric columns as raw little-endian bytes, params, tags), a tag
  deletion or a run update: one per store write, numbered ``seq`` 1, 2, ... within the journal.
- :class:`DoneRecord` the writes the target has acknowledged (or rejected for good), by ``seq``.
- :class:`RunRecord` / :class:`ExperimentRecord` (offline mode): runs and experiments created locally,
  to be created at the target by ``asynctrack sync``; :class:`MappingRecord` their ids there.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Final

import msgspec

__all__ = [
    "FRAME_HEADER",
    "KIND_BATCH",
    "KIND_DONE",
    "KIND_EXPERIMENT",
    "KIND_HEADER",
    "KIND_MAPPING",
    "KIND_RUN",
    "MAGIC",
    "BatchRecord",
    "DoneRecord",
    "ExperimentRecord",
    "Header",
    "MappingRecord",
    "RunRecord",
    "SeriesRecord",
    "TornTail",
    "encode_frame",
    "iter_frames",
]

MAGIC: Final = b"ASYNCTRACK-JOURNAL-1\n"
FRAME_HEADER: Final = struct.Struct("<IIB")
_MAX_FRAME: Final = 1 << 30  # a length above this is corruption, not a record

KIND_HEADER: Final = 1
KIND_BATCH: Final = 2
KIND_DONE: Final = 3
KIND_RUN: Final = 4
KIND_EXPERIMENT: Final = 5
KIND_MAPPING: Final = 6


class Header(msgspec.Struct, frozen=True):
    journal_id: str  # a uuid4 hex; with ``seq`` it makes each write's idempotency key
    target: str  # the tracking URI the records ship to
    pid: int
    created_ms: int
    offline: bool = False


class SeriesRecord(msgspec.Struct, array_like=True, frozen=True):
    """One metric's points: little-endian float64 values, int64 timestamps and steps."""

    key: str
    values: bytes
    timestamps: bytes
    steps: bytes


class BatchRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """One store write. ``op`` is ``log_batch``, ``delete_tag`` (``key``) or ``update_run``."""

    seq: int
    run_id: str
    op: str = "log_batch"
    metrics: list[SeriesRecord] = []
    params: list[tuple[str, str]] = []
    tags: list[tuple[str, str]] = []
    key: str | None = None
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None

    def operation_count(self) -> int:
        if self.op != "log_batch":
            return 1
        return sum(len(s.values) // 8 for s in self.metrics) + len(self.params) + len(self.tags)


class DoneRecord(msgspec.Struct, frozen=True):
    """Writes that are finished: ``applied`` by the target, or ``rejected`` for good (with the reason)."""

    applied: list[int] = []
    rejected: list[tuple[int, str, str]] = []  # (seq, error_code, message)


class ExperimentRecord(msgspec.Struct, frozen=True):
    """Offline: an experiment the user named; created at the target (or found by name) when synced."""

    local_id: str
    name: str


class RunRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """Offline: a run created locally; ``asynctrack sync`` creates it at the target and maps the ids."""

    local_id: str
    experiment_id: str  # a local experiment id (from an ExperimentRecord) or the target's
    user_id: str
    start_time: int
    run_name: str | None = None
    tags: list[tuple[str, str]] = []


class MappingRecord(msgspec.Struct, frozen=True):
    """Sync: the target's id for a locally created experiment or run (written before the run's data is
    sent, so an interrupted sync started again never creates it twice)."""

    local_id: str
    target_id: str


def encode_frame(kind: int, payload: bytes) -> bytes:
    head = FRAME_HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(bytes((kind,)))), kind)
    return head + payload


class TornTail(msgspec.Struct, frozen=True):
    """Where the intact prefix ends, and why the rest was not read."""

    offset: int
    reason: str
    lost_bytes: int


def iter_frames(data: bytes | memoryview, start: int = 0) -> Iterator[tuple[int, int, memoryview] | TornTail]:
    """``(offset, kind, payload)`` for each intact frame from ``start``; then, if the data does not end
    exactly at a frame boundary, one :class:`TornTail`."""
    view = memoryview(data)
    size = len(view)
    pos = start
    hsize = FRAME_HEADER.size
    while pos < size:
        if size - pos < hsize:
            yield TornTail(pos, "incomplete frame header", size - pos)
            return
        length, crc, kind = FRAME_HEADER.unpack_from(view, pos)
        if length > _MAX_FRAME:
            yield TornTail(pos, f"implausible frame length {length}", size - pos)
            return
        end = pos + hsize + length
        if end > size:
            yield TornTail(pos, f"frame of {length} bytes cut off after {size - pos - hsize}", size - pos)
            return
        payload = view[pos + hsize : end]
        if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) != crc:
            yield TornTail(pos, "checksum mismatch", size - pos)
            return
        yield pos, kind, payload
        pos = end
