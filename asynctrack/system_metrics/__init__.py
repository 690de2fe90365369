"""System metrics: CPU, memory, disk, network, the training process itself and NVIDIA GPUs, sampled on a
thread of their own and logged as ``system/*`` metrics of a run, like ``mlflow.system_metrics``.

``start_run(log_system_metrics=True)`` (or ``enable_system_metrics_logging()``, or
``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true``) starts a sampler for the run; ``end_run`` stops it after
logging the last readings. The ``set_*`` functions set MLflow's environment variables, as MLflow's do, so
subprocesses inherit them.
"""

from __future__ import annotations

import os

from asynctrack.environment import (
    MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING,
    MLFLOW_SYSTEM_METRICS_NODE_ID,
    MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING,
    MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL,
)
from asynctrack.system_metrics._sampler import PREFIX, Sampler, aggregate, running, stop_all
from asynctrack.system_metrics._start import (
    DEFAULT_SAMPLES_BEFORE_LOGGING,
    DEFAULT_SAMPLING_INTERVAL,
    next_step,
    start_for_run,
)

__all__ = [
    "DEFAULT_SAMPLES_BEFORE_LOGGING",
    "DEFAULT_SAMPLING_INTERVAL",
    "PREFIX",
    "Sampler",
    "aggregate",
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "is_system_metrics_logging_enabled",
    "next_step",
    "running",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "start_for_run",
    "stop_all",
]


def _set(name: str, value: object) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)


def enable_system_metrics_logging() -> None:
    """Log system metrics for every run ``start_run`` starts, unless it says ``log_system_metrics=False``."""
    _set(MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING.name, "true")


def disable_system_metrics_logging() -> None:
    """Log system metrics only for runs started with ``log_system_metrics=True``."""
    _set(MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING.name, "false")


def is_system_metrics_logging_enabled() -> bool:
    """The default for ``start_run(log_system_metrics=None)``."""
    return MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING.get()


def set_system_metrics_sampling_interval(interval: float | None) -> None:
    """Seconds between two samples (None: back to the default, 10)."""
    if interval is not None and not (isinstance(interval, (int, float)) and 0 < interval < float("inf")):
        raise ValueError(f"the sampling interval must be a positive number of seconds, got {interval!r}")
    _set(MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL.name, interval)


def set_system_metrics_samples_before_logging(samples: int | None) -> None:
    """How many samples are averaged into one logged step (None: back to the default, 1)."""
    if samples is not None and not (isinstance(samples, int) and samples >= 1):
        raise ValueError(f"samples_before_logging must be a positive integer, got {samples!r}")
    _set(MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING.name, samples)


def set_system_metrics_node_id(node_id: str | None) -> None:
    """The node name put in the metric keys (``system/<node_id>/...``), for multi-node training."""
    _set(MLFLOW_SYSTEM_METRICS_NODE_ID.name, node_id)
