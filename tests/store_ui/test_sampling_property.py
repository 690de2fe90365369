"""get-history-bulk-interval's sampling from the chunk summaries equals MLflow's rule applied to the whole
history (``sample_steps``), for histories in order (searched without reading them: progressions, constants,
raw steps, gaps, ties across chunks) and out of order (read whole)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynctrack.store import AbstractStore, MetricSeries
from asynctrack.store.sqlite import SqliteStore


def _batches(seed: int, count: int, shuffle: bool) -> list[MetricSeries]:
    rng = np.random.default_rng(seed)
    out = []
    step = int(rng.integers(-100, 100))
    for _ in range(count):
        size = int(rng.choice([1, 2, 3, 17, 64, 100, 1500]))
        kind = rng.integers(0, 4)
        if kind == 0:  # a progression
            stride = int(rng.choice([1, 2, 7]))
            steps = step + stride * np.arange(size)
        elif kind == 1:  # one step repeated (a tie across the chunk, maybe with the previous one)
            steps = np.full(size, step)
        else:  # raw, non-decreasing, with gaps
            steps = step + np.cumsum(rng.integers(0, 4, size))
        if shuffle and rng.random() < 0.5:
            steps = rng.permutation(steps)
        step = int(steps.max()) + int(rng.integers(0, 3))
        stamps = (
            1_000 + np.arange(size) * int(rng.integers(0, 3))
            if rng.random() < 0.5
            else rng.integers(0, 10**6, size)
        )
        out.append(MetricSeries("m", rng.normal(size=size), stamps.astype(np.int64), steps.astype(np.int64)))
    return out


@pytest.mark.slow
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 10),
    shuffle=st.booleans(),
    queries=st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3, 10, 320, 2500]),
            st.one_of(st.none(), st.integers(-200, 20_000)),
            st.one_of(st.none(), st.integers(-200, 20_000)),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_sampled_points_equal_mlflows_rule(
    seed: int, count: int, shuffle: bool, queries: list[tuple[int, int | None, int | None]]
) -> None:
    batches = _batches(seed, count, shuffle)

    async def body() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = await SqliteStore.open(str(Path(tmp) / "s.db"), str(Path(tmp) / "a"))
            try:
                run_id = (await store.create_run("0", "u", 0, [], "r")).info.run_id
                for b in batches:
                    await store.log_batch(run_id, [b], [], [])
                for max_results, start, end in queries:
                    if start is not None and end is not None and start > end:
                        start, end = end, start
                    got = await store.sample_metric(run_id, "m", max_results, start, end)
                    want = await AbstractStore.sample_metric(store, run_id, "m", max_results, start, end)
                    np.testing.assert_array_equal(got.steps, want.steps)
                    np.testing.assert_array_equal(got.values, want.values)
                    np.testing.assert_array_equal(got.timestamps, want.timestamps)
            finally:
                await store.aclose()

    asyncio.run(body())
