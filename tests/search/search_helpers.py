"""Helpers for search tests: runs written through the store's own API, and paging to the end."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Mapping, Sequence

import numpy as np
import postgres_db

from asynctrack.entities import Param, Run, RunTag, ViewType
from asynctrack.store import AbstractStore, MetricSeries
from asynctrack.store.sqlite._search import SEARCH_DDL

MetricValue = float | Sequence[float]


def drop_search_indexes(path: str) -> None:
    """Remove the indexes ``SEARCH_DDL`` creates (as in a database from before them): plans change, answers
    must not."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for name in re.findall(r"CREATE INDEX IF NOT EXISTS (\w+)", SEARCH_DDL):
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.commit()


def _dsn(store: AbstractStore) -> str | None:
    """The PostgreSQL store's URI; None for the embedded store (whose file is ``store.path``)."""
    config = getattr(store, "config", None)
    return None if config is None else str(config.dsn)


def raw_sql(store: AbstractStore, sql: str, *args: object) -> None:
    """One statement (``?`` placeholders) from a connection of its own, as another tool would: a plain
    sqlite3 connection to the embedded store's file, or a new connection to the PostgreSQL database."""
    dsn = _dsn(store)
    if dsn is not None:
        postgres_db.execute(dsn, sql, args)
        return
    with contextlib.closing(sqlite3.connect(store.path)) as conn:  # type: ignore[attr-defined]
        conn.execute(sql, args)
        conn.commit()


def dump(store: AbstractStore) -> str:
    """The whole database as text (equal dumps: nothing changed)."""
    dsn = _dsn(store)
    if dsn is not None:
        return postgres_db.dump(dsn)
    with contextlib.closing(sqlite3.connect(store.path)) as conn:  # type: ignore[attr-defined]
        return "\n".join(conn.iterdump())


def delete_runs(store: AbstractStore, run_ids: Sequence[str]) -> None:
    """Mark runs deleted behind the store's back (as raw_sql)."""
    for r in run_ids:
        raw_sql(store, "UPDATE runs SET lifecycle_stage = 'deleted' WHERE run_id = ?", r)


def series(key: str, values: MetricValue) -> MetricSeries:
    """A metric's points: one value, or a history whose last value (largest step) is the latest."""
    vals = [values] if isinstance(values, int | float) else list(values)
    n = len(vals)
    return MetricSeries(
        key,
        np.asarray(vals, np.float64),
        np.full(n, 1000, np.int64),
        np.arange(n, dtype=np.int64),
    )


async def make_run(
    store: AbstractStore,
    experiment_id: str,
    *,
    name: str,
    start_time: int,
    user: str = "user",
    metrics: Mapping[str, MetricValue] | None = None,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    status: str | None = None,
    end_time: int | None = None,
) -> str:
    """Create a run and log its data through the store API; returns the run id."""
    run = await store.create_run(experiment_id, user, start_time, [], name)
    run_id = run.info.run_id
    await store.log_batch(
        run_id,
        [series(k, v) for k, v in (metrics or {}).items()],
        [Param(k, v) for k, v in (params or {}).items()],
        [RunTag(k, v) for k, v in (tags or {}).items()],
    )
    if status is not None or end_time is not None:
        await store.update_run_info(run_id, status, end_time, None)
    return run_id


async def search_all(
    store: AbstractStore,
    experiment_ids: Sequence[str],
    filter_string: str = "",
    order_by: Sequence[str] = (),
    view: int = ViewType.ACTIVE_ONLY,
    page_size: int = 1000,
) -> list[Run]:
    """Every page of a run search, concatenated; fails fast if paging stops making progress."""
    out: list[Run] = []
    token: str | None = None
    seen: set[str] = set()
    while True:
        runs, token = await store.search_runs(experiment_ids, filter_string, view, page_size, order_by, token)
        out.extend(runs)
        if token is None:
            return out
        assert runs, "a page token was returned after an empty page"
        assert token not in seen, "paging returned the same token twice"
        seen.add(token)
        assert len(seen) <= 10_000, "paging does not end"
