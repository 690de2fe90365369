"""The system metrics sampler of one run: a thread of its own that reads the probes every interval, averages
``samples_before_logging`` readings as MLflow does and logs them through the pipeline without waiting.

Why a thread and not a task on the pipeline's event loop: psutil and NVML calls block (they read /proc or
ask the driver), and nothing may block that loop. The thread is not a daemon: it is owned by the module's
registry, stopped and joined by ``end_run`` and by the pipelines' exit hook (which runs before Python joins
non-daemon threads), so none is left at exit.

Differences from MLflow 3.17.2, all on the side of losing less: the readings taken since the last logged
step are averaged and logged when the run ends (MLflow drops them, so a run shorter than one interval has
no system metrics at all), and the sampler does not poll the store for the run's status every interval
(it stops with ``end_run`` and at exit).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence

from asynctrack import _logging_calls as calls
from asynctrack.pipeline._queue import OpQueue
from asynctrack.system_metrics._probes import Probe, Sample

__all__ = ["Sampler", "aggregate", "running", "stop_all"]

_log = logging.getLogger("asynctrack")

PREFIX = "system/"
# MLflow logs the cumulative network counters as they are at the last reading instead of averaging them.
_NOT_AVERAGED = ("network_receive_megabytes", "network_transmit_megabytes")


def aggregate(samples: Sequence[Sample]) -> dict[str, float]:
    """MLflow's aggregation: each metric's mean over the samples that have it, rounded to one decimal;
    the network counters are the last reading's."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for sample in samples:
        for key, value in sample.items():
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
    out = {key: round(sums[key] / counts[key], 1) for key in sums}
    for key in _NOT_AVERAGED:
        for sample in reversed(samples):
            if key in sample:
                out[key] = sample[key]
                break
    return out


class Sampler:
    """Samples ``probes`` every ``interval`` seconds for ``run_id``; each ``samples_before_logging`` readings
    become one step of ``system/[<node_id>/]<name>`` metrics, steps counting up from ``first_step``.

    ``queue_of`` returns the queue to log into, looked up at each publish (the run's pipeline is replaced
    after ``close_pipelines()``)."""

    def __init__(
        self,
        run_id: str,
        queue_of: Callable[[], OpQueue],
        probes: Sequence[Probe],
        interval: float,
        samples_before_logging: int,
        node_id: str | None = None,
        first_step: int = 0,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"the sampling interval must be a positive number of seconds, got {interval!r}")
        if samples_before_logging < 1:
            raise ValueError(f"samples_before_logging must be at least 1, got {samples_before_logging!r}")
        self.run_id = run_id
        self._queue_of = queue_of
        self._probes = list(probes)
        self.interval = float(interval)
        self.samples_before_logging = int(samples_before_logging)
        self.prefix = PREFIX + (f"{node_id}/" if node_id else "")
        self.step = first_step
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._main, name=f"asynctrack-system-metrics-{run_id[:8]}", daemon=False
        )
        self._pending: list[Sample] = []
        self._started = 0.0
        #: CPU seconds this thread has spent (time.thread_time at the end), for the benchmark's figure
        self.cpu_seconds = 0.0
        self.failures = 0

    def start(self) -> None:
        self._started = time.monotonic()
        with _lock:
            _running[self.run_id] = self
        self._thread.start()

    def stop(self, timeout: float = 5.0, *, wait: bool = True) -> None:
        """Take a last reading, log what was not logged yet, and end the thread: joined (bounded by
        ``timeout``), or with ``wait=False`` left to do so on its own (the integrations' end of training,
        which does not wait for the run's end either): the thread then leaves the registry as it ends, and
        the exit hook still joins it if it has not."""
        self._stop.set()
        if not wait:
            return
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                _log.warning("asynctrack: the system metrics sampler of run %s did not stop", self.run_id)
        with _lock:
            if _running.get(self.run_id) is self:
                del _running[self.run_id]

    def _main(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self._read()
                if len(self._pending) >= self.samples_before_logging:
                    self._publish()
            self._read()  # the stretch since the last reading, up to end_run
            if self._pending:
                self._publish()
                self._queue_of().nudge()  # the run has ended: no reason to linger over the last step
        except Exception:  # never let a probe kill the thread silently: say so once
            _log.exception("asynctrack: system metrics sampling of run %s stopped", self.run_id)
        finally:
            self.cpu_seconds = time.thread_time()
            with _lock:
                totals["cpu_seconds"] += self.cpu_seconds
                totals["wall_seconds"] += time.monotonic() - self._started
                totals["samplers"] += 1
                if _running.get(self.run_id) is self:
                    del _running[self.run_id]

    def _read(self) -> None:
        sample: Sample = {}
        for probe in self._probes:
            sample.update(probe())
        self._pending.append(sample)

    def _publish(self) -> None:
        values = aggregate(self._pending)
        self._pending = []
        queue = self._queue_of()
        ts = calls.now_ms()
        step = self.step
        self.step += 1
        prefix, rid = self.prefix, self.run_id
        try:
            for key, value in values.items():
                queue.put_metric(rid, prefix + key, float(value), ts, step)
        except Exception as exc:  # a closed pipeline at exit, a full queue with the raise policy
            self.failures += 1
            if self.failures == 1:
                _log.warning("asynctrack: system metrics of run %s not logged: %s", rid, exc)


_lock = threading.Lock()
_running: dict[str, Sampler] = {}
#: CPU and wall seconds of every sampler thread ended in this process (bench/training.py reports the ratio)
totals: dict[str, float] = {"cpu_seconds": 0.0, "wall_seconds": 0.0, "samplers": 0}


def running(run_id: str) -> Sampler | None:
    """The sampler of ``run_id``, if one is running."""
    return _running.get(run_id)


def stop_all(timeout: float = 5.0) -> None:
    """Stop every sampler (the exit hook calls this before the final flush)."""
    with _lock:
        samplers = list(_running.values())
    deadline = time.monotonic() + timeout
    for sampler in samplers:
        sampler._stop.set()
    for sampler in samplers:
        sampler.stop(max(0.0, deadline - time.monotonic()))


def _after_fork_in_child() -> None:
    # The child has the parent's sampler objects but not their threads; the parent's samplers go on.
    global _lock, _running
    _lock = threading.Lock()
    _running = {}


os.register_at_fork(after_in_child=_after_fork_in_child)
