"""The web UI's reads for the PostgreSQL store: chart reductions from the chunk summaries, live updates,
and the lists' statistics and distinct keys.

The reduction is the embedded store's (``store/sqlite/_buckets.py``: ``choose_chunks``, ``chunk_units``,
``reduce_chosen``): the summary rows of the key are read, the chunks to read and at which level are
chosen, then exactly the records or points that plan needs are fetched in one query per level (the plan's
``fetch`` reads them from what was fetched), so the answers are the same and the cost follows the
number of buckets, not of points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import numpy as np

from asynctrack.store._buckets import (
    MetricBuckets,
    MetricUpdate,
    check_bucket_query,
    empty_buckets,
    parse_count_cursor,
    raw_buckets,
    reduce_units,
)
from asynctrack.store._overview import ExperimentStats, RunKeys
from asynctrack.store._protocol import MetricSeries
from asynctrack.store.postgres._reads import empty_series, run_key_of, series_from_chunks
from asynctrack.store.postgres._search import experiment_keys
from asynctrack.store.postgres._writes import KeyIds
from asynctrack.store.sqlite._buckets import Fetch, choose_chunks, chunk_units
from asynctrack.store.sqlite._summaries import BLOCK, GROUP

__all__ = ["experiment_stats", "metric_buckets", "metric_updates", "run_keys"]


async def _points(conn: asyncpg.Connection, run_key: int, key_id: int | None) -> int:
    if key_id is None:
        return 0
    found = await conn.fetchval(
        "SELECT points FROM metric_tails WHERE run_key = $1 AND key_id = $2", run_key, key_id
    )
    return int(found or 0)


async def _prefetch(conn: asyncpg.Connection, ids: np.ndarray[Any, Any], plan: np.ndarray[Any, Any]) -> Fetch:
    """Fetch what ``plan`` reads of chunks ``ids`` (groups, blocks or points) and answer from it."""
    fetched: dict[str, list[Any]] = {}
    for level, column in ((GROUP, "groups"), (BLOCK, "blocks")):
        wanted = [int(c) for c in ids[plan == level]]
        if wanted:
            fetched[column] = list(
                await conn.fetch(
                    f"SELECT chunk_id, {column} FROM metric_chunks WHERE chunk_id = ANY($1::int8[])", wanted
                )
            )
    raw = [int(c) for c in ids[plan == 0]]
    if raw:
        fetched["points"] = list(
            await conn.fetch(
                "SELECT chunk_id, n, steps, vals, timestamps FROM metric_chunks "
                "WHERE chunk_id = ANY($1::int8[])",
                raw,
            )
        )

    def fetch(what: str, chunk_ids: list[int]) -> Sequence[Any]:
        wanted = set(chunk_ids)
        return [r for r in fetched.get(what, ()) if r[0] in wanted]

    return fetch


async def metric_buckets(
    conn: asyncpg.Connection,
    keys: KeyIds,
    run_id: str,
    key: str,
    x_kind: str,
    start: float | None,
    end: float | None,
    n_buckets: int,
) -> MetricBuckets:
    check_bucket_query(x_kind, start, end, n_buckets)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        run_key, start_time = await run_key_of(conn, run_id)
        key_id = await keys.lookup(conn, key)
        cursor = str(await _points(conn, run_key, key_id))
        shift = start_time if x_kind == "relative" else 0
        lo = None if start is None else start + shift
        hi = None if end is None else end + shift
        if key_id is None:
            return empty_buckets(key, x_kind, cursor)
        rows = await conn.fetch(
            "SELECT chunk_id, n, min_step, max_step, min_ts, max_ts, flags, summary FROM metric_chunks "
            "WHERE run_key = $1 AND key_id = $2 ORDER BY chunk_id",
            run_key,
            key_id,
        )
        chosen = choose_chunks(rows, x_kind, lo, hi, n_buckets)
        if chosen is None:
            return empty_buckets(key, x_kind, cursor)
        # As store/sqlite/_buckets.reduce_chosen, with each plan's data fetched before it is used.
        wall = x_kind != "step"
        fetch = await _prefetch(conn, chosen.ids, chosen.plan)
        units = chunk_units(fetch, chosen.ids, chosen.plan, chosen.in_order, chosen.summaries, wall, lo, hi)
        if int(units.n.sum()) <= n_buckets:
            if bool(np.any(units.n > 1)):  # few points: the points themselves
                everything = np.zeros(len(chosen.ids), np.int64)
                fetch = await _prefetch(conn, chosen.ids, everything)
                units = chunk_units(
                    fetch, chosen.ids, everything, chosen.in_order, chosen.summaries, wall, lo, hi
                )
            if len(units) <= n_buckets:
                return raw_buckets(key, x_kind, units, cursor, shift)
        return reduce_units(key, x_kind, units, lo, hi, n_buckets, cursor, shift)


async def metric_updates(
    conn: asyncpg.Connection, keys: KeyIds, run_id: str, key: str, cursor: str | None
) -> MetricUpdate:
    """Points after the first ``cursor`` in logging order (chunk order), as the embedded store: the
    newest chunks are read, newest first, only as far back as needed."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        run_key, _ = await run_key_of(conn, run_id)
        key_id = await keys.lookup(conn, key)
        total = await _points(conn, run_key, key_id)
        seen = None if cursor is None else parse_count_cursor(cursor, key)
        if seen is None or seen == total or key_id is None:
            return MetricUpdate(empty_series(key), str(total))
        reset = not 0 <= seen <= total
        need = total if reset else total - seen
        chunks = []
        have = 0
        async for row in conn.cursor(
            "SELECT n, steps, vals, timestamps FROM metric_chunks WHERE run_key = $1 AND key_id = $2 "
            "ORDER BY chunk_id DESC",
            run_key,
            key_id,
            prefetch=16,
        ):
            chunks.append(row)
            have += row[0]
            if have >= need:
                break
        chunks.reverse()
        whole = series_from_chunks(key, chunks, sort=False)
        tail = MetricSeries(key, whole.values[-need:], whole.timestamps[-need:], whole.steps[-need:])
        return MetricUpdate(tail, str(total), reset=reset)


async def experiment_stats(
    conn: asyncpg.Connection, experiment_ids: Sequence[str]
) -> dict[str, ExperimentStats]:
    ids = experiment_keys(experiment_ids)
    out = {str(i): ExperimentStats() for i in ids}
    for experiment_id, count, last in await conn.fetch(
        "SELECT experiment_id, count(*), max(greatest(coalesce(start_time, 0), coalesce(end_time, 0))) "
        "FROM runs WHERE experiment_id = ANY($1::int8[]) AND lifecycle_stage = 'active' "
        "GROUP BY experiment_id",
        ids,
    ):
        out[str(experiment_id)] = ExperimentStats(int(count), int(last) if last else None)
    return out


# Distinct keys by a loose index scan of the (key, value) index: one seek per distinct key; each kept if
# some active run of the experiments has it.
_DISTINCT = """
WITH RECURSIVE k(key) AS (
    SELECT min({column}) FROM {table}
    UNION ALL
    SELECT (SELECT min({column}) FROM {table} WHERE {column} > k.key) FROM k WHERE k.key IS NOT NULL
)
SELECT {label} FROM k {join} WHERE k.key IS NOT NULL AND EXISTS (
    SELECT 1 FROM {table} AS t JOIN runs AS r ON r.run_key = t.run_key
    WHERE t.{column} = k.key AND r.lifecycle_stage = 'active' AND r.experiment_id = ANY($1::int8[])
)
"""


async def run_keys(conn: asyncpg.Connection, experiment_ids: Sequence[str]) -> RunKeys:
    ids = experiment_keys(experiment_ids)
    found: dict[str, list[str]] = {}
    for table, column in (("params", "key"), ("latest_metrics", "key_id"), ("tags", "key")):
        if column == "key_id":
            sql = _DISTINCT.format(
                table=table, column=column, label="m.key", join="JOIN metric_keys AS m ON m.key_id = k.key"
            )
        else:
            sql = _DISTINCT.format(table=table, column=column, label="k.key", join="")
        found[table] = sorted(str(row[0]) for row in await conn.fetch(sql, ids))
    return RunKeys(found["params"], found["latest_metrics"], found["tags"])
