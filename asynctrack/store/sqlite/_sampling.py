"""MLflow's evenly sampled history (``get-history-bulk-interval``) from the chunk summaries: the same points
:func:`asynctrack.store._sampling.sample_steps` picks from the whole history, found without reading it.

When every chunk of the key has strictly increasing steps and the chunks' step ranges do not touch, no two
points share a step, so MLflow's order (step, timestamp, value) is plain step order: the chunks'
concatenation in order of their first step, where a point's position is its chunk's offset plus its place
in the chunk. Steps stored as a progression or a constant (the usual case:
``_columns.py``) are searched arithmetically; only the picked values and timestamps are read, a few bytes
each, through SQLite's incremental blob I/O. Any other history (steps logged out of order) is read whole
and sampled as before: the answer is the same either way.
"""

from __future__ import annotations

import sqlite3
import struct
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from asynctrack.store._protocol import MetricSeries
from asynctrack.store._sampling import bucket_starts, sample_steps
from asynctrack.store.sqlite._buckets import _run
from asynctrack.store.sqlite._columns import decode_ints, decode_small
from asynctrack.store.sqlite._reads import metric_series
from asynctrack.store.sqlite._search import snapshot
from asynctrack.store.sqlite._summaries import FLAG_STEPS_SORTED

__all__ = ["sample_metric"]

_TWO = struct.Struct("<qq")
_ONE = struct.Struct("<q")
Side = Literal["left", "right"]
_EXACT = 2**52  # steps beyond this are not searched in float arithmetic


class _Steps:
    """One chunk's steps in order, searchable without materialising a progression."""

    def __init__(self, blob: bytes, n: int) -> None:
        self.n = n
        self.form = blob[:1]
        self.array: npt.NDArray[np.int64] | None = None
        if self.form == b"A":
            self.start, self.stride = _TWO.unpack_from(blob, 1)
        elif self.form == b"C":
            self.start, self.stride = _ONE.unpack_from(blob, 1)[0], 0
        else:
            self.array = decode_ints(blob, n)

    def search(self, targets: npt.NDArray[np.float64], side: Side) -> npt.NDArray[np.int64]:
        """How many of the chunk's steps are < (left) or <= (right) each target."""
        if self.array is not None:
            found: npt.NDArray[np.int64] = np.searchsorted(self.array, targets, side=side).astype(np.int64)
            return found
        if self.stride == 0:
            below = targets > self.start if side == "left" else targets >= self.start
            constant: npt.NDArray[np.int64] = np.where(below, self.n, 0).astype(np.int64)
            return constant
        rel = (targets - self.start) / self.stride
        count = np.clip(np.ceil(rel) if side == "left" else np.floor(rel) + 1, 0, self.n).astype(np.int64)
        # Float division may be one off next to a step: settle each count against the exact steps.
        left = side == "left"
        prev = self.start + self.stride * (count - 1).astype(np.float64)
        too_far = (count > 0) & ((prev >= targets) if left else (prev > targets))
        count -= too_far
        cur = self.start + self.stride * count.astype(np.float64)
        too_short = (count < self.n) & ((cur < targets) if left else (cur <= targets))
        count += too_short
        settled: npt.NDArray[np.int64] = count
        return settled

    def strictly_increasing(self) -> bool:
        """No two of the chunk's points share a step."""
        if self.n <= 1:
            return True
        if self.array is not None:
            return bool(np.all(np.diff(self.array) > 0))
        return bool(self.stride > 0)

    def at(self, offsets: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        if self.array is not None:
            return self.array[offsets]
        progression: npt.NDArray[np.int64] = (self.start + self.stride * offsets).astype(np.int64)
        return progression


def _read_at(
    conn: sqlite3.Connection, column: str, chunk_id: int, offsets: npt.NDArray[np.int64], header: int
) -> npt.NDArray[Any]:
    """The 8-byte items at ``offsets`` (ascending) of a blob column, after a ``header``-byte prefix: one
    read of the span when the items are dense in it, else one small read each."""
    dtype = "<f8" if column == "vals" else "<i8"
    first, last = int(offsets[0]), int(offsets[-1])
    with conn.blobopen("metric_chunks", column, chunk_id, readonly=True) as blob:
        if (last - first + 1) <= max(64 * len(offsets), 16_384):  # up to 128 KiB: one read is cheaper
            blob.seek(header + 8 * first)
            span = np.frombuffer(blob.read(8 * (last - first + 1)), dtype)
            return span[offsets - first]
        out = np.empty(len(offsets), dtype)
        for j, i in enumerate(offsets.tolist()):
            blob.seek(header + 8 * i)
            out[j] = np.frombuffer(blob.read(8), dtype)[0]
        return out


def _steps_flag(steps_blob: bytes, n: int) -> int:
    steps = decode_small(steps_blob, n)
    return FLAG_STEPS_SORTED if all(a <= b for a, b in zip(steps, steps[1:], strict=False)) else 0


def sample_metric(
    conn: sqlite3.Connection, run_id: str, key: str, max_results: int, start: int | None, end: int | None
) -> MetricSeries:
    with snapshot(conn):
        run_key, _ = _run(conn, run_id)
        rows = conn.execute(
            "SELECT c.chunk_id, c.n, c.min_step, c.max_step, s.flags, c.steps, substr(c.timestamps, 1, 17) "
            "FROM metric_chunks AS c LEFT JOIN metric_summaries AS s ON s.chunk_id = c.chunk_id "
            "WHERE c.run_key = ? AND c.key = ? ORDER BY c.chunk_id",
            (run_key, key),
        ).fetchall()
        # The last small chunks, written without a summary: their step order from their few steps.
        rows = [r if r[4] is not None else (*r[:4], _steps_flag(r[5], r[1]), *r[5:]) for r in rows]
        fast = bool(rows) and all(r[4] & FLAG_STEPS_SORTED for r in rows)
        fast = fast and all(abs(r[2]) < _EXACT and abs(r[3]) < _EXACT for r in rows)
        if fast:
            by_step = sorted(rows, key=lambda r: (r[2], r[0]))
            fast = all(a[3] < b[2] for a, b in zip(by_step, by_step[1:], strict=False))
        steps = [_Steps(r[5], r[1]) for r in rows] if fast else []
        if not fast or not all(s.strictly_increasing() for s in steps):
            series = metric_series(conn, run_id, key)
            take = sample_steps(series.steps, max_results, start, end, series.timestamps, series.values)
            return MetricSeries(key, series.values[take], series.timestamps[take], series.steps[take])
        return _sample(conn, key, rows, max_results, start, end)


def _sample(
    conn: sqlite3.Connection, key: str, rows: list[Any], max_results: int, start: int | None, end: int | None
) -> MetricSeries:
    rows = sorted(rows, key=lambda r: (r[2], r[0]))  # by first step, then chunk order: the step order
    steps = [_Steps(r[5], r[1]) for r in rows]
    ns = np.array([r[1] for r in rows], np.int64)
    offsets = np.r_[0, np.cumsum(ns)]
    highs = np.array([r[3] for r in rows], np.float64)

    def position(targets: npt.NDArray[np.float64], side: Side) -> npt.NDArray[np.int64]:
        """Global ``searchsorted`` over the concatenated chunks."""
        chunk = np.searchsorted(highs, targets, side=side)
        out = np.full(len(targets), int(offsets[-1]), np.int64)
        for c in np.unique(chunk[chunk < len(rows)]).tolist():
            sel = chunk == c
            out[sel] = offsets[c] + steps[c].search(targets[sel], side)
        return out

    total = int(offsets[-1])
    lo = 0 if start is None else int(position(np.array([float(start)]), "left")[0])
    hi = total if end is None else int(position(np.array([float(end)]), "right")[0])
    if hi <= lo:
        return MetricSeries(key, np.empty(0, np.float64), np.empty(0, np.int64), np.empty(0, np.int64))
    picked = bucket_starts(hi - lo, max(1, max_results)) + lo
    chunk_of = np.searchsorted(offsets, picked, side="right") - 1
    values = np.empty(len(picked), np.float64)
    stamps = np.empty(len(picked), np.int64)
    out_steps = np.empty(len(picked), np.int64)
    for c in np.unique(chunk_of).tolist():
        sel = np.flatnonzero(chunk_of == c)
        local = picked[sel] - offsets[c]
        chunk_id, n, stamp_head = int(rows[c][0]), int(rows[c][1]), rows[c][6]
        out_steps[sel] = steps[c].at(local)
        values[sel] = _read_at(conn, "vals", chunk_id, local, 0)
        if stamp_head[:1] == b"R":
            stamps[sel] = _read_at(conn, "timestamps", chunk_id, local, 1)
        else:  # a constant or a progression: its 17-byte head is all of it
            stamps[sel] = _Steps(stamp_head, n).at(local)
    return MetricSeries(key, values, stamps, out_steps)
