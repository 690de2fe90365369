"""``--report DIR``: an HTML page with the summary, the comparison and the plots, plus the results as
JSON, written into ``DIR``. The plots need matplotlib (``pip install 'asynctrack[report]'``); that is
checked before the load test starts, so a missing extra never costs a run.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import msgspec

from asynctrack.loadtest._format import ms, rate, ratio
from asynctrack.loadtest._result import Comparison, Outcome, TargetResult
from asynctrack.loadtest._summary import describe_workload, summary_rows

__all__ = ["ReportError", "require_report_support", "write_report"]

_INSTALL_HINT = "--report needs matplotlib: pip install 'asynctrack[report]'"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { padding: 0.2em 0.8em; text-align: left; vertical-align: top; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.alert { color: #b00; } .dim { color: #666; }
figure { margin: 1.5em 0; } img { max-width: 100%; } figcaption { color: #555; font-size: 0.9em; }
"""


class ReportError(Exception):
    """The report cannot be written (matplotlib missing, directory not writable)."""


def require_report_support() -> None:
    """Raise :class:`ReportError` now if the plots could not be drawn later."""
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ReportError(_INSTALL_HINT)


def _summary_table(r: TargetResult) -> str:
    rows = []
    for row in summary_rows(r):
        cls = ' class="alert"' if row.alert else ""
        rows.append(f"<tr><th>{html.escape(row.label)}</th><td{cls}>{html.escape(row.text)}</td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _comparison_table(results: Sequence[TargetResult], comparison: Sequence[Comparison]) -> str:
    head = (
        f"<tr><th></th><th>A: {html.escape(results[0].target)}</th>"
        f"<th>B: {html.escape(results[1].target)}</th><th>A / B</th></tr>"
    )
    rows = [head]
    for c in comparison:
        fmt = ms if c.unit == "ms" else rate
        rows.append(
            f"<tr><td>{html.escape(c.name)}</td><td class=num>{html.escape(fmt(c.a))}</td>"
            f"<td class=num>{html.escape(fmt(c.b))}</td><td class=num>{html.escape(ratio(c.ratio))}</td></tr>"
        )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _page(outcome: Outcome, plots: Sequence[tuple[str, str]]) -> str:
    results = outcome.results
    title = "asynctrack loadtest: " + " vs ".join(r.target for r in results)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="dim">{html.escape(describe_workload(results[0].workload))}</p>',
    ]
    if len(results) == 2 and outcome.comparison:
        parts += ["<h2>Comparison</h2>", _comparison_table(results, outcome.comparison)]
    for r in results:
        parts += [
            f"<h2>{html.escape(r.target)}</h2>",
            f'<p class="dim">started {html.escape(r.started_at)}, experiment {html.escape(r.experiment_id)}, '
            f"load test {html.escape(r.loadtest_id)}</p>",
            _summary_table(r),
        ]
    parts.append("<h2>Plots</h2>")
    for name, caption in plots:
        parts.append(
            f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append('<p class="dim">Raw results: <a href="results.json">results.json</a></p>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(outcome: Outcome, directory: str) -> Path:
    """Write ``index.html``, the PNG plots and ``results.json`` into ``directory``; return the page."""
    try:
        # Imported here, not at the top: matplotlib is an optional extra, needed only for reports.
        plots_module = importlib.import_module("asynctrack.loadtest._plots")
    except ImportError as exc:
        raise ReportError(f"{_INSTALL_HINT} ({exc})") from None
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
        plots_module.draw_plots(outcome.results, out)
        (out / "results.json").write_bytes(msgspec.json.format(msgspec.json.encode(outcome), indent=2))
        page = out / "index.html"
        page.write_text(_page(outcome, plots_module.PLOTS), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {directory}: {exc.strerror or exc}") from None
    return page
