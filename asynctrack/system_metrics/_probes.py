"""Reading the machine: one sample of CPU, memory, disk, network, the process itself and NVIDIA GPUs.

Each probe returns ``{name: value}`` without the ``system/`` prefix, with MLflow 3.17.2's names and units
(megabytes are 10^6 bytes, as MLflow's). psutil is imported here only, when a sampler starts; the GPU probe
imports ``pynvml`` (the ``nvidia-ml-py`` package, extra ``asynctrack[gpu]``) only when it is installed.

Every call here blocks briefly (it reads /proc or asks the driver), so probes run on the sampler's own
thread, never on the caller's or on the pipeline's event loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

__all__ = ["Probe", "gpu_probe", "host_probes", "process_probe"]

_log = logging.getLogger("asynctrack")

#: One reading: metric name (no prefix) -> value.
Sample = dict[str, float]
Probe = Callable[[], Sample]

_MB = 1e6
_said_why: set[str] = set()


def _no_gpu(why: str) -> None:
    # One INFO line per process and reason, not one per run.
    if why not in _said_why:
        _said_why.add(why)
        _log.info("asynctrack: no GPU system metrics: %s", why)


def _psutil() -> Any:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency; a broken install says so
        from asynctrack.exceptions import MlflowException

        raise MlflowException(
            "Failed to start system metrics monitoring as package `psutil` is not installed. Please run "
            "`pip install psutil` to resolve the issue, otherwise you can disable system metrics logging "
            "by passing `log_system_metrics=False` to `mlflow.start_run()` or calling "
            "`mlflow.disable_system_metrics_logging`."
        ) from None
    return psutil


def _cpu_probe(psutil: Any) -> Probe:
    # Our own previous reading of the CPU times, so two samplers (nested runs) do not share psutil's
    # module-level state behind psutil.cpu_percent() and skew each other.
    last = [psutil.cpu_times()]

    def read() -> Sample:
        now = psutil.cpu_times()
        before, last[0] = last[0], now
        idle = (now.idle + getattr(now, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
        total = sum(now) - sum(before)
        # Linux counts guest time inside user time as well; leave it out of the total as psutil does.
        total -= (getattr(now, "guest", 0.0) - getattr(before, "guest", 0.0)) + (
            getattr(now, "guest_nice", 0.0) - getattr(before, "guest_nice", 0.0)
        )
        busy = 0.0 if total <= 0 else max(0.0, min(100.0, 100.0 * (total - idle) / total))
        memory = psutil.virtual_memory()
        return {
            "cpu_utilization_percentage": busy,
            "system_memory_usage_megabytes": memory.used / _MB,
            "system_memory_usage_percentage": memory.used / memory.total * 100,
        }

    return read


def _disk_probe(psutil: Any) -> Probe:
    def read() -> Sample:
        usage = psutil.disk_usage(os.sep)
        return {
            "disk_usage_percentage": float(usage.percent),
            "disk_usage_megabytes": usage.used / _MB,
            "disk_available_megabytes": usage.free / _MB,
        }

    return read


def _network_probe(psutil: Any) -> Probe:
    # Like MLflow: megabytes received and sent since the sampler started (cumulative, not per interval).
    start = psutil.net_io_counters()

    def read() -> Sample:
        now = psutil.net_io_counters()
        return {
            "network_receive_megabytes": (now.bytes_recv - start.bytes_recv) / _MB,
            "network_transmit_megabytes": (now.bytes_sent - start.bytes_sent) / _MB,
        }

    return read


def host_probes() -> list[Probe]:
    """CPU and memory, disk, network: what MLflow samples on every machine."""
    psutil = _psutil()
    return [_cpu_probe(psutil), _disk_probe(psutil), _network_probe(psutil)]


def process_probe(pid: int | None = None) -> Probe:
    """The training process's own figures (MLflow has none): resident memory and CPU time as a
    percentage of one core (above 100 when it uses several)."""
    psutil = _psutil()
    process = psutil.Process(pid)
    process.cpu_percent(None)  # the first call only sets the starting point

    def read() -> Sample:
        with process.oneshot():
            rss = process.memory_info().rss
            cpu = process.cpu_percent(None)
        return {"process_memory_rss_megabytes": rss / _MB, "process_cpu_utilization_percentage": cpu}

    return read


def gpu_probe() -> Probe | None:
    """Every NVIDIA GPU through NVML (MLflow's names, ``gpu_<index>_*``), or None with one INFO line saying
    why: ``nvidia-ml-py`` not installed, or no driver or device."""
    try:
        import pynvml
    except ImportError:
        _no_gpu(
            "nvidia-ml-py is not installed (pip install 'asynctrack[gpu]' on a machine with an NVIDIA GPU)"
        )
        return None
    try:
        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError as exc:
        _no_gpu(f"NVML found no NVIDIA driver or GPU ({exc})")
        return None
    if not handles:
        _no_gpu("NVML reports no GPU")
        return None
    failed: set[str] = set()

    def read() -> Sample:
        out: Sample = {}
        for i, handle in enumerate(handles):
            try:
                memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
                out[f"gpu_{i}_memory_usage_percentage"] = round(memory.used / memory.total * 100, 1)
                out[f"gpu_{i}_memory_usage_megabytes"] = memory.used / _MB
                out[f"gpu_{i}_utilization_percentage"] = float(
                    pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
                )
                power = pynvml.nvmlDeviceGetPowerUsage(handle)
                limit = pynvml.nvmlDeviceGetEnforcedPowerLimit(handle)
                out[f"gpu_{i}_power_usage_watts"] = power / 1000
                out[f"gpu_{i}_power_usage_percentage"] = power / limit * 100
            except pynvml.NVMLError as exc:  # one warning per kind of failure, not one per sample
                if str(exc) not in failed:
                    failed.add(str(exc))
                    _log.warning("asynctrack: reading GPU %d failed: %s", i, exc)
        return out

    return read
