"""The chart reduction and live updates of the embedded store, from the summaries written with each chunk
(``_summaries.py``): the cost follows the number of buckets asked, not the number of points.

A reduction reads the key's summary rows (one per chunk: ranges, order flags and the chunk's record; the
last few small chunks, written without one, are summarised from their points), then per chunk picks what
to read:

- a chunk whose points are all in range, in x order, and not interleaved with any other chunk's points in
  x order (*isolated*: every other chunk lies wholly before or after it, ties on x going by chunk order) is
  a run of consecutive points in the series' x order, so its summary records can stand for its points: the
  whole chunk's record, its 1,024-point groups or its 64-point blocks, the coarsest that still gives a
  bucket at least two units;
- any other chunk in range (out of order, overlapping others, or cut by the range's ends) is read point by
  point: only chunks at the range's ends, or where steps were logged out of order.

Units and points are then put in x order (x, then chunk order, then position) and reduced by
:func:`asynctrack.store._buckets.reduce_units`. The live-update cursor is the key's point count
(``metric_tails.points``), read in the same snapshot.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from asynctrack.store._buckets import (
    MetricBuckets,
    MetricUpdate,
    Units,
    check_bucket_query,
    empty_buckets,
    parse_count_cursor,
    point_units,
    raw_buckets,
    reduce_units,
)
from asynctrack.store._protocol import MetricSeries
from asynctrack.store.sqlite._columns import decode_ints
from asynctrack.store.sqlite._search import snapshot
from asynctrack.store.sqlite._summaries import (
    BLOCK,
    FLAG_STEPS_SORTED,
    FLAG_TIMES_SORTED,
    GROUP,
    SUMMARY,
    fill_summaries,
)
from asynctrack.store.sqlite._writes import run_not_found

__all__ = [
    "Chosen",
    "Fetch",
    "choose_chunks",
    "chunk_units",
    "metric_buckets",
    "metric_updates",
    "plan_levels",
    "reduce_chosen",
]

I8 = npt.NDArray[np.int64]


def _run(conn: sqlite3.Connection, run_id: str) -> tuple[int, int]:
    row = conn.execute("SELECT run_key, start_time FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise run_not_found(run_id)
    return int(row[0]), int(row[1] or 0)


def _points(conn: sqlite3.Connection, run_key: int, key: str) -> int:
    row = conn.execute(
        "SELECT points FROM metric_tails WHERE run_key = ? AND key = ?", (run_key, key)
    ).fetchone()
    return 0 if row is None else int(row[0])


def _isolated(lo: I8, hi: I8, ids: I8) -> npt.NDArray[np.bool_]:
    """For each chunk (x range ``[lo, hi]``), whether every other chunk lies wholly before or after it in
    x order with ties broken by chunk order: chunk D precedes C when ``(hi_D, id_D) < (lo_C, id_C)``."""
    k = len(ids)
    if k == 1:
        return np.ones(1, np.bool_)
    xs = np.concatenate([lo, hi])
    tie = np.concatenate([ids, ids])
    order = np.lexsort((tie, xs))
    pairs_x, pairs_id = xs[order], tie[order]
    new = np.r_[True, (pairs_x[1:] != pairs_x[:-1]) | (pairs_id[1:] != pairs_id[:-1])]
    rank = np.empty(2 * k, np.int64)
    rank[order] = np.cumsum(new)
    rank_lo, rank_hi = rank[:k], rank[k:]
    by_lo = np.argsort(rank_lo, kind="stable")
    hi_sorted, lo_sorted = rank_hi[by_lo], rank_lo[by_lo]
    before = np.r_[-1, np.maximum.accumulate(hi_sorted)[:-1]]
    after = np.r_[np.minimum.accumulate(lo_sorted[::-1])[::-1][1:], np.iinfo(np.int64).max]
    out = np.empty(k, np.bool_)
    out[by_lo] = (before < lo_sorted) & (hi_sorted < after)
    return out


def _record_units(recs: npt.NDArray[Any], wall: bool) -> Units:
    return Units(
        (recs["t0"] if wall else recs["s0"]).astype(np.int64),
        (recs["t1"] if wall else recs["s1"]).astype(np.int64),
        recs["n"].astype(np.int64),
        recs["min"].astype(np.float64),
        recs["max"].astype(np.float64),
        recs["last"].astype(np.float64),
        recs["nan"].astype(np.int64),
        recs["pos_inf"].astype(np.int64),
        recs["neg_inf"].astype(np.int64),
    )


def metric_buckets(
    conn: sqlite3.Connection,
    run_id: str,
    key: str,
    x_kind: str,
    start: float | None,
    end: float | None,
    n_buckets: int,
) -> MetricBuckets:
    check_bucket_query(x_kind, start, end, n_buckets)
    with snapshot(conn):
        run_key, start_time = _run(conn, run_id)
        cursor = str(_points(conn, run_key, key))
        shift = start_time if x_kind == "relative" else 0
        lo = None if start is None else start + shift
        hi = None if end is None else end + shift
        rows = _summary_rows(conn, run_key, key)
        chosen = choose_chunks(rows, x_kind, lo, hi, n_buckets)
        if chosen is None:
            return empty_buckets(key, x_kind, cursor)
        return reduce_chosen(key, x_kind, chosen, _fetcher(conn), lo, hi, n_buckets, cursor, shift)


class Chosen(NamedTuple):
    """The chunks a reduction reads and how: their ids, what to read of each (``plan``: 0 the points, else
    the record size), which are in x order and isolated, and their whole-chunk records."""

    ids: I8
    plan: I8
    in_order: npt.NDArray[np.bool_]
    summaries: list[bytes]


def choose_chunks(
    rows: Sequence[Any], x_kind: str, lo: float | None, hi: float | None, n_buckets: int
) -> Chosen | None:
    """From a key's summary rows ``(chunk_id, n, min_step, max_step, min_ts, max_ts, flags, summary)`` in
    chunk order, the chunks in ``[lo, hi]`` and what to read of each; None when no chunk is in range."""
    if not rows:
        return None
    wall = x_kind != "step"
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    ns = np.fromiter((r[1] for r in rows), np.int64, len(rows))
    xmin = np.fromiter((r[4 if wall else 2] for r in rows), np.int64, len(rows))
    xmax = np.fromiter((r[5 if wall else 3] for r in rows), np.int64, len(rows))
    flags = np.fromiter((r[6] for r in rows), np.int64, len(rows))
    keep = np.ones(len(rows), np.bool_)
    inside = np.ones(len(rows), np.bool_)
    if lo is not None:
        keep &= xmax >= lo
        inside &= xmin >= lo
    if hi is not None:
        keep &= xmin <= hi
        inside &= xmax <= hi
    chosen = np.flatnonzero(keep)
    if len(chosen) == 0:
        return None
    ordered = (flags[chosen] & (FLAG_TIMES_SORTED if wall else FLAG_STEPS_SORTED)) != 0
    in_order = ordered & _isolated(xmin[chosen], xmax[chosen], ids[chosen])
    usable = in_order & inside[chosen]
    estimate = int(ns[chosen].sum())
    plan = plan_levels(ns[chosen], usable, estimate, n_buckets)
    return Chosen(ids[chosen], plan, in_order, [bytes(rows[i][7]) for i in chosen.tolist()])


def reduce_chosen(
    key: str,
    x_kind: str,
    chosen: Chosen,
    fetch: Fetch,
    lo: float | None,
    hi: float | None,
    n_buckets: int,
    cursor: str,
    shift: int,
) -> MetricBuckets:
    """The reduction of the chosen chunks (the points themselves when few enough)."""
    wall = x_kind != "step"
    units = chunk_units(fetch, chosen.ids, chosen.plan, chosen.in_order, chosen.summaries, wall, lo, hi)
    if int(units.n.sum()) <= n_buckets:
        if bool(np.any(units.n > 1)):
            everything = np.zeros(len(chosen.ids), np.int64)
            units = chunk_units(
                fetch, chosen.ids, everything, chosen.in_order, chosen.summaries, wall, lo, hi
            )
        if len(units) <= n_buckets:
            return raw_buckets(key, x_kind, units, cursor, shift)
    return reduce_units(key, x_kind, units, lo, hi, n_buckets, cursor, shift)


def _summary_rows(conn: sqlite3.Connection, run_key: int, key: str) -> list[Any]:
    """(chunk_id, n, min_step, max_step, min_ts, max_ts, flags, summary) of every chunk of the key, in
    chunk order; the last small chunks written without a summary get theirs computed here."""
    rows = conn.execute(
        "SELECT c.chunk_id, s.n, s.min_step, s.max_step, s.min_ts, s.max_ts, s.flags, s.summary "
        "FROM metric_chunks AS c LEFT JOIN metric_summaries AS s ON s.chunk_id = c.chunk_id "
        "WHERE c.run_key = ? AND c.key = ? ORDER BY c.chunk_id",
        (run_key, key),
    ).fetchall()
    missing = [int(r[0]) for r in rows if r[1] is None]
    if missing:
        made = fill_summaries(conn, run_key, key, missing)
        rows = [r if r[1] is not None else (r[0], *made[int(r[0])][3:10]) for r in rows]
    return rows


# What to read of a chunk: 0 its points, else the size of the records standing for them (-1: the chunk's).
_WHOLE = -1
# The first step and first timestamp of a SUMMARY record (after min, max, last; then s0, s1, t0).
_S0 = struct.Struct("<24xq")
_T0 = struct.Struct("<40xq")


def plan_levels(ns: I8, usable: npt.NDArray[np.bool_], estimate: int, n_buckets: int) -> I8:
    plan = np.zeros(len(ns), np.int64)
    if estimate <= n_buckets:
        return plan
    half = estimate / n_buckets / 2  # units no larger than this give each bucket two or more
    for level, fits in (
        (_WHOLE, ns <= half),
        (GROUP, (ns > GROUP) & (GROUP <= half)),
        (BLOCK, (ns > BLOCK) & (BLOCK <= half)),
    ):
        take = usable & fits & (plan == 0)
        plan[take] = level
    return plan


#: ``fetch(what, chunk_ids)``: for ``"groups"`` / ``"blocks"`` the rows ``(chunk_id, records blob)``, for
#: ``"points"`` the rows ``(chunk_id, n, steps, vals, timestamps)`` of those chunks (any order). The one
#: data access of :func:`chunk_units`, so that every store keeping these summaries shares the reduction.
Fetch = Callable[[str, list[int]], Sequence[Any]]


def _fetcher(conn: sqlite3.Connection) -> Fetch:
    def fetch(what: str, ids: list[int]) -> Sequence[Any]:
        if what == "points":
            return _by_id(conn, "SELECT chunk_id, n, steps, vals, timestamps FROM metric_chunks", ids)
        return _by_id(conn, f"SELECT chunk_id, {what} FROM metric_summaries", ids)

    return fetch


def chunk_units(
    fetch: Fetch,
    ids: I8,
    plan: I8,
    in_order: npt.NDArray[np.bool_],
    summaries: list[bytes],
    wall: bool,
    lo: float | None,
    hi: float | None,
) -> Units:
    """The units of the chosen chunks, in x order. A chunk in order and isolated is a run of consecutive
    units already (placed whole, by its first x and chunk id); only the points of other chunks are sorted,
    and each falls wholly before or after every such run."""
    # Chunks in order: (first x, chunk id, their records as bytes, or their points as Units).
    runs: list[tuple[int, int, bytes | Units]] = []
    loose: list[tuple[I8, I8, Units]] = []  # (chunk ids, positions, points) of the others
    first = _T0 if wall else _S0
    for i in np.flatnonzero(plan == _WHOLE).tolist():
        runs.append((first.unpack_from(summaries[i])[0], int(ids[i]), summaries[i]))
    for level, column in ((GROUP, "groups"), (BLOCK, "blocks")):
        wanted = [int(c) for c in ids[plan == level]]
        for chunk_id, blob in fetch(column, wanted) if wanted else ():
            runs.append((first.unpack_from(blob)[0], chunk_id, blob))
    ordered = {int(c) for c in ids[in_order]}
    raw = [int(c) for c in ids[plan == 0]]
    for chunk_id, n, steps, vals, stamps in fetch("points", raw) if raw else ():
        x = decode_ints(stamps if wall else steps, n)
        values = np.frombuffer(vals, "<f8").astype(np.float64)
        if lo is not None or hi is not None:
            mask = np.ones(n, np.bool_)
            if lo is not None:
                mask &= x >= lo
            if hi is not None:
                mask &= x <= hi
            where = np.flatnonzero(mask)
            x, values = x[where], values[where]
        else:
            where = np.arange(n, dtype=np.int64)
        if len(x) == 0:
            continue
        if chunk_id in ordered:
            runs.append((int(x[0]), chunk_id, point_units(x, values)))
        else:
            loose.append(
                (np.full(len(x), chunk_id, np.int64), where.astype(np.int64), point_units(x, values))
            )
    runs.sort(key=lambda r: (r[0], r[1]))
    if not loose:
        # Consecutive record runs become one array: one numpy conversion for all of them.
        parts: list[Units] = []
        pending: list[bytes] = []
        for _, _, part in runs:
            if isinstance(part, bytes):
                pending.append(part)
                continue
            if pending:
                parts.append(_record_units(np.frombuffer(b"".join(pending), SUMMARY), wall))
                pending = []
            parts.append(part)
        if pending:
            parts.append(_record_units(np.frombuffer(b"".join(pending), SUMMARY), wall))
        return Units.concat(parts)
    placed = [
        (x0, c, _record_units(np.frombuffer(part, SUMMARY), wall) if isinstance(part, bytes) else part)
        for x0, c, part in runs
    ]
    points = Units.concat([u for _, _, u in loose])
    chunk_of = np.concatenate([c for c, _, _ in loose])
    position = np.concatenate([p for _, p, _ in loose])
    k = len(points)
    keys_x = np.concatenate([points.x1, np.array([r[0] for r in placed], np.int64)])
    keys_id = np.concatenate([chunk_of, np.array([r[1] for r in placed], np.int64)])
    keys_pos = np.concatenate([position, np.full(len(placed), -1, np.int64)])
    order = np.lexsort((keys_pos, keys_id, keys_x))
    pieces: list[Units] = []
    start = 0
    for at in np.flatnonzero(order >= k).tolist():
        if at > start:
            pieces.append(points.take(order[start:at]))
        pieces.append(placed[int(order[at]) - k][2])
        start = at + 1
    if start < len(order):
        pieces.append(points.take(order[start:]))
    return Units.concat(pieces)


def _by_id(conn: sqlite3.Connection, select: str, ids: list[int]) -> list[Any]:
    if not ids:
        return []
    out: list[Any] = []
    for at in range(0, len(ids), 500):
        part = ids[at : at + 500]
        out.extend(conn.execute(f"{select} WHERE chunk_id IN ({','.join('?' * len(part))})", part).fetchall())
    return out


def metric_updates(conn: sqlite3.Connection, run_id: str, key: str, cursor: str | None) -> MetricUpdate:
    """Points after the first ``cursor`` in logging order (the newest chunks are read, newest first, only
    as far back as needed)."""
    with snapshot(conn):
        run_key, _ = _run(conn, run_id)
        total = _points(conn, run_key, key)
        empty = MetricSeries(key, np.empty(0, np.float64), np.empty(0, np.int64), np.empty(0, np.int64))
        seen = None if cursor is None else parse_count_cursor(cursor, key)
        if seen is None or seen == total:
            return MetricUpdate(empty, str(total))
        reset = not 0 <= seen <= total
        need = total if reset else total - seen
        chunks = []
        have = 0
        for n, steps, vals, stamps in conn.execute(
            "SELECT n, steps, vals, timestamps FROM metric_chunks WHERE run_key = ? AND key = ? "
            "ORDER BY chunk_id DESC",
            (run_key, key),
        ):
            chunks.append((decode_ints(steps, n), np.frombuffer(vals, "<f8"), decode_ints(stamps, n)))
            have += n
            if have >= need:
                break
        chunks.reverse()
        steps_all = np.concatenate([c[0] for c in chunks])[-need:]
        values = np.concatenate([c[1] for c in chunks]).astype(np.float64)[-need:]
        stamps_all = np.concatenate([c[2] for c in chunks])[-need:]
        return MetricUpdate(MetricSeries(key, values, stamps_all, steps_all), str(total), reset=reset)
