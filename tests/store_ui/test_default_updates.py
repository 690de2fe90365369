"""The protocol's default live updates (every store without its own: the REST store, future ones): a step
high-water mark, sending the points of larger steps and the extra ones at the mark's step."""

from __future__ import annotations

import re

import numpy as np
import pytest

from asynctrack.exceptions import MlflowException
from asynctrack.store import AbstractStore, MetricSeries
from asynctrack.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


def _points(steps: list[int], values: list[float]) -> MetricSeries:
    return MetricSeries(
        "m", np.array(values, float), np.zeros(len(steps), np.int64), np.array(steps, np.int64)
    )


async def test_default_updates_follow_the_step_high_water_mark(store: SqliteStore) -> None:
    run_id = (await store.create_run("0", "u", 0, [], "r")).info.run_id
    start = await AbstractStore.metric_updates(store, run_id, "m", None)
    assert len(start.series) == 0 and not start.reset
    await store.log_batch(run_id, [_points([0, 1, 2], [1.0, 2.0, 3.0])], [], [])
    first = await AbstractStore.metric_updates(store, run_id, "m", start.cursor)
    assert first.series.steps.tolist() == [0, 1, 2]
    await store.log_batch(run_id, [_points([2, 3, 4], [30.0, 4.0, 5.0])], [], [])  # one more at step 2
    second = await AbstractStore.metric_updates(store, run_id, "m", first.cursor)
    assert second.series.steps.tolist() == [2, 3, 4] and second.series.values.tolist() == [30.0, 4.0, 5.0]
    idle = await AbstractStore.metric_updates(store, run_id, "m", second.cursor)
    assert len(idle.series) == 0 and idle.cursor == second.cursor
    for bad in ("garbage", "2", "1:x", ":1", "1:-1", "0x2:1"):  # a cursor it never gave out: refused
        with pytest.raises(MlflowException, match=f"Invalid cursor '{re.escape(bad)}' for metric 'm'") as err:
            await AbstractStore.metric_updates(store, run_id, "m", bad)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    for bad in ("garbage", "-1", "1.0", " 3", "\u0661"):
        with pytest.raises(MlflowException, match="Invalid cursor"):
            await store.metric_updates(run_id, "m", bad)
    # the SQLite store's own cursor (logging order) sees the same points
    own = await store.metric_updates(run_id, "m", "0")
    assert own.series.steps.tolist() == [0, 1, 2, 2, 3, 4]


async def test_default_buckets_relative_time(store: SqliteStore) -> None:
    run_id = (await store.create_run("0", "u", 1000, [], "r")).info.run_id
    s = MetricSeries(
        "m", np.arange(10.0), 1000 + 10 * np.arange(10, dtype=np.int64), np.arange(10, dtype=np.int64)
    )
    await store.log_batch(run_id, [s], [], [])
    for impl in (store.metric_buckets, lambda *a: AbstractStore.metric_buckets(store, *a)):
        b = await impl(run_id, "m", "relative", 20, 50, 100)
        assert b.raw and b.x.tolist() == [20, 30, 40, 50] and b.last.tolist() == [2.0, 3.0, 4.0, 5.0]
        c = await impl(run_id, "m", "relative", None, None, 2)
        assert not c.raw and c.counts.sum() == 10 and c.max.tolist()[-1] == 9.0
