"""The chart reduction against a brute-force numpy reference (Hypothesis): random series written in
random batches (tiny synchronous ones that get merged, large ones with block and group summaries, steps out
of order, NaN and infinities, tied timestamps), random ranges and bucket counts. Every bucket's count,
min, max, last, x and NaN/inf counts must equal the reference's over exactly the points it holds: the
points in range in x order (x, then logging order), cut where the returned counts say."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from bucket_reference import START_TIME, make_batches, reference_check
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postgres_db import STORE_BACKENDS, backend_uri, open_test_store

from asynctrack.store import AbstractStore

queries = st.lists(
    st.tuples(
        st.sampled_from(["step", "wall", "relative"]),
        st.one_of(st.none(), st.integers(-100, 12_000)),
        st.one_of(st.none(), st.integers(0, 15_000)),
        st.sampled_from([1, 2, 3, 7, 50, 100, 500, 5000]),
    ),
    min_size=1,
    max_size=6,
)


@pytest.fixture(params=STORE_BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where each example's store is: ``sqlite`` (a new file per example) or a PostgreSQL database of
    this test (each example logs to a run of its own)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    with backend_uri("postgres", str(tmp_path)) as uri:
        yield uri


@pytest.mark.slow  # generated series against the reference per store (~12 s)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 12),
    disorder=st.sampled_from([0.0, 0.0, 0.2, 1.0]),
    nonfinite=st.sampled_from([0.0, 0.01, 0.5]),
    tiny=st.integers(0, 80),
    qs=queries,
)
def test_reduction_equals_reference(
    target: str,
    seed: int,
    count: int,
    disorder: float,
    nonfinite: float,
    tiny: int,
    qs: list[tuple[str, int | None, int | None, int]],
) -> None:
    batches = make_batches(seed, count, disorder, nonfinite, False)
    if tiny:
        # Synchronous-style one-point writes, which the store writes without summaries and merges as they
        # pile up: a third before the larger writes (whose first one ends their run), the rest after.
        small = make_batches(seed + 1, tiny, disorder, nonfinite, True)
        batches = small[: tiny // 3] + batches + small[tiny // 3 :]

    async def body() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            where = f"sqlite:///{tmp}/s.db" if target == "sqlite" else target
            store = await open_test_store(where, str(Path(tmp) / "a"))
            try:
                run = await store.create_run("0", "u", START_TIME, [], "r")
                run_id = run.info.run_id
                for b in batches:
                    await store.log_batch(run_id, [b], [], [])
                for x_kind, start, end, n in qs:
                    if start is not None and end is not None and x_kind != "step":
                        start, end = start * 3 - 2000, end * 3  # timestamps spread wider than steps
                    if start is not None and end is not None and start > end:
                        start, end = end, start
                    if x_kind == "wall":
                        start = None if start is None else start + START_TIME
                        end = None if end is None else end + START_TIME
                    got = await store.metric_buckets(run_id, "m", x_kind, start, end, n)
                    reference_check(got, batches, x_kind, start, end, n)
                    if x_kind == "step":  # the protocol's default (from the whole history) agrees
                        default = await AbstractStore.metric_buckets(
                            store, run_id, "m", x_kind, start, end, n
                        )
                        reference_check(default, batches, x_kind, start, end, n)
                total = sum(len(b) for b in batches)
                assert (await store.metric_buckets(run_id, "m")).cursor == str(total)
                for seen in {0, total // 2, max(total - 1, 0), total}:
                    update = await store.metric_updates(run_id, "m", str(seen))
                    want = np.concatenate([b.values for b in batches])[seen:]
                    np.testing.assert_array_equal(update.series.values, want)
                    assert update.cursor == str(total) and not update.reset
                series = await store.get_metric_series(run_id, "m")
                allsteps = np.concatenate([b.steps for b in batches])
                order = np.argsort(allsteps, kind="stable")
                np.testing.assert_array_equal(series.steps, allsteps[order])
                np.testing.assert_array_equal(
                    series.values, np.concatenate([b.values for b in batches])[order]
                )
            finally:
                await store.aclose()

    asyncio.run(body())
