"""Every environment variable asynctrack reads, declared once, typed, with its default.

MLflow's own variables keep MLflow's names and parsing (``MLFLOW_*``); asynctrack's additions are
``ASYNCTRACK_*``. Values are read when they are needed (for the pipeline: when it starts), never per call
on the hot path except ``MLFLOW_ENABLE_ASYNC_LOGGING`` for ``synchronous=None``, whose parse is cached.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = [
    "ASYNCTRACK_EXIT_TIMEOUT",
    "ASYNCTRACK_LINGER_MS",
    "ASYNCTRACK_QUEUE_FULL",
    "ASYNCTRACK_QUEUE_SIZE",
    "ASYNCTRACK_SQLITE_BUSY_TIMEOUT",
    "MLFLOW_ENABLE_ASYNC_LOGGING",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_RUN_ID",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRUNCATE_LONG_VALUES",
    "EnvironmentVariable",
    "parse_bool",
]

T = TypeVar("T")

_TRUE = ("true", "1")
_FALSE = ("false", "0")


def parse_bool(name: str, raw: str) -> bool:
    """Parse MLflow's boolean form: true/false/1/0, case-insensitive; anything else is an error."""
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(
        f"{name} value must be one of ['true', 'false', '1', '0'] (case-insensitive), but got {raw}"
    )


class EnvironmentVariable(Generic[T]):
    """One variable: ``VAR.get()`` returns the parsed value or the default; ``VAR.is_set()`` tells."""

    def __init__(self, name: str, parse: Callable[[str, str], T], default: T, doc: str) -> None:
        self.name = name
        self._parse = parse
        self.default = default
        self.__doc__ = doc
        self._cache: tuple[str | None, T] | None = None

    def is_set(self) -> bool:
        return self.name in os.environ

    def get_raw(self) -> str | None:
        return os.environ.get(self.name)

    def get(self) -> T:
        raw = os.environ.get(self.name)
        cache = self._cache
        if cache is not None and cache[0] == raw:
            return cache[1]
        value = self.default if raw is None else self._parse(self.name, raw)
        self._cache = (raw, value)
        return value

    def __repr__(self) -> str:
        return f"<EnvironmentVariable {self.name} default={self.default!r}>"


def _str(name: str, raw: str) -> str:
    return raw


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, but got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, but got {raw!r}")
    return value


def _non_negative_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a non-negative number, but got {raw!r}") from None
    if not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, but got {raw!r}")
    return value


def _queue_full_policy(name: str, raw: str) -> str:
    low = raw.strip().lower()
    if low not in ("block", "raise"):
        raise ValueError(f"{name} must be 'block' or 'raise', but got {raw!r}")
    return low


MLFLOW_TRACKING_URI = EnvironmentVariable[str | None](
    "MLFLOW_TRACKING_URI",
    _str,
    None,
    "Where runs are stored; unset means the embedded SQLite store under ./mlruns.",
)
MLFLOW_ENABLE_ASYNC_LOGGING = EnvironmentVariable[bool](
    "MLFLOW_ENABLE_ASYNC_LOGGING",
    parse_bool,
    False,
    "Default for synchronous=None: true makes logging calls return RunOperations without waiting.",
)
MLFLOW_TRUNCATE_LONG_VALUES = EnvironmentVariable[bool](
    "MLFLOW_TRUNCATE_LONG_VALUES",
    parse_bool,
    True,
    "Param and tag values over MLflow's limits are truncated with a warning (true) or rejected (false).",
)
MLFLOW_EXPERIMENT_NAME = EnvironmentVariable[str | None](
    "MLFLOW_EXPERIMENT_NAME", _str, None, "Experiment used by start_run when none is set."
)
MLFLOW_EXPERIMENT_ID = EnvironmentVariable[str | None](
    "MLFLOW_EXPERIMENT_ID", _str, None, "Experiment id used by start_run when none is set."
)
MLFLOW_RUN_ID = EnvironmentVariable[str | None](
    "MLFLOW_RUN_ID", _str, None, "Run resumed by start_run() when no run id is passed."
)
ASYNCTRACK_QUEUE_SIZE = EnvironmentVariable[int](
    "ASYNCTRACK_QUEUE_SIZE",
    _positive_int,
    50_000,
    "Capacity of each pipeline's queue, in operations; a full queue applies ASYNCTRACK_QUEUE_FULL.",
)
ASYNCTRACK_QUEUE_FULL = EnvironmentVariable[str](
    "ASYNCTRACK_QUEUE_FULL",
    _queue_full_policy,
    "block",
    "'block' (default): a caller facing a full queue waits for room; 'raise': it gets RESOURCE_EXHAUSTED.",
)
ASYNCTRACK_LINGER_MS = EnvironmentVariable[float](
    "ASYNCTRACK_LINGER_MS",
    _non_negative_float,
    50.0,
    "How long the worker lets a batch grow once woken, in milliseconds (cut short when the queue is "
    "half full or a caller waits).",
)
ASYNCTRACK_EXIT_TIMEOUT = EnvironmentVariable[float](
    "ASYNCTRACK_EXIT_TIMEOUT",
    _non_negative_float,
    10.0,
    "Seconds the at-exit flush may take before it gives up and reports what was not written.",
)
ASYNCTRACK_SQLITE_BUSY_TIMEOUT = EnvironmentVariable[float](
    "ASYNCTRACK_SQLITE_BUSY_TIMEOUT",
    _non_negative_float,
    0.1,
    "Seconds one SQLite statement waits on another process's lock before the store backs off and retries.",
)
