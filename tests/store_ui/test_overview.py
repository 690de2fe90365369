"""experiment_stats and run_keys: the SQLite store's one-query answers equal the protocol's defaults
(built on search_runs, as every other store gets them)."""

from __future__ import annotations

import numpy as np
import pytest

from asynctrack.entities import Param, RunTag
from asynctrack.store import AbstractStore, MetricSeries
from asynctrack.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


async def test_stats_and_keys_match_the_defaults(store: SqliteStore) -> None:
    a = await store.create_experiment("a")
    b = await store.create_experiment("b")
    empty = await store.create_experiment("empty")
    for i in range(7):
        run = await store.create_run(a if i % 2 else b, "u", 100 * i, [RunTag("t", "x")], None)
        one = MetricSeries(f"m{i % 3}", np.array([1.0]), np.array([5], np.int64), np.array([0], np.int64))
        await store.log_batch(run.info.run_id, [one], [Param(f"p{i}", "v")], [RunTag(f"tag{i % 2}", "y")])
        if i == 3:
            await store.update_run_info(run.info.run_id, "FINISHED", 10_000, None)
        if i == 5:
            await store.delete_run(run.info.run_id)
    ids = [a, b, empty, "999"]
    fast = await store.experiment_stats(ids)
    slow = await AbstractStore.experiment_stats(store, ids)
    assert fast == slow
    assert fast[a].run_count == 2 and fast[a].last_activity == 10_000  # runs 1, 3 (5 is deleted)
    assert fast[b].run_count == 4 and fast[b].last_activity == 600
    assert fast[empty].run_count == 0 and fast[empty].last_activity is None
    for which in ([a], [b], [a, b], [empty], []):
        assert await store.run_keys(which) == await AbstractStore.run_keys(store, which)
    keys = await store.run_keys([a])
    assert keys.params == ["p1", "p3"]  # p5's run is deleted
    assert keys.metrics == ["m0", "m1"]
    assert keys.tags == ["mlflow.runName", "t", "tag1"]
