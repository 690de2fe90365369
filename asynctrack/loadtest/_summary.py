"""The human summary: one block per target, and with ``--compare`` a table of both with ratios."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from asynctrack.loadtest._format import count, ms, rate, ratio
from asynctrack.loadtest._histogram import LatencySummary
from asynctrack.loadtest._options import Workload
from asynctrack.loadtest._result import Comparison, TargetResult

__all__ = ["Row", "describe_workload", "print_summary", "summary_rows"]

_SHOWN_DIFFERENCES = 10
_LATENCY_LABELS = {
    "caller": "call latency",
    "durability": "enqueue→durable",
    "wait": "wait every E steps",
    "search_runs": "search_runs",
    "get_metric_history": "get_metric_history",
}


def describe_workload(w: Workload) -> str:
    """One line: what every worker did."""
    steps = w.step_limit
    length = f"{steps:,} steps" if steps is not None else "unlimited steps"
    if w.duration is not None:
        length += f" or {w.duration:g} s" if steps is not None else f" for {w.duration:g} s"
    mode = "synchronous=True" if w.synchronous else f"synchronous=False, awaited every {w.await_every} steps"
    pace = f"{w.rate:,.0f} metrics/s" if w.rate else "as fast as possible"
    plural = "s" if w.readers != 1 else ""
    readers = f", {w.readers} reader{plural} every {w.reader_interval:g} s" if w.readers else ""
    return (
        f"{w.workers} workers × {w.runs} runs ({w.mode}), {w.metrics} metrics × {length}, "
        f"{w.params} params + {w.tags} tags per run, {mode}, {pace}{readers}, seed {w.seed}"
    )


def _latency_text(lat: LatencySummary) -> str:
    return (
        f"p50 {ms(lat.p50_ms)}  p90 {ms(lat.p90_ms)}  p99 {ms(lat.p99_ms)}  p99.9 {ms(lat.p999_ms)}  "
        f"max {ms(lat.max_ms)}  (n={count(lat.count)})"
    )


def _seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


class Row(NamedTuple):
    """One line of a summary; ``alert`` lines are shown in red."""

    label: str
    text: str
    alert: bool = False


def summary_rows(r: TargetResult) -> list[Row]:
    """The summary of one target, shared by the terminal and the HTML page."""
    rows: list[Row] = []
    if r.interrupted:
        status = "interrupted (Ctrl-C): partial results"
    else:
        status = "completed" if r.ok else "completed, with the problems listed below"
    rows.append(Row("status", status, not r.ok))
    rows.append(
        Row(
            "metrics sent",
            f"{count(r.metrics_sent)} in {_seconds(r.logging_seconds)} "
            f"({rate(r.sent_per_s)}/s, waits included; {count(r.calls)} calls)",
        )
    )
    v = r.verification
    durable_basis = (
        f"{count(v.metrics_landed)} verified in the store"
        if v is not None and v.complete
        else f"{count(r.metrics_durable)} reported durable by the workers"
    )
    after = _seconds(r.durable_seconds)
    rows.append(Row("durable metrics/s", f"{rate(r.durable_per_s)}  ({durable_basis}, {after} after start)"))
    if v is None:
        rows.append(Row("verification", "not run", True))
    else:
        scope = (
            f"{count(v.metrics_landed)} of {count(v.metrics_sent)} metric points, "
            f"{count(v.params_landed)} of {count(v.params_sent)} params, "
            f"{count(v.tags_landed)} of {count(v.tags_sent)} tags, {v.runs_checked} of {v.runs} runs; "
            f"{v.seconds:.1f} s"
        )
        extra = ""
        if v.unexpected:
            extra += f", unexpected: {count(v.unexpected)}"
        if v.wrong_values:
            extra += f", wrong values: {count(v.wrong_values)}"
        head = (
            f"lost: {count(v.lost)}{extra}"
            if v.complete
            else f"INCOMPLETE ({v.error}); lost so far: {v.lost}"
        )
        rows.append(Row("verification", f"{head}  ({scope})", not v.ok))
        shown = v.differences[:_SHOWN_DIFFERENCES]
        for d in shown:
            detail = f"run {d.run_id} {d.what}: sent {d.sent}, landed {d.landed}. {d.detail}"
            rows.append(Row("  difference", detail, True))
        if v.differences_total > len(shown):
            rows.append(
                Row("", f"... and {v.differences_total - len(shown)} more differences (see --json)", True)
            )
    for kind, lat in r.latency.items():
        if lat.count:
            rows.append(Row(_LATENCY_LABELS.get(kind, kind), _latency_text(lat)))
    if r.errors:
        for i, (code, n) in enumerate(sorted(r.errors.items(), key=lambda kv: -kv[1])):
            sample = r.error_samples.get(code, "")
            rows.append(Row("errors" if i == 0 else "", f"{code} × {n:,}: {sample}", True))
    else:
        rows.append(Row("errors", "none"))
    rows.extend(Row("not written", u, True) for u in r.unwritten)
    if r.unwritten:
        note = "the workers' journal was in the load test's temporary directory, now deleted: not sent later"
        rows.append(Row("", note))
    rows.extend(Row("worker failure", f, True) for f in r.worker_failures)
    return rows


def _target_block(r: TargetResult) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for row in summary_rows(r):
        grid.add_row(row.label, Text(row.text, style="red" if row.alert else ""))
    title = Text(f"asynctrack loadtest {r.target}", style="bold")
    return Group(title, Text(describe_workload(r.workload), style="dim"), grid)


def _comparison_table(results: Sequence[TargetResult], rows: Sequence[Comparison]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="A = " + results[0].target + "   B = " + results[1].target)
    table.add_column("")
    table.add_column("A", justify="right")
    table.add_column("B", justify="right")
    table.add_column("A / B", justify="right")
    for c in rows:
        fmt = ms if c.unit == "ms" else rate
        table.add_row(c.name, fmt(c.a), fmt(c.b), ratio(c.ratio))
    return table


def print_summary(
    console: Console, results: Sequence[TargetResult], comparison: Sequence[Comparison]
) -> None:
    for i, r in enumerate(results):
        if i:
            console.print()
        console.print(_target_block(r))
    if len(results) == 2 and comparison:
        console.print()
        console.print(_comparison_table(results, comparison))
