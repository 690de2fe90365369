"""Ctrl-C (and SIGTERM) as a counter the load test polls, instead of a KeyboardInterrupt that could
land anywhere: the first stops logging and drains, the second gives up on the drain, the third kills
the workers. Each step still ends with a report of what was measured."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["Interrupts", "catching_interrupts"]


class Interrupts:
    """How many times the user asked us to stop."""

    def __init__(self) -> None:
        self.count = 0
        self.signalled = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.signalled.set()

    @property
    def requested(self) -> bool:
        return self.count > 0


@contextmanager
def catching_interrupts() -> Iterator[Interrupts]:
    """Count SIGINT and SIGTERM for the duration (only on the main thread; elsewhere the counter stays
    at 0 and signals keep their usual effect)."""
    counter = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield counter
        return
    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, counter)
    try:
        yield counter
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
