"""Starting a run's sampler with the settings in force (MLflow's variables, else its defaults)."""

from __future__ import annotations

from collections.abc import Callable

from asynctrack.environment import (
    MLFLOW_SYSTEM_METRICS_NODE_ID,
    MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING,
    MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL,
)
from asynctrack.pipeline._queue import OpQueue
from asynctrack.pipeline._registry import add_exit_callback
from asynctrack.system_metrics._probes import Probe, gpu_probe, host_probes, process_probe
from asynctrack.system_metrics._sampler import PREFIX, Sampler, running, stop_all

__all__ = ["next_step", "start_for_run"]

DEFAULT_SAMPLING_INTERVAL = 10.0  # seconds, MLflow's default
DEFAULT_SAMPLES_BEFORE_LOGGING = 1


def next_step(latest_steps: dict[str, int]) -> int:
    """The first step of a resumed run's sampler: one past the largest step of its ``system/`` metrics
    (MLflow's rule), from each metric's latest step."""
    steps = [step for key, step in latest_steps.items() if key.startswith(PREFIX)]
    return max(steps) + 1 if steps else 0


def start_for_run(run_id: str, queue_of: Callable[[], OpQueue], first_step: int = 0) -> Sampler:
    """Start (or return the already running) sampler of ``run_id``."""
    existing = running(run_id)
    if existing is not None:
        return existing
    probes: list[Probe] = [*host_probes(), process_probe()]
    gpu = gpu_probe()
    if gpu is not None:
        probes.append(gpu)
    sampler = Sampler(
        run_id,
        queue_of,
        probes,
        MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL.get() or DEFAULT_SAMPLING_INTERVAL,
        MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING.get() or DEFAULT_SAMPLES_BEFORE_LOGGING,
        MLFLOW_SYSTEM_METRICS_NODE_ID.get(),
        first_step,
    )
    # The sampler is not a daemon: the exit hook stops it (the fluent API's own exit callback does too, first,
    # so that its last readings are queued before the run's status).
    add_exit_callback(stop_all)
    sampler.start()
    return sampler
