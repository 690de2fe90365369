"""Capped exponential back-off with full jitter, for transient store failures."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from asynctrack.store._protocol import StoreUnavailable

__all__ = ["Backoff", "retry_transient"]

T = TypeVar("T")
_log = logging.getLogger("asynctrack")


class Backoff:
    """Delays of ``base * 2**attempt`` seconds, capped, each drawn uniformly from ``[0, delay]``."""

    def __init__(self, base: float = 0.01, cap: float = 2.0) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return random.uniform(delay / 2, delay)


async def retry_transient(fn: Callable[[], Awaitable[T]], *, what: str, deadline: float | None = None) -> T:
    """Call ``fn`` until it does not raise :class:`StoreUnavailable`.

    Retries forever unless ``deadline`` (an ``anyio.current_time()`` value) passes, in which case the last
    error is raised. The first failure of a streak is logged once, and so is the recovery.
    """
    backoff = Backoff()
    while True:
        try:
            result = await fn()
        except StoreUnavailable as exc:
            if backoff.attempt == 0:
                _log.warning(
                    "asynctrack: %s: store unavailable (%s); retrying with back-off", what, exc.message
                )
            await anyio.sleep(backoff.next_delay())
            continue
        if backoff.attempt > 0:
            _log.warning("asynctrack: %s: store available again after %d retries", what, backoff.attempt)
        return result
