"""Choosing which points of a long metric history a chart needs: MLflow's ``get-history-bulk-interval`` rule.

MLflow 3.17.2's SQL store samples *rows*, not distinct steps: the points in ``[start_step, end_step]``,
ordered by (step, timestamp, value), are cut into ``max_results`` buckets as SQL's ``NTILE`` cuts them (the
first ``n % k`` buckets one row longer), the first row of each bucket is kept, and the last row in range
replaces the last one kept so both ends survive. Ten points with ``max_results=5`` give positions
0, 2, 4, 6, 9; ``max_results=1`` gives the last point alone; ``n <= max_results`` gives every point.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["bucket_starts", "sample_steps"]


def bucket_starts(n: int, k: int) -> npt.NDArray[np.int64]:
    """Positions MLflow keeps among ``n`` ordered rows for ``max_results=k``: each ``NTILE(k)`` bucket's
    first row, the last of them replaced by row ``n - 1``; every row when ``n <= k``."""
    if n <= k:
        return np.arange(n, dtype=np.int64)
    q, r = divmod(n, k)
    i = np.arange(k, dtype=np.int64)
    starts = i * q + np.minimum(i, r)
    starts[-1] = n - 1
    return starts


def sample_steps(
    steps: np.ndarray[Any, Any],
    max_points: int,
    start_step: int | None = None,
    end_step: int | None = None,
    timestamps: np.ndarray[Any, Any] | None = None,
    values: np.ndarray[Any, Any] | None = None,
) -> npt.NDArray[np.intp]:
    """Indexes of the points MLflow returns for ``max_results=max_points`` among those whose steps lie in
    ``[start_step, end_step]``, in MLflow's order (step, then timestamp, then value; NaN sorting as MLflow
    stores it, value 0 and after a real 0).

    ``steps`` must be sorted (histories are returned in step order); ``timestamps`` and ``values`` break
    ties between points of one step as MLflow does (without them, ties keep their order).
    """
    lo = 0 if start_step is None else int(np.searchsorted(steps, start_step, side="left"))
    hi = len(steps) if end_step is None else int(np.searchsorted(steps, end_step, side="right"))
    if hi <= lo:
        return np.arange(0, dtype=np.intp)
    order = np.arange(lo, hi, dtype=np.intp)
    if timestamps is not None and values is not None and hi - lo > 1:
        window = slice(lo, hi)
        v = np.asarray(values[window], np.float64)
        nan = np.isnan(v)
        keys = (nan, np.where(nan, 0.0, v), timestamps[window], steps[window])
        order = np.lexsort(keys).astype(np.intp) + lo
    picked: npt.NDArray[np.intp] = order[bucket_starts(hi - lo, max(1, max_points))]
    return picked
