"""Capped exponential back-off with "equal" jitter (each delay drawn from its upper half), for transient
store failures."""

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
    """Delays of ``base * 2**attempt`` seconds, capped, each drawn uniformly from ``[delay / 2, delay]``:
    half the delay is always waited (so retries spread out as they grow), half is jitter (so writers
    that collided do not retry in step)."""

    def __init__(self, base: float = 0.01, cap: float = 2.0) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return random.uniform(delay / 2, delay)


# A lock held by another process for a moment is normal with several writers; say so only when it lasts.
_WARN_AFTER = 5.0


async def retry_transient(
    fn: Callable[[], Awaitable[T]],
    *,
    what: str,
    budget: int | None = None,
    observe: Callable[[StoreUnavailable | None], None] | None = None,
) -> T:
    """Call ``fn`` until it does not raise :class:`StoreUnavailable`.

    Lock contention is retried until cancelled (the pipeline's owner cancels at shutdown, between
    attempts). Other transient failures (a full disk, an I/O error) are retried ``budget`` times, then the
    last one is raised with the count added; ``None`` retries them for good too (the pipeline's worker,
    which must not lose what it accepted). ``observe`` sees each failure, and None after each success.
    A streak of failures is logged at DEBUG, then once at WARNING if it lasts 5 seconds, and its end likewise.
    """
    backoff = Backoff()
    started = 0.0
    warned = False
    failures = 0
    while True:
        try:
            result = await fn()
        except StoreUnavailable as exc:
            if observe is not None:
                observe(exc)
            if not exc.contention:
                failures += 1
                if budget is not None and failures > budget:
                    raise StoreUnavailable(
                        f"{exc.message}; gave up {what} after {failures} failed attempts "
                        f"(MLFLOW_HTTP_REQUEST_MAX_RETRIES={budget} retries)"
                    ) from exc
            now = anyio.current_time()
            if backoff.attempt == 0:
                started = now
                _log.debug("asynctrack: %s: store unavailable (%s); retrying", what, exc.message)
            elif not warned and now - started >= _WARN_AFTER:
                warned = True
                _log.warning(
                    "asynctrack: %s: store unavailable for %.0f s (%s); still retrying with back-off",
                    what,
                    now - started,
                    exc.message,
                )
            await anyio.sleep(backoff.next_delay())
            continue
        if observe is not None:
            observe(None)
        if warned:
            _log.warning("asynctrack: %s: store available again after %d retries", what, backoff.attempt)
        return result
