"""Compact encodings for the integer columns of metric chunks (steps and timestamps).

Arrays logged in one call usually share one timestamp and have evenly spaced steps, and SQLite's write
bandwidth is the limit for bulk history (about 150-180 MB/s measured here): storing such columns as a
constant or an arithmetic progression instead of 8 bytes a point triples the points per second.

Each blob starts with one byte naming its form:
``C`` constant (one int64), ``A`` arithmetic (start, stride: two int64), ``R`` raw little-endian int64.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from asynctrack._int64 import INT64_MAX, INT64_MIN

__all__ = ["decode_ints", "decode_small", "encode_ints", "encode_small"]

_ONE = struct.Struct("<q")
_TWO = struct.Struct("<qq")


def encode_ints(values: np.ndarray[Any, Any]) -> bytes:
    """The shortest of the three forms that represents ``values`` (int64) exactly."""
    n = len(values)
    if n == 0:
        return b"R"
    first = int(values[0])
    if n == 1:
        return b"C" + _ONE.pack(first)
    stride = int(values[1]) - first
    if INT64_MIN <= stride <= INT64_MAX:
        expected = first + stride * np.arange(n, dtype=np.int64)
        if np.array_equal(values, expected):
            return (b"C" + _ONE.pack(first)) if stride == 0 else (b"A" + _TWO.pack(first, stride))
    return b"R" + np.ascontiguousarray(values, dtype="<i8").tobytes()


def decode_ints(blob: bytes, n: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The ``n`` int64 values that :func:`encode_ints` wrote as ``blob``."""
    form = blob[:1]
    if form == b"R":
        return np.frombuffer(blob, "<i8", offset=1).astype(np.int64)
    if form == b"C":
        return np.full(n, _ONE.unpack_from(blob, 1)[0], dtype=np.int64)
    if form == b"A":
        start, stride = _TWO.unpack_from(blob, 1)
        progression: np.ndarray[Any, np.dtype[np.int64]] = start + stride * np.arange(n, dtype=np.int64)
        return progression
    raise ValueError(f"unknown integer column encoding {form!r}")


def encode_small(ints: list[int]) -> bytes:
    """:func:`encode_ints` for a short list, in plain Python (numpy's per-call cost dominates there)."""
    first = ints[0]
    if len(ints) == 1:
        return b"C" + _ONE.pack(first)
    stride = ints[1] - first
    if INT64_MIN <= stride <= INT64_MAX and all(ints[i] - ints[i - 1] == stride for i in range(2, len(ints))):
        return (b"C" + _ONE.pack(first)) if stride == 0 else (b"A" + _TWO.pack(first, stride))
    return b"R" + struct.pack(f"<{len(ints)}q", *ints)


def decode_small(blob: bytes, n: int) -> list[int]:
    """:func:`decode_ints` as a list, in plain Python."""
    form = blob[:1]
    if form == b"R":
        return list(struct.unpack_from(f"<{n}q", blob, 1))
    if form == b"C":
        return [_ONE.unpack_from(blob, 1)[0]] * n
    if form == b"A":
        start, stride = _TWO.unpack_from(blob, 1)
        return [start + stride * i for i in range(n)]
    raise ValueError(f"unknown integer column encoding {form!r}")
