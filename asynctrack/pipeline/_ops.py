"""Queued operations: a tagged union of msgspec Structs, encoded to msgpack bytes when enqueued.

The queue holds bytes, so a caller mutating its objects after a call cannot change what is logged, and
the worker decodes a whole drained chunk with one ``Decoder.decode`` call (the chunk's frames are joined
behind a single msgpack array header).

Every operation carries the id of the *producer* (one per thread per pipeline) that enqueued it and the
producer's sequence number: completion is tracked per producer as a watermark, so a call allocates
neither a lock nor a future.
"""

from __future__ import annotations

from typing import Union

import msgspec

__all__ = [
    "BarrierOp",
    "DeleteTagOp",
    "MetricArrayOp",
    "MetricOp",
    "Op",
    "ParamOp",
    "TagOp",
    "UpdateRunOp",
    "decode_many",
    "encode",
]


class MetricOp(msgspec.Struct, array_like=True, tag=0, gc=False):
    producer: int
    seq: int
    run_id: str
    key: str
    value: float
    timestamp: int
    step: int


class ParamOp(msgspec.Struct, array_like=True, tag=1, gc=False):
    producer: int
    seq: int
    run_id: str
    key: str
    value: str


class TagOp(msgspec.Struct, array_like=True, tag=2, gc=False):
    producer: int
    seq: int
    run_id: str
    key: str
    value: str


class DeleteTagOp(msgspec.Struct, array_like=True, tag=3, gc=False):
    producer: int
    seq: int
    run_id: str
    key: str


class MetricArrayOp(msgspec.Struct, array_like=True, tag=4, gc=False):
    """Many points of one metric: little-endian float64 values, int64 timestamps and steps."""

    producer: int
    seq: int
    run_id: str
    key: str
    values: bytes
    timestamps: bytes
    steps: bytes


class BarrierOp(msgspec.Struct, array_like=True, tag=5, gc=False):
    """Writes nothing; done once everything enqueued before it is done (flush, end_run)."""

    producer: int
    seq: int
    run_id: str = ""


class UpdateRunOp(msgspec.Struct, array_like=True, tag=6, gc=False):
    """Status / end time / name change, ordered after every earlier operation of the run (end_run)."""

    producer: int
    seq: int
    run_id: str
    status: str | None
    end_time: int | None
    run_name: str | None


Op = Union[MetricOp, ParamOp, TagOp, DeleteTagOp, MetricArrayOp, BarrierOp, UpdateRunOp]

encode = msgspec.msgpack.Encoder().encode
_decode_list = msgspec.msgpack.Decoder(list[Op]).decode


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def decode_many(frames: list[bytes]) -> list[Op]:
    """Decode a chunk of encoded operations in one call."""
    return _decode_list(_array_header(len(frames)) + b"".join(frames))
