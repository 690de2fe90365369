"""Chart summaries of the embedded store's metric chunks, written with the chunks (schema version 4).

Each ``metric_chunks`` row has a ``metric_summaries`` row of the same ``chunk_id`` holding its step and
timestamp ranges, whether its points are in step (flag 1) and timestamp (flag 2) order, one summary record
of the whole chunk, and, inside larger chunks, the records of every 1,024-point *group* and 64-point *block*
(in storage order). A record (``SUMMARY``, 72 bytes) holds the NaN-ignoring min and max, the last value, the
first and last step and timestamp, and how many points, NaN, +inf and -inf it covers. The chart reduction
(``_buckets.py``) reads these instead of the points, so its cost follows the number of buckets.

The summaries live in their own table rather than as columns of ``metric_chunks``: SQLite stores a row's
columns in order, and a column after a large blob can only be reached by walking the blob's overflow pages,
so summary columns after the point blobs would cost a read of every point.

Writes keep chunks bounded and few:

- a series longer than ``CHUNK_CAP`` points is written as several chunks;
- synchronous logging writes one tiny chunk per call, which would make a million-point history a million
  rows. ``metric_tails`` counts each key's trailing chunks under ``SMALL`` and under ``MEDIUM`` points;
  once ``MERGE_AT`` chunks under ``SMALL`` trail, or ``MERGE_AT`` of ``SMALL`` to ``MEDIUM`` points (with
  any smaller ones after them), those trailing chunks are merged into one (the first one's row keeps
  its ``chunk_id``, so the logging order of points is unchanged). One-point writes are merged 32 at a time,
  and 32 of those again: each point is rewritten twice, and a million one-point writes end as ~1,000
  chunks of 1,024 points. Chunks of ``MEDIUM`` (64) points or more, what the asynchronous pipeline writes
  for a key that logs steadily, are never rewritten: merging 100-point chunks measured twice the write cost
  for a chunk count that the reduction reads cheaply anyway (10,000 summary rows for a million points).

The summaries table has no index of its own: a key's rows are found through ``metric_chunks``' index
(its ``chunk_id`` is the summary's primary key), which saves a page write per transaction.

``metric_tails.points`` is the key's number of points: the live-update cursor (points are appended in
logging order, so "the points after the first N" are the new ones).
"""

from __future__ import annotations

import json
import math
import sqlite3
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from asynctrack._extensions import load
from asynctrack.store.sqlite._columns import decode_ints, decode_small, encode_ints, encode_small
from asynctrack.store.sqlite._rows import insert_rows

__all__ = [
    "BLOCK",
    "CHUNK_CAP",
    "GROUP",
    "SUMMARY",
    "SUMMARY_DDL",
    "Piece",
    "chunk_summary",
    "fill_summaries",
    "insert_chunks",
    "summary_row",
    "upgrade_to_4",
]

BLOCK = 64
GROUP = 1024
CHUNK_CAP = 65_536
SMALL = 32
MEDIUM = 64
MERGE_AT = 32

FLAG_STEPS_SORTED = 1
FLAG_TIMES_SORTED = 2

SUMMARY = np.dtype(
    [
        ("min", "<f8"),
        ("max", "<f8"),
        ("last", "<f8"),
        ("s0", "<i8"),
        ("s1", "<i8"),
        ("t0", "<i8"),
        ("t1", "<i8"),
        ("n", "<u4"),
        ("nan", "<u4"),
        ("pos_inf", "<u4"),
        ("neg_inf", "<u4"),
    ]
)

SUMMARY_DDL = """
CREATE TABLE IF NOT EXISTS metric_summaries (
    chunk_id INTEGER PRIMARY KEY,
    run_key  INTEGER NOT NULL,
    key      TEXT NOT NULL,
    n        INTEGER NOT NULL,
    min_step INTEGER NOT NULL,
    max_step INTEGER NOT NULL,
    min_ts   INTEGER NOT NULL,
    max_ts   INTEGER NOT NULL,
    flags    INTEGER NOT NULL,
    summary  BLOB NOT NULL,
    groups   BLOB,
    blocks   BLOB
);

CREATE TABLE IF NOT EXISTS metric_tails (
    run_key INTEGER NOT NULL,
    key     TEXT NOT NULL,
    points  INTEGER NOT NULL,
    small   INTEGER NOT NULL,
    medium  INTEGER NOT NULL,
    PRIMARY KEY (run_key, key)
) WITHOUT ROWID;
"""

F8 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int64]


def records(steps: I8, values: F8, stamps: I8, size: int, clean: bool) -> npt.NDArray[Any]:
    """One SUMMARY record per ``size`` consecutive points (the last may be shorter). ``clean``: the values
    are known to hold no NaN or infinity (their counts are then zero without counting)."""
    n = len(values)
    starts = np.arange(0, n, size)
    ends = np.minimum(starts + size, n) - 1
    out = np.zeros(len(starts), SUMMARY)
    out["min"] = np.fmin.reduceat(values, starts)
    out["max"] = np.fmax.reduceat(values, starts)
    out["last"] = values[ends]
    out["s0"] = steps[starts]
    out["s1"] = steps[ends]
    out["t0"] = stamps[starts]
    out["t1"] = stamps[ends]
    out["n"] = ends - starts + 1
    if not clean:
        out["nan"] = np.add.reduceat(np.isnan(values), starts)
        out["pos_inf"] = np.add.reduceat(values == np.inf, starts)
        out["neg_inf"] = np.add.reduceat(values == -np.inf, starts)
    return out


def combine(recs: npt.NDArray[Any], size: int) -> npt.NDArray[Any]:
    """Records of every ``size`` consecutive records (the groups of a chunk's blocks)."""
    starts = np.arange(0, len(recs), size)
    ends = np.minimum(starts + size, len(recs)) - 1
    out = np.empty(len(starts), SUMMARY)
    out["min"] = np.fmin.reduceat(recs["min"], starts)
    out["max"] = np.fmax.reduceat(recs["max"], starts)
    out["last"] = recs["last"][ends]
    for first in ("s0", "t0"):
        out[first] = recs[first][starts]
    for last in ("s1", "t1"):
        out[last] = recs[last][ends]
    for count in ("n", "nan", "pos_inf", "neg_inf"):
        out[count] = np.add.reduceat(recs[count], starts)
    return out


_RECORD = struct.Struct("<dddqqqqIIII")
assert _RECORD.size == SUMMARY.itemsize


def _whole(recs: npt.NDArray[Any]) -> bytes:
    """The one record of all of ``recs``."""
    if len(recs) == 1:
        return recs.tobytes()
    if len(recs) <= 32:  # plain Python beats numpy's per-call cost here
        rows = recs.tolist()
        mins = [r[0] for r in rows if r[0] == r[0]]
        maxs = [r[1] for r in rows if r[1] == r[1]]
        return _RECORD.pack(
            min(mins) if mins else math.nan,
            max(maxs) if maxs else math.nan,
            rows[-1][2],
            rows[0][3],
            rows[-1][4],
            rows[0][5],
            rows[-1][6],
            *(sum(r[i] for r in rows) for i in range(7, 11)),
        )
    return _RECORD.pack(
        float(np.fmin.reduce(recs["min"])),
        float(np.fmax.reduce(recs["max"])),
        float(recs["last"][-1]),
        int(recs["s0"][0]),
        int(recs["s1"][-1]),
        int(recs["t0"][0]),
        int(recs["t1"][-1]),
        *(int(recs[c].sum()) for c in ("n", "nan", "pos_inf", "neg_inf")),
    )


def _in_order(values: I8, blob: bytes | None) -> bool:
    """Whether ``values`` never decrease; read off the encoded form when there is one (constant or a
    progression), else checked."""
    form = blob[:1] if blob is not None else b"R"
    if form == b"C":
        return True
    if form == b"A":
        return int(values[1]) >= int(values[0])
    return len(values) < 2 or bool(np.all(values[1:] >= values[:-1]))


def summary_row(
    chunk_id: int,
    run_key: int,
    key: str,
    steps: I8,
    values: F8,
    stamps: I8,
    blobs: tuple[bytes, bytes] | None = None,
) -> tuple[object, ...]:
    """The ``metric_summaries`` row of a chunk (points in storage order); ``blobs``: its encoded steps and
    timestamps, when at hand (their form tells whether they are in order)."""
    n = len(values)
    steps_sorted = _in_order(steps, blobs and blobs[0])
    stamps_sorted = _in_order(stamps, blobs and blobs[1])
    flags = (FLAG_STEPS_SORTED if steps_sorted else 0) | (FLAG_TIMES_SORTED if stamps_sorted else 0)
    s0, s1, t0, t1 = int(steps[0]), int(steps[-1]), int(stamps[0]), int(stamps[-1])
    ranges = (
        s0 if steps_sorted else int(steps.min()),
        s1 if steps_sorted else int(steps.max()),
        t0 if stamps_sorted else int(stamps.min()),
        t1 if stamps_sorted else int(stamps.max()),
    )
    with np.errstate(over="ignore", invalid="ignore"):
        clean = math.isfinite(float(np.add.reduce(values)))  # no NaN or infinity (or a harmless overflow)
    if n <= BLOCK:  # one block: the record straight from a few reductions
        if clean:
            counts = (0, 0, 0)
        else:
            nan = np.isnan(values)
            counts = (int(nan.sum()), int((values == np.inf).sum()), int((values == -np.inf).sum()))
        whole = _RECORD.pack(
            float(np.fmin.reduce(values)),
            float(np.fmax.reduce(values)),
            float(values[-1]),
            s0,
            s1,
            t0,
            t1,
            n,
            *counts,
        )
        return (chunk_id, run_key, key, n, *ranges, flags, whole, None, None)
    blocks = records(steps, values, stamps, BLOCK, clean)
    return (
        chunk_id,
        run_key,
        key,
        n,
        *ranges,
        flags,
        _whole(blocks),
        combine(blocks, GROUP // BLOCK).tobytes() if n > GROUP else None,
        blocks.tobytes(),
    )


def small_summary_row(
    chunk_id: int, run_key: int, key: str, steps: list[int], values: list[float], stamps: list[int]
) -> tuple[object, ...]:
    """:func:`summary_row` in plain Python, for chunks of a few points (numpy's per-call cost dominates)."""
    finite = [v for v in values if v == v]
    flags = (FLAG_STEPS_SORTED if steps == sorted(steps) else 0) | (
        FLAG_TIMES_SORTED if stamps == sorted(stamps) else 0
    )
    record = _RECORD.pack(
        min(finite) if finite else math.nan,
        max(finite) if finite else math.nan,
        values[-1],
        steps[0],
        steps[-1],
        stamps[0],
        stamps[-1],
        len(values),
        len(values) - len(finite),
        finite.count(math.inf),
        finite.count(-math.inf),
    )
    return (
        chunk_id,
        run_key,
        key,
        len(values),
        min(steps),
        max(steps),
        min(stamps),
        max(stamps),
        flags,
        record,
        None,
        None,
    )


class Piece(NamedTuple):
    """One chunk to write: numpy columns, and for a few points the same as lists with their blobs."""

    key: str
    steps: I8
    values: F8
    stamps: I8
    small: tuple[list[int], list[float], list[int], bytes, bytes, bytes] | None = None


# The compiled pass (``_cchunks.c``), where the extension is in use; the numpy code below is the reference.
_cchunks = load("asynctrack.store.sqlite._cchunks")
_chunk_parts: Callable[[I8, F8, I8], tuple[Any, ...] | None] | None = (
    _cchunks.chunk_parts if _cchunks is not None else None
)

_CHUNK_HEAD = (
    "INSERT INTO metric_chunks (chunk_id, run_key, key, n, min_step, max_step, steps, vals, timestamps)"
)
_INSERT_CHUNK = f"{_CHUNK_HEAD} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SUMMARY_HEAD = "INSERT INTO metric_summaries"
_INSERT_SUMMARY = f"{_SUMMARY_HEAD} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_TAIL_HEAD = "INSERT INTO metric_tails (run_key, key, points, small, medium)"
_TAIL_TAIL = (
    "ON CONFLICT (run_key, key) DO UPDATE SET points = points + excluded.points, "
    "small = CASE WHEN excluded.small THEN small + 1 ELSE 0 END, "
    "medium = CASE WHEN excluded.medium THEN medium + 1 ELSE 0 END"
)
_COUNT_TAIL = f"{_TAIL_HEAD} VALUES (?, ?, ?, ?, ?) {_TAIL_TAIL}"
_TAIL_COUNTS = (
    "SELECT json_group_array(json_array(key, small, medium)) FROM metric_tails "
    "WHERE run_key = ? AND key IN (SELECT value FROM json_each(?))"
)


def _chunk_rows(
    chunk_id: int | None, run_key: int, p: Piece, summarise: bool = True
) -> tuple[tuple[object, ...], tuple[object, ...] | None]:
    """The ``metric_chunks`` and (when ``summarise``) ``metric_summaries`` rows of a piece (the summary's
    id filled in later when ``chunk_id`` is None)."""
    n = len(p.values)
    if p.small is not None:
        st, vals, ts, st_blob, vals_blob, ts_blob = p.small
        chunk = (chunk_id, run_key, p.key, n, min(st), max(st), st_blob, vals_blob, ts_blob)
        if not summarise:
            return chunk, None
        return chunk, small_summary_row(chunk_id or 0, run_key, p.key, st, vals, ts)
    parts = _chunk_parts(p.steps, p.values, p.stamps) if _chunk_parts is not None else None
    if parts is not None:  # the compiled pass (_cchunks.c): the same rows
        st_blob, vals_blob, ts_blob, *rest = parts
        summary = (chunk_id or 0, run_key, p.key, n, *rest)
    else:
        st_blob, ts_blob = encode_ints(p.steps), encode_ints(p.stamps)
        vals_blob = np.ascontiguousarray(p.values, "<f8").tobytes()
        summary = summary_row(chunk_id or 0, run_key, p.key, p.steps, p.values, p.stamps, (st_blob, ts_blob))
    return (chunk_id, run_key, p.key, n, summary[4], summary[5], st_blob, vals_blob, ts_blob), summary


def insert_chunks(conn: sqlite3.Connection, run_key: int, pieces: list[Piece]) -> None:
    """Write chunks (each at most CHUNK_CAP points) with their tail counts and (but for a lone small
    piece) their summaries, then merge the trailing small chunks of keys where enough have piled up.

    One small piece (synchronous logging) takes two statements: its chunk and its tail count. Its summary
    is left out, which halves the cost of a one-point write: such a chunk is always among its key's
    trailing small chunks (fewer than ``MERGE_AT``), which readers summarise from their few points
    (:func:`fill_summaries`), and it gets its summary when those chunks are merged, or when a larger write
    ends their run (:func:`_summarise_tail`). More pieces take two or three statements and a check (one
    more when a run of small chunks ends), whatever their number; small ones go without a summary too."""
    if len(pieces) == 1:
        p = pieces[0]
        n = len(p.values)
        if n >= SMALL:
            _summarise_tail(conn, run_key, [p.key])
        chunk, summary = _chunk_rows(None, run_key, p, summarise=n >= SMALL)
        chunk_id = conn.execute(_INSERT_CHUNK, chunk).lastrowid
        if summary is not None:
            conn.execute(_INSERT_SUMMARY, (chunk_id, *summary[1:]))
        small, medium = conn.execute(
            _COUNT_TAIL + " RETURNING small, medium", (run_key, p.key, n, n < SMALL, n < MEDIUM)
        ).fetchone()
        if small >= MERGE_AT or medium - small >= MERGE_AT:
            _merge_tail(conn, run_key, p.key, small, medium)
        return
    ending = {p.key for p in pieces if len(p.values) >= SMALL}
    if ending:
        _summarise_tail(conn, run_key, sorted(ending))
    chunks = []
    summaries: list[tuple[int, tuple[object, ...]]] = []  # (the piece's index, its summary row)
    tails = []
    merge_keys = set()
    for i, p in enumerate(pieces):
        n = len(p.values)
        # A small piece goes without a summary, as a lone one does: it is among its key's trailing small
        # chunks, which readers summarise from their few points until they are merged or a larger chunk
        # ends their run (a worker's chunk of a training loop is mostly such pieces, a few per key).
        chunk, summary = _chunk_rows(None, run_key, p, summarise=n >= SMALL)
        chunks.append(chunk)
        if summary is not None:
            summaries.append((i, summary))
        tails.append((run_key, p.key, n, n < SMALL, n < MEDIUM))
        if n < MEDIUM:
            merge_keys.add(p.key)
    # One statement a table (``_rows.py``: one GIL hand-over instead of one per row). SQLite numbers the
    # chunks (NULL ids: consecutive, after the largest), so the summaries take their ids from the last
    # one: one statement fewer than reading the next id first.
    last = insert_rows(conn, _CHUNK_HEAD, chunks)
    assert last is not None
    first = last - len(chunks) + 1
    insert_rows(conn, _SUMMARY_HEAD, [(first + i, *summary[1:]) for i, summary in summaries])
    insert_rows(conn, _TAIL_HEAD, tails, _TAIL_TAIL)
    if merge_keys:
        # The counts after the upsert, of every key that may need a merge, as one row (a RETURNING clause
        # or a plain SELECT would step, and hand the GIL over, once per key).
        keys = json.dumps(sorted(merge_keys), ensure_ascii=False)  # raw UTF-8, nothing to unescape
        (counts,) = conn.execute(_TAIL_COUNTS, (run_key, keys)).fetchone()
        for key, small, medium in sorted(json.loads(counts)):
            if small >= MERGE_AT or medium - small >= MERGE_AT:
                _merge_tail(conn, run_key, key, small, medium)


def _summarise_tail(conn: sqlite3.Connection, run_key: int, keys: list[str]) -> None:
    """Give the trailing small chunks of ``keys`` their summaries (those written without one) before a
    larger chunk ends their run: chunks without a summary stay few, the last ones of their key."""
    marks = ",".join("?" * len(keys))
    for key, small in conn.execute(
        f"SELECT key, small FROM metric_tails WHERE run_key = ? AND key IN ({marks}) AND small > 0",
        (run_key, *keys),
    ).fetchall():
        rows = conn.execute(
            "SELECT c.chunk_id, c.n, c.steps, c.vals, c.timestamps FROM metric_chunks AS c "
            "LEFT JOIN metric_summaries AS s ON s.chunk_id = c.chunk_id "
            "WHERE c.run_key = ? AND c.key = ? AND s.chunk_id IS NULL AND c.chunk_id IN (SELECT chunk_id "
            "FROM metric_chunks WHERE run_key = ? AND key = ? ORDER BY chunk_id DESC LIMIT ?)",
            (run_key, key, run_key, key, small),
        ).fetchall()
        conn.executemany(_INSERT_SUMMARY, [chunk_summary(run_key, key, *row) for row in rows])


def chunk_summary(
    run_key: int, key: str, chunk_id: int, n: int, steps_blob: bytes, vals: bytes, stamps_blob: bytes
) -> tuple[object, ...]:
    """The ``metric_summaries`` row of a stored chunk, from its columns."""
    if n <= 2 * SMALL:
        return small_summary_row(
            chunk_id,
            run_key,
            key,
            decode_small(steps_blob, n),
            list(struct.unpack(f"<{n}d", vals)),
            decode_small(stamps_blob, n),
        )
    steps = decode_ints(steps_blob, n)
    values = np.frombuffer(vals, "<f8").astype(np.float64)
    stamps = decode_ints(stamps_blob, n)
    return summary_row(chunk_id, run_key, key, steps, values, stamps, (steps_blob, stamps_blob))


def fill_summaries(
    conn: sqlite3.Connection, run_key: int, key: str, ids: list[int]
) -> dict[int, tuple[object, ...]]:
    """The summary rows of chunks ``ids`` of a key that were written without one (its last small chunks,
    at most ``MERGE_AT`` of them), computed from their points."""
    out: dict[int, tuple[object, ...]] = {}
    for at in range(0, len(ids), 500):
        part = ids[at : at + 500]
        for row in conn.execute(
            "SELECT chunk_id, n, steps, vals, timestamps FROM metric_chunks "
            f"WHERE chunk_id IN ({','.join('?' * len(part))})",
            part,
        ).fetchall():
            out[int(row[0])] = chunk_summary(run_key, key, *row)
    return out


def _merge_tail(conn: sqlite3.Connection, run_key: int, key: str, small: int, medium: int) -> None:
    if small >= MERGE_AT:
        merged = _merge_last(conn, run_key, key, small)
        medium = medium - small + 1 if merged < MEDIUM else 0
        small = 1 if merged < SMALL else 0
    if medium - small >= MERGE_AT:  # MERGE_AT chunks of SMALL..MEDIUM points (and the tiny ones after them)
        merged = _merge_last(conn, run_key, key, medium)
        small, medium = int(merged < SMALL), int(merged < MEDIUM)
    conn.execute(
        "UPDATE metric_tails SET small = ?, medium = ? WHERE run_key = ? AND key = ?",
        (small, medium, run_key, key),
    )


def _merge_last(conn: sqlite3.Connection, run_key: int, key: str, count: int) -> int:
    """Merge the key's last ``count`` chunks into the first of them; returns its number of points."""
    rows = conn.execute(
        "SELECT chunk_id, n, steps, vals, timestamps FROM metric_chunks WHERE run_key = ? AND key = ? "
        "ORDER BY chunk_id DESC LIMIT ?",
        (run_key, key, count),
    ).fetchall()
    rows.reverse()
    return merge_chunks(conn, run_key, key, rows)


def merge_chunks(conn: sqlite3.Connection, run_key: int, key: str, rows: list[Any]) -> int:
    """Replace consecutive chunks ``rows`` (chunk_id, n, steps, vals, timestamps; in chunk order, no other
    chunk of the key between them) by one chunk in the first one's row."""
    first = int(rows[0][0])
    rest = json.dumps([int(r[0]) for r in rows[1:]])
    conn.execute("DELETE FROM metric_chunks WHERE chunk_id IN (SELECT value FROM json_each(?))", (rest,))
    conn.execute("DELETE FROM metric_summaries WHERE chunk_id IN (SELECT value FROM json_each(?))", (rest,))
    total = sum(int(r[1]) for r in rows)
    if total <= 2 * SMALL:  # a few points: plain Python
        st = [v for r in rows for v in decode_small(r[2], r[1])]
        vals = [v for r in rows for v in struct.unpack(f"<{r[1]}d", r[3])]
        ts = [v for r in rows for v in decode_small(r[4], r[1])]
        blobs = (encode_small(st), struct.pack(f"<{total}d", *vals), encode_small(ts))
        summary = small_summary_row(first, run_key, key, st, vals, ts)
    else:
        steps = np.concatenate([decode_ints(r[2], r[1]) for r in rows])
        values = np.concatenate([np.frombuffer(r[3], "<f8") for r in rows]).astype(np.float64)
        stamps = np.concatenate([decode_ints(r[4], r[1]) for r in rows])
        blobs = (encode_ints(steps), values.astype("<f8").tobytes(), encode_ints(stamps))
        summary = summary_row(first, run_key, key, steps, values, stamps, (blobs[0], blobs[2]))
    conn.execute(
        "UPDATE metric_chunks SET n = ?, min_step = ?, max_step = ?, steps = ?, vals = ?, timestamps = ? "
        "WHERE chunk_id = ?",
        (total, summary[4], summary[5], *blobs, first),
    )
    conn.execute(
        "INSERT OR REPLACE INTO metric_summaries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", summary
    )
    return total


def upgrade_to_4(conn: sqlite3.Connection) -> None:
    """Schema 3 → 4 in place: summaries for every existing chunk, tail counts for every key, and runs of
    small chunks (synchronous logging) merged as new writes would have been. Inside the opening
    transaction; the tables were created by the DDL just before."""
    keys = conn.execute("SELECT DISTINCT run_key, key FROM metric_chunks ORDER BY run_key, key").fetchall()
    for run_key, key in keys:
        sizes = conn.execute(
            "SELECT chunk_id, n FROM metric_chunks WHERE run_key = ? AND key = ? ORDER BY chunk_id",
            (run_key, key),
        ).fetchall()
        # Runs of consecutive chunks under MEDIUM points, of at most CHUNK_CAP/2 points each, are merged.
        runs: list[list[int]] = []
        current: list[int] = []
        total = 0
        for chunk_id, n in sizes:
            if n >= MEDIUM or total + n > CHUNK_CAP // 2:
                runs.append(current)
                current, total = [], 0
            if n < MEDIUM:
                current.append(chunk_id)
                total += n
        runs.append(current)
        merged = {ids[0] for ids in runs if len(ids) > 1}
        for ids in runs:
            if len(ids) > 1:
                rows = [
                    conn.execute(
                        "SELECT chunk_id, n, steps, vals, timestamps FROM metric_chunks WHERE chunk_id = ?",
                        (i,),
                    ).fetchone()
                    for i in ids
                ]
                merge_chunks(conn, run_key, key, rows)
        for chunk_id, n, steps_blob, vals, stamps_blob in conn.execute(
            "SELECT chunk_id, n, steps, vals, timestamps FROM metric_chunks WHERE run_key = ? AND key = ? "
            "ORDER BY chunk_id",
            (run_key, key),
        ).fetchall():
            if chunk_id in merged:
                continue
            steps = decode_ints(steps_blob, n)
            values = np.frombuffer(vals, "<f8").astype(np.float64)
            stamps = decode_ints(stamps_blob, n)
            conn.execute(_INSERT_SUMMARY, summary_row(chunk_id, run_key, key, steps, values, stamps))
        ns = [
            int(r[0])
            for r in conn.execute(
                "SELECT n FROM metric_chunks WHERE run_key = ? AND key = ? ORDER BY chunk_id", (run_key, key)
            )
        ]
        small = medium = 0
        for n in ns:
            small = small + 1 if n < SMALL else 0
            medium = medium + 1 if n < MEDIUM else 0
        conn.execute(
            "INSERT INTO metric_tails (run_key, key, points, small, medium) VALUES (?, ?, ?, ?, ?)",
            (run_key, key, sum(ns), small, medium),
        )
