"""Bounding synchronous calls while the store fails: the worker keeps retrying, the caller gives up.

The worker retries transient failures for as long as the process lives, because an operation it has
accepted must not be lost (asynchronous logging's promise). A *synchronous* call, though, promised its
caller an answer: it must not wait forever on a full disk or a dead server (MLflow raises at once). So the
worker records each streak of failures that are not mere lock contention in the queue's :class:`Outage`,
and a synchronous caller stops waiting once the streak has outlasted the store's retry budget:
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` (7 by default) retries, the same number the REST store makes for one
request (whose failure reaching the worker means that budget is already spent, so it gives up at the first).
The caller gets an :class:`MlflowException` (``TEMPORARILY_UNAVAILABLE``) naming the failure and what was
kept; its operations stay queued and are still written when the store recovers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from asynctrack.exceptions import TEMPORARILY_UNAVAILABLE, MlflowException
from asynctrack.store._protocol import StoreUnavailable

__all__ = ["Outage"]


class Outage:
    """The store's current streak of failures (not counting lock contention), as the worker sees it.

    Written by the worker on the loop thread, read by callers in their threads (each field write is atomic;
    a caller that reads a stale value just checks again at its next wake-up).
    """

    def __init__(self, budget: int = 7, kept: str = "") -> None:
        #: retries a synchronous caller sits through before giving up (after the first failed attempt)
        self.budget = budget
        #: what happens to operations not written, for the message (the pipeline says: journal or memory).
        self.kept = kept
        self.streak = 0  # failed attempts in the current streak (0: the store works)
        self.total = 0  # failed attempts ever: a caller counts those that happened while it waited
        self.since = 0.0  # time.monotonic() at the streak's first failure
        self.message = ""  # the latest failure's message
        self._notify: Callable[[], None] = lambda: None
        self._lock = threading.Lock()

    def attach(self, notify: Callable[[], None]) -> None:
        """``notify()`` wakes waiting callers (the queue's condition) so they look at a new failure."""
        self._notify = notify

    def observe(self, exc: StoreUnavailable | None) -> None:
        """The worker's report after a write attempt: the transient failure, or None for a success."""
        if exc is None:
            if self.streak:
                self.streak = 0
            return
        if exc.contention:  # another writer holds the lock: progress is being made, wait on
            return
        with self._lock:
            if self.streak == 0:
                self.since = time.monotonic()
            self.streak += 1
            self.total += 1
            self.message = exc.message
        self._notify()

    def give_up_check(self, call: str) -> Callable[[], MlflowException | None]:
        """For one synchronous call starting now: a check returning the error to raise once the store
        has failed ``budget + 1`` attempts in a row, at least one of them during this call."""
        start = self.total

        def check() -> MlflowException | None:
            if self.streak <= self.budget or self.total == start:
                return None
            return self.error(call)

        return check

    def error(self, call: str) -> MlflowException:
        elapsed = time.monotonic() - self.since
        if self.budget:
            budget = f"MLFLOW_HTTP_REQUEST_MAX_RETRIES={self.budget} retries, as many as the REST store makes"
        else:
            budget = "the store's own retries of the request, MLFLOW_HTTP_REQUEST_MAX_RETRIES"
        return MlflowException(
            f"{call} could not be written: {self.message}. Gave up after {self.streak} failed attempts over "
            f"{elapsed:.1f} s (the synchronous retry budget: {budget}). Nothing was dropped: {self.kept}",
            error_code=TEMPORARILY_UNAVAILABLE,
        )
