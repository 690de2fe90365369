"""How CLI commands print: readable tables by default, JSON for scripts, one-line errors."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Collection, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["fail", "print_json", "print_table", "short_time", "terminal_width", "when"]


def when(ms: int | None) -> str:
    """Milliseconds since the epoch as a local ISO time ('' for None)."""
    if ms is None:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000).isoformat(sep=" ", timespec="seconds")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, allow_nan=True)
    sys.stdout.write("\n")


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    whole: Collection[str] = (),
    note: str = "",
) -> None:
    """A table that fits the terminal. Columns named in ``whole`` (ids, paths: values a user copies) are
    never cut or wrapped; the others fold when the terminal is narrow. ``note`` is printed under it."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    for i, c in enumerate(columns):
        if c in whole:
            widest = max([len(c), *(len(r[i]) for r in cells)])
            table.add_column(c, no_wrap=True, min_width=widest)
        else:
            table.add_column(c, overflow="fold")
    for row in cells:
        table.add_row(*(escape(v) for v in row))
    console = Console()
    console.print(table)
    if note:
        console.print(escape(note), soft_wrap=True, highlight=False)


def short_time(ms: int | None) -> str:
    """Milliseconds since the epoch as a compact local time, for narrow tables ('' for None)."""
    if ms is None:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%m-%d %H:%M")


def terminal_width() -> int:
    return Console().width


def fail(message: str, code: int = 1) -> int:
    """Print ``error: message`` to stderr; return the exit code to use."""
    # The message is text, not rich markup: "pip install asynctrack[report]" must keep its brackets.
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return code
