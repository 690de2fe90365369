"""The brute-force numpy reference for the chart reduction, and random series to check it on."""

from __future__ import annotations

import numpy as np

from asynctrack.store import MetricSeries
from asynctrack.store._buckets import MetricBuckets

SIZES = [1, 1, 1, 2, 5, 63, 64, 65, 130, 1023, 1025, 2100]
START_TIME = 1_700_000_000_000


def make_batches(seed: int, count: int, disorder: float, nonfinite: float, tiny: bool) -> list[MetricSeries]:
    rng = np.random.default_rng(seed)
    out = []
    step = 0
    stamp = START_TIME
    for _ in range(count):
        size = 1 if tiny else int(rng.choice(SIZES))
        if rng.random() < disorder:
            steps = rng.integers(-50, max(step, 0) + 50, size)
        else:
            steps = np.arange(step, step + size) * int(rng.choice([1, 1, 2]))
        step = int(steps.max()) + 1
        values = rng.normal(size=size) * 10
        bad = rng.random(size) < nonfinite
        values[bad] = rng.choice([np.nan, np.inf, -np.inf], int(bad.sum()))
        if rng.random() < 0.3:
            stamps = np.full(size, stamp)  # one timestamp for the batch (log_metric_array)
        elif rng.random() < disorder:
            stamps = stamp + rng.integers(-500, 500, size)
        else:
            stamps = stamp + np.cumsum(rng.integers(0, 3, size))
        stamp = int(stamps.max())
        out.append(MetricSeries("m", values, stamps.astype(np.int64), steps.astype(np.int64)))
    return out


def reference_check(
    result: MetricBuckets,
    batches: list[MetricSeries],
    x_kind: str,
    start: int | None,
    end: int | None,
    n: int,
) -> None:
    values = np.concatenate([b.values for b in batches])
    x = np.concatenate([b.steps if x_kind == "step" else b.timestamps for b in batches])
    shift = START_TIME if x_kind == "relative" else 0
    x = x - shift
    order = np.argsort(x, kind="stable")
    x, values = x[order], values[order]
    keep = np.ones(len(x), bool)
    if start is not None:
        keep &= x >= start
    if end is not None:
        keep &= x <= end
    x, values = x[keep], values[keep]
    assert result.count == len(x)
    assert int(result.counts.sum()) == len(x)
    assert len(result.x) <= n
    assert result.raw == (len(x) <= n)
    if len(x) == 0:
        assert result.x_first is None and result.x_last is None
        return
    assert (result.x_first, result.x_last) == (int(x[0]), int(x[-1]))
    assert np.all(result.counts >= 1)
    assert np.all(np.diff(result.x) >= 0)
    ends = np.cumsum(result.counts)
    starts = ends - result.counts
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        v = values[a:b]
        finite = v[~np.isnan(v)]
        want_min = finite.min() if len(finite) else np.nan
        want_max = finite.max() if len(finite) else np.nan
        assert result.x[i] == x[b - 1], (i, a, b)
        np.testing.assert_array_equal(
            [result.min[i], result.max[i], result.last[i]], [want_min, want_max, v[-1]], err_msg=f"bucket {i}"
        )
        assert result.nan[i] == np.isnan(v).sum()
        assert result.pos_inf[i] == (v == np.inf).sum()
        assert result.neg_inf[i] == (v == -np.inf).sum()
    if result.raw:
        assert np.all(result.counts == 1)
    # The spike property: the largest value in range is in max, whatever the buckets.
    if np.any(~np.isnan(values)):
        assert np.nanmax(result.max) == np.nanmax(values)
