"""People watching dashboards: threads that search the load test's runs and read one metric's history.

Each pass is what a dashboard refresh does: ``search_runs`` over the experiment (this load test's runs,
sorted by a metric, as a runs table is), then the full ``get_metric_history`` of one metric of one of
them (a chart), chosen with a seeded generator; then a pause of ``reader_interval`` seconds.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

from asynctrack.client import MlflowClient
from asynctrack.exceptions import MlflowException
from asynctrack.loadtest._histogram import Histogram, Recorder
from asynctrack.loadtest._run_logger import Control
from asynctrack.loadtest._values import LOADTEST_TAG, metric_keys

__all__ = ["READ_KINDS", "Reader"]

READ_KINDS = ("search_runs", "get_metric_history")


class Reader:
    """One reader thread and its latencies per kind of read."""

    def __init__(
        self,
        client: MlflowClient,
        experiment_id: str,
        loadtest_id: str,
        metrics: int,
        interval: float,
        seed: int,
    ) -> None:
        self._client = client
        self._experiment_id = experiment_id
        self._filter = f"tags.`{LOADTEST_TAG}` = '{loadtest_id}'"
        self._keys = metric_keys(metrics)
        self._interval = interval
        self._rng = random.Random(seed)
        self.recorders = {kind: Recorder() for kind in READ_KINDS}
        self.errors: Counter[str] = Counter()
        self.error_samples: dict[str, str] = {}
        self.thread: threading.Thread | None = None

    def start(self, ctl: Control, name: str) -> None:
        self.thread = threading.Thread(target=self._loop, args=(ctl,), name=name, daemon=True)
        self.thread.start()

    def histograms(self) -> dict[str, Histogram]:
        return {kind: rec.snapshot() for kind, rec in self.recorders.items()}

    def _timed(self, kind: str, started: int) -> None:
        rec = self.recorders[kind]
        rec.add(time.perf_counter_ns() - started)
        rec.fold()

    def _error(self, exc: MlflowException) -> None:
        self.errors[exc.error_code] += 1
        self.error_samples.setdefault(exc.error_code, " ".join(str(exc).split())[:300])

    def _loop(self, ctl: Control) -> None:
        while not ctl.stop.is_set():
            t = time.perf_counter_ns()
            try:
                runs = self._client.search_runs(
                    [self._experiment_id], self._filter, max_results=100, order_by=["metrics.m0 DESC"]
                )
                self._timed("search_runs", t)
                if runs:
                    run = self._rng.choice(list(runs))
                    key = self._rng.choice(self._keys)
                    t = time.perf_counter_ns()
                    self._client.get_metric_history(run.info.run_id, key)
                    self._timed("get_metric_history", t)
            except MlflowException as exc:
                self._error(exc)
            if ctl.stop.wait(self._interval):
                break
