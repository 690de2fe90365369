"""How CLI commands print: readable tables by default, JSON for scripts, one-line errors."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["fail", "print_json", "print_table", "when"]


def when(ms: int | None) -> str:
    """Milliseconds since the epoch as a local ISO time ('' for None)."""
    if ms is None:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000).isoformat(sep=" ", timespec="seconds")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, allow_nan=True)
    sys.stdout.write("\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title)
    for c in columns:
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else escape(str(v)) for v in row))
    Console().print(table)


def fail(message: str, code: int = 1) -> int:
    """Print ``error: message`` to stderr; return the exit code to use."""
    # The message is text, not rich markup: "pip install asynctrack[report]" must keep its brackets.
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return code
