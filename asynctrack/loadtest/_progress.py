"""Live progress on stderr while a load test runs: a rich panel redrawn four times a second on a
terminal; otherwise (CI logs, pipes) a plain line every five seconds and at each change of phase;
nothing with ``progress=False``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from asynctrack.loadtest._format import count, ms, rate
from asynctrack.loadtest._histogram import LatencySummary

__all__ = ["LiveProgress", "LiveView"]

_PLAIN_EVERY = 5.0


@dataclass
class LiveView:
    """What the progress display shows; the runner fills it in."""

    target: str
    phase: str = "starting"
    elapsed: float = 0.0
    sent: int = 0
    durable: int = 0
    sent_rate: float = 0.0
    durable_rate: float = 0.0
    queued: int = 0
    blocked: int = 0
    errors: int = 0
    caller: LatencySummary | None = None
    durability: LatencySummary | None = None
    reads: dict[str, LatencySummary] = field(default_factory=dict)

    def line(self) -> str:
        parts = [
            f"[{self.phase}] {self.elapsed:5.1f}s",
            f"sent {count(self.sent)} ({rate(self.sent_rate)}/s)",
            f"durable {count(self.durable)} ({rate(self.durable_rate)}/s)",
            f"queued {count(self.queued)}",
            f"errors {self.errors}",
        ]
        if self.caller is not None and self.caller.count:
            parts.append(f"call p50/p99 {ms(self.caller.p50_ms)}/{ms(self.caller.p99_ms)}")
        if self.durability is not None and self.durability.count:
            parts.append(f"durable p50/p99 {ms(self.durability.p50_ms)}/{ms(self.durability.p99_ms)}")
        return "  ".join(parts)

    def table(self) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row("target", f"{self.target}  [dim]{self.phase}[/dim]")
        grid.add_row("elapsed", f"{self.elapsed:.1f} s")
        grid.add_row("metrics sent", f"{count(self.sent)}  ({rate(self.sent_rate)}/s)")
        grid.add_row("durable", f"{count(self.durable)}  ({rate(self.durable_rate)}/s)")
        blocked = f"  ({self.blocked} callers blocked on a full queue)" if self.blocked else ""
        grid.add_row("queue depth", f"{count(self.queued)}{blocked}")
        grid.add_row("errors", f"[red]{self.errors}[/red]" if self.errors else "0")
        for label, lat in (
            ("call latency", self.caller),
            ("enqueue→durable", self.durability),
            *self.reads.items(),
        ):
            if lat is not None and lat.count:
                grid.add_row(label, f"p50 {ms(lat.p50_ms)}  p99 {ms(lat.p99_ms)}  (n={count(lat.count)})")
        return grid


class LiveProgress:
    """``with LiveProgress(console, enabled) as live: live.show(view)``."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self._console = console
        self._enabled = enabled
        self._live: Live | None = None
        self._last_plain = 0.0
        self._last_phase = ""

    def __enter__(self) -> LiveProgress:
        if self._enabled and self._console.is_terminal:
            self._live = Live(console=self._console, refresh_per_second=4, transient=True)
            self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def show(self, view: LiveView, force: bool = False, plain: bool = True) -> None:
        """Redraw the panel; without a terminal, print a line if due (or ``force``), unless ``plain`` is
        False (a passing phase not worth a line in a log)."""
        if not self._enabled:
            return
        if self._live is not None:
            self._live.update(view.table())
            return
        if not plain:
            return
        now = time.monotonic()
        if force or view.phase != self._last_phase or now - self._last_plain >= _PLAIN_EVERY:
            self._last_plain, self._last_phase = now, view.phase
            self._console.print(view.line(), markup=False, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        """A line that stays (above the live panel on a terminal)."""
        if self._enabled:
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)
