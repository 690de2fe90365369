"""``--compare``: the same figures of two targets side by side, as ratios of the first to the second."""

from __future__ import annotations

from collections.abc import Callable

from asynctrack.loadtest._result import Comparison, TargetResult

__all__ = ["compare"]

_Figure = Callable[[TargetResult], float | None]


def _latency(kind: str, field: str) -> _Figure:
    def get(r: TargetResult) -> float | None:
        summary = r.latency.get(kind)
        return None if summary is None else getattr(summary, field)

    return get


def _lost(r: TargetResult) -> float | None:
    return None if r.verification is None else float(r.verification.lost)


# (name, unit, figure, higher is better)
_FIGURES: tuple[tuple[str, str, _Figure, bool], ...] = (
    ("durable metrics/s", "1/s", lambda r: r.durable_per_s, True),
    ("metrics/s sent (waits included)", "1/s", lambda r: r.sent_per_s, True),
    ("call latency p50", "ms", _latency("caller", "p50_ms"), False),
    ("call latency p99", "ms", _latency("caller", "p99_ms"), False),
    ("enqueue→durable p50", "ms", _latency("durability", "p50_ms"), False),
    ("enqueue→durable p99", "ms", _latency("durability", "p99_ms"), False),
    ("wait every E steps p50", "ms", _latency("wait", "p50_ms"), False),
    ("wait every E steps p99", "ms", _latency("wait", "p99_ms"), False),
    ("search_runs p50", "ms", _latency("search_runs", "p50_ms"), False),
    ("search_runs p99", "ms", _latency("search_runs", "p99_ms"), False),
    ("get_metric_history p50", "ms", _latency("get_metric_history", "p50_ms"), False),
    ("get_metric_history p99", "ms", _latency("get_metric_history", "p99_ms"), False),
    ("lost", "count", _lost, False),
    ("errors", "count", lambda r: float(sum(r.errors.values())), False),
)


def compare(a: TargetResult, b: TargetResult) -> list[Comparison]:
    """Each figure either target has; ``ratio`` = a / b when both are non-zero numbers."""
    out = []
    for name, unit, figure, higher in _FIGURES:
        x, y = figure(a), figure(b)
        if x is None and y is None:
            continue
        ratio = x / y if x is not None and y else None
        out.append(Comparison(name, unit, x, y, ratio, higher))
    return out
