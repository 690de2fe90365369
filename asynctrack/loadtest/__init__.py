"""``asynctrack loadtest``: load-test any MLflow-compatible tracking target and verify nothing was lost.

W worker processes simulate training jobs (R runs each, one thread or asyncio task per run) logging M
metrics per step through asynctrack's client, against the embedded store or any tracking server over
MLflow's REST API; optional reader threads model dashboards. Afterwards every run is read back and
compared with what was sent, point by point. Results: throughput (durable metrics/s), latency of the
logging calls and of durability, errors by code; as a summary, JSON, or an HTML report with plots.

>>> from asynctrack.loadtest import Options, run_loadtest            # doctest: +SKIP
>>> options = Options.from_mapping({"workers": 2, "steps": 100})     # doctest: +SKIP

Most users run the command: ``asynctrack loadtest http://127.0.0.1:5000 --workers 8 --duration 30``.
See docs/loadtest.md.
"""

from __future__ import annotations

from asynctrack.loadtest._compare import compare
from asynctrack.loadtest._histogram import Histogram, LatencySummary
from asynctrack.loadtest._interrupt import Interrupts, catching_interrupts
from asynctrack.loadtest._options import OPTIONS, ConfigError, Options, OptionSpec, Workload
from asynctrack.loadtest._progress import LiveProgress
from asynctrack.loadtest._report import ReportError, require_report_support, write_report
from asynctrack.loadtest._result import (
    Comparison,
    Difference,
    Outcome,
    TargetResult,
    Timeline,
    Verification,
)
from asynctrack.loadtest._runner import run_loadtest
from asynctrack.loadtest._summary import describe_workload, print_summary
from asynctrack.loadtest._target import TargetError

__all__ = [
    "OPTIONS",
    "Comparison",
    "ConfigError",
    "Difference",
    "Histogram",
    "Interrupts",
    "LatencySummary",
    "LiveProgress",
    "OptionSpec",
    "Options",
    "Outcome",
    "ReportError",
    "TargetError",
    "TargetResult",
    "Timeline",
    "Verification",
    "Workload",
    "catching_interrupts",
    "compare",
    "describe_workload",
    "print_summary",
    "require_report_support",
    "run_loadtest",
    "write_report",
]
