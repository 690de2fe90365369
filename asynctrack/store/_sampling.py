"""Choosing which points of a long metric history a chart needs."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["sample_steps"]


def sample_steps(
    steps: np.ndarray[Any, Any], max_points: int, start_step: int | None = None, end_step: int | None = None
) -> np.ndarray[Any, Any]:
    """Indexes of at most ``max_points`` points whose steps lie in ``[start_step, end_step]``, spread
    evenly over that step range; the first and last points in range are always kept.

    ``steps`` must be sorted (histories are returned in step order).
    """
    lo = 0 if start_step is None else int(np.searchsorted(steps, start_step, side="left"))
    hi = len(steps) if end_step is None else int(np.searchsorted(steps, end_step, side="right"))
    n = hi - lo
    if n <= max_points:
        return np.arange(lo, hi)
    if max_points == 1:
        return np.array([hi - 1])
    # Evenly spaced target steps, each mapped to the first point at or after it; duplicates dropped.
    targets = np.linspace(float(steps[lo]), float(steps[hi - 1]), max_points)
    picked = np.searchsorted(steps[lo:hi], targets, side="left") + lo
    picked[-1] = hi - 1
    return np.unique(np.clip(picked, lo, hi - 1))
