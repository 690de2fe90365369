"""What a simulated run logs, as pure functions of the seed: metric keys and values, params, tags.

The verification pass recomputes the same values, so it checks what landed, not only how much: each
point's value is a function of (run salt, metric, step) that Python and numpy compute bit-identically
(integer arithmetic, then one float division).
"""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt

__all__ = [
    "LOADTEST_TAG",
    "metric_keys",
    "metric_value",
    "metric_values",
    "param_items",
    "run_salt",
    "tag_items",
]

#: Set on every run a load test creates (value: the load test's id); its own tags start with "lt.".
LOADTEST_TAG = "asynctrack.loadtest"

_MOD = 1_000_003
_STEP_MUL = 40_503
_KEY_MUL = 9_973


def run_salt(seed: int, worker: int, run: int) -> int:
    """A per-run number drawn from the seed, so every run logs different values."""
    return random.Random(f"{seed}/{worker}/{run}").randrange(_MOD)


def metric_keys(count: int) -> list[str]:
    return [f"m{k}" for k in range(count)]


def metric_value(salt: int, key_index: int, step: int) -> float:
    """The value run ``salt`` logs for metric ``key_index`` at ``step``; in [0, 1)."""
    return ((step * _STEP_MUL + key_index * _KEY_MUL + salt) % _MOD) / float(_MOD)


def metric_values(salt: int, key_index: int, steps: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """:func:`metric_value` for many steps at once (bit-identical; steps below 2**40)."""
    n = (steps.astype(np.int64) * _STEP_MUL + (key_index * _KEY_MUL + salt)) % _MOD
    return n.astype(np.float64) / float(_MOD)


def param_items(salt: int, count: int) -> dict[str, str]:
    return {f"p{i}": f"{salt:x}-{i}" for i in range(count)}


def tag_items(salt: int, count: int) -> dict[str, str]:
    return {f"lt.t{i}": f"{salt:x}.{i}" for i in range(count)}
