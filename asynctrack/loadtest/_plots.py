"""The report's plots, drawn with matplotlib (the ``asynctrack[report]`` extra; this module is imported
only when a report is written). Figures are built with the object API (no pyplot state), as PNG files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from asynctrack.loadtest._result import TargetResult

__all__ = ["PLOTS", "draw_plots"]

#: File name and caption of each plot, in the order the page shows them.
PLOTS = (
    ("throughput.png", "Metric points per second over time: made durable (solid) and sent (dashed)"),
    ("latency_cdf.png", "Latency CDF: logging calls, enqueue to durable, and reads"),
    ("queue_depth.png", "Operations waiting in the workers' queues over time"),
)

_COLORS = ("tab:blue", "tab:orange")
_STYLES = {
    "caller": "-",
    "durability": "--",
    "wait": ":",
    "search_runs": "-.",
    "get_metric_history": (0, (3, 1, 1, 1, 1, 1)),
}
_LABELS = {
    "caller": "call",
    "durability": "enqueue→durable",
    "wait": "wait every E steps",
    "search_runs": "search_runs",
    "get_metric_history": "get_metric_history",
}


def _rates(
    t: Sequence[float], cumulative: Sequence[int]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-second rates between samples, smoothed over about one second."""
    ts = np.asarray(t, dtype=np.float64)
    cs = np.asarray(cumulative, dtype=np.float64)
    if len(ts) < 2:
        return np.zeros(0), np.zeros(0)
    lag = 2  # samples are half a second apart
    idx = np.arange(lag, len(ts))
    dt = ts[idx] - ts[idx - lag]
    rates = np.where(dt > 0, (cs[idx] - cs[idx - lag]) / np.where(dt > 0, dt, 1), 0.0)
    return ts[idx], rates


def _figure() -> Figure:
    return Figure(figsize=(9, 3.6), dpi=100, layout="constrained")


def _legend(fig: Figure, results: Sequence[TargetResult]) -> None:
    # Outside the axes, on the right: curves of two targets and five kinds would hide each other's ends.
    # Two targets are "A" and "B" in the labels, named once in the title.
    fig.legend(loc="outside right upper", fontsize="small")
    if len(results) > 1:
        fig.suptitle(f"A: {results[0].target}    B: {results[1].target}", fontsize="small")


def _prefix(i: int, results: Sequence[TargetResult]) -> str:
    return "" if len(results) == 1 else "AB"[i] + ": "


def _throughput(results: Sequence[TargetResult], path: Path) -> None:
    fig = _figure()
    ax = fig.add_subplot()
    for i, (r, color) in enumerate(zip(results, _COLORS, strict=False)):
        tl = r.timeline
        t, durable = _rates(tl.t, tl.durable)
        _, sent = _rates(tl.t, tl.sent)
        prefix = _prefix(i, results)
        ax.plot(t, durable, color=color, label=f"{prefix}durable")
        ax.plot(t, sent, color=color, linestyle="--", alpha=0.7, label=f"{prefix}sent")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("metric points / s")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend(fig, results)
    fig.savefig(path)


def _latency_cdf(results: Sequence[TargetResult], path: Path) -> None:
    fig = _figure()
    ax = fig.add_subplot()
    for i, (r, color) in enumerate(zip(results, _COLORS, strict=False)):
        prefix = _prefix(i, results)
        for kind, hist in r.histograms.items():
            x, y = hist.cdf()
            if not len(x):
                continue
            ax.step(
                x,
                y,
                where="post",
                color=color,
                linestyle=_STYLES.get(kind, "-"),
                label=f"{prefix}{_LABELS.get(kind, kind)}",
            )
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of calls ≤ x")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3, which="both")
    _legend(fig, results)
    fig.savefig(path)


def _queue_depth(results: Sequence[TargetResult], path: Path) -> None:
    fig = _figure()
    ax = fig.add_subplot()
    for i, (r, color) in enumerate(zip(results, _COLORS, strict=False)):
        ax.plot(r.timeline.t, r.timeline.queued, color=color, label=_prefix(i, results) + r.target)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("queued operations (all workers)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend(fig, results)
    fig.savefig(path)


def draw_plots(results: Sequence[TargetResult], directory: Path) -> list[Path]:
    """Write the plots of ``results`` (one or two targets) into ``directory``; return their paths."""
    paths = [directory / name for name, _ in PLOTS]
    _throughput(results, paths[0])
    _latency_cdf(results, paths[1])
    _queue_depth(results, paths[2])
    return paths
