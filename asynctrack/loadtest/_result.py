"""What a load test measured, as plain Structs: the human summary, ``--json`` and the HTML report are
all rendered from these.

Throughput is *durable* metric points per second: the points the verification pass found in the store,
divided by the time from the start signal until the last run's final wait for durability returned.
"""

from __future__ import annotations

import msgspec

from asynctrack.loadtest._histogram import Histogram, LatencySummary
from asynctrack.loadtest._options import Workload

__all__ = ["Comparison", "Difference", "Outcome", "TargetResult", "Timeline", "Verification"]


class Difference(msgspec.Struct, frozen=True):
    """One thing that did not land as sent: ``what`` is "metric m3", "param p1", "tag lt.t0" or "run"."""

    run_id: str
    what: str
    sent: int
    landed: int
    detail: str = ""


class Verification(msgspec.Struct, kw_only=True):
    """The read-back: every run, every metric's full history, params and tags, against what was sent.

    ``lost`` counts what was sent (accepted by a logging call that did not raise) but is not in the
    store; ``unexpected`` counts points in the store that were never sent (duplicates, stray steps);
    ``wrong_values`` counts points at the right step with another value. ``complete`` is False when the
    pass was cut short (the target failed, or Ctrl-C), and ``error`` says why.
    """

    complete: bool = True
    error: str | None = None
    runs: int = 0
    runs_checked: int = 0
    metrics_sent: int = 0
    metrics_landed: int = 0
    params_sent: int = 0
    params_landed: int = 0
    tags_sent: int = 0
    tags_landed: int = 0
    lost: int = 0
    unexpected: int = 0
    wrong_values: int = 0
    differences: list[Difference] = []
    differences_total: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.complete and not (self.lost or self.unexpected or self.wrong_values)


class Timeline(msgspec.Struct, kw_only=True):
    """Totals of all workers sampled twice a second: seconds since the start, cumulative metric points
    sent and made durable, the queues' depth and the cumulative error count."""

    t: list[float] = []
    sent: list[int] = []
    durable: list[int] = []
    queued: list[int] = []
    errors: list[int] = []

    def add(self, t: float, sent: int, durable: int, queued: int, errors: int) -> None:
        self.t.append(round(t, 3))
        self.sent.append(sent)
        self.durable.append(durable)
        self.queued.append(queued)
        self.errors.append(errors)


class TargetResult(msgspec.Struct, kw_only=True):
    """Everything measured against one target.

    Times are seconds from the start signal: ``logging_seconds`` until the last run's logging loop ended,
    ``durable_seconds`` until its final wait for durability returned. ``sent_per_s`` is the loops' rate
    (metric points sent / ``logging_seconds``, waits for durability included); ``durable_per_s`` is the
    verified points / ``durable_seconds`` (the workers' own count when verification did not complete).
    ``latency`` summarises ``histograms``: "caller" (every logging call), "durability" (enqueue to durable,
    the last call of each step), "wait" (each wait every E steps), and one per kind of read.
    """

    target: str
    experiment_id: str
    loadtest_id: str
    workload: Workload
    started_at: str
    interrupted: bool = False
    worker_failures: list[str] = []
    logging_seconds: float | None = None
    durable_seconds: float | None = None
    calls: int = 0
    metrics_sent: int = 0
    metrics_durable: int = 0
    params_sent: int = 0
    tags_sent: int = 0
    sent_per_s: float | None = None
    durable_per_s: float | None = None
    latency: dict[str, LatencySummary] = {}
    errors: dict[str, int] = {}
    error_samples: dict[str, str] = {}
    unwritten: list[str] = []
    verification: Verification | None = None
    timeline: Timeline = msgspec.field(default_factory=Timeline)
    histograms: dict[str, Histogram] = {}

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing failed, nothing cut short."""
        return (
            not self.interrupted
            and not self.errors
            and not self.worker_failures
            and not self.unwritten
            and self.verification is not None
            and self.verification.ok
        )


class Comparison(msgspec.Struct, frozen=True):
    """``name``: the figure compared, in ``unit`` ("1/s", "ms" or "count"); ``ratio`` is A / B (the first
    target over the second)."""

    name: str
    unit: str
    a: float | None
    b: float | None
    ratio: float | None
    higher_is_better: bool


class Outcome(msgspec.Struct, kw_only=True):
    """What ``--json`` prints: one result per target, and the ratios when two were compared."""

    results: list[TargetResult]
    comparison: list[Comparison] = []
