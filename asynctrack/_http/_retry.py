"""The one HTTP retry loop, for the REST store and the artifact client: MLflow's rules.

A request is made by an ``attempt()`` coroutine that returns the caller's result for a 2xx answer or a
:class:`Failure` for any other; transport errors are raised by httpx. :func:`send_with_retries` decides:

- a transport error that retrying cannot fix (certificate, TLS setup, URL) raises at once;
- connection errors, timeouts and HTTP 408/429/5xx are retried with MLflow's back-off (``_backoff.py``),
  honouring ``Retry-After``, ``config.max_retries`` times; then ``exhausted(retries, reason)`` is raised;
- any other answer raises the server's error (MLflow's error JSON, or the code MLflow derives from the
  status) at once, as do answers whose error code is in ``not_retried``.

A streak of retries is logged at DEBUG, and once at WARNING when it has lasted 5 s.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import NamedTuple, TypeVar

import anyio
import httpx

from asynctrack._http._backoff import (
    RETRY_AFTER_STATUSES,
    RETRY_STATUSES,
    delay_before_retry,
    parse_retry_after,
)
from asynctrack._http._config import HttpConfig
from asynctrack._http._errors import describe_failure, error_from_response, permanent_transport_error
from asynctrack._redact import redact
from asynctrack.exceptions import MlflowException

__all__ = ["Failure", "send_with_retries"]

_log = logging.getLogger("asynctrack")
_WARN_AFTER = 5.0

T = TypeVar("T")


class Failure(NamedTuple):
    """A non-2xx answer: what the retry rules look at."""

    status: int
    payload: bytes
    retry_after: str | None  # the Retry-After header, as sent


def _transport_reason(exc: httpx.TransportError, config: HttpConfig) -> str:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        reason += f" (no answer within {config.timeout:g} s: MLFLOW_HTTP_REQUEST_TIMEOUT)"
    return reason


async def send_with_retries(
    attempt: Callable[[], Awaitable[T | Failure]],
    *,
    method: str,
    url: str,
    config: HttpConfig,
    exhausted: Callable[[int, str], MlflowException],
    retry: bool = True,
    not_retried: frozenset[str] = frozenset(),
    what: str = "API request",
) -> T:
    """``await attempt()`` until it returns a result, retrying transient failures (module docstring).

    ``exhausted(retries, reason)`` makes the error raised when retries run out (or at once, with
    ``retries`` 0, when ``retry`` is False); ``what`` names the request in log lines.
    """
    retries = 0
    started = 0.0
    warned = False
    while True:
        retry_after: float | None = None
        try:
            outcome = await attempt()
        except httpx.TransportError as exc:
            permanent = permanent_transport_error(exc, url)
            if permanent is not None:
                raise permanent from exc
            reason = _transport_reason(exc, config)
            if not retry:
                raise exhausted(0, reason) from exc
        else:
            if not isinstance(outcome, Failure):
                return outcome
            status = outcome.status
            if not retry or status not in RETRY_STATUSES:
                raise error_from_response(status, outcome.payload, url)
            if not_retried:
                error = error_from_response(status, outcome.payload, url)
                if error.error_code in not_retried:
                    raise error
            reason = describe_failure(status, outcome.payload)
            if status in RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(outcome.retry_after)
        now = anyio.current_time()
        if retries == 0:
            started = now
        if retries >= config.max_retries:
            raise exhausted(retries, reason)
        retries += 1
        delay = delay_before_retry(config, retries, retry_after)
        level = logging.DEBUG
        if not warned and now - started >= _WARN_AFTER:
            warned, level = True, logging.WARNING
        _log.log(
            level,
            "asynctrack: %s %s %s failed (%s; failing for %.0f s); retry %d of %d in %.2f s",
            what,
            method,
            redact(url),
            reason,
            now - started,
            retries,
            config.max_retries,
            delay,
        )
        await anyio.sleep(delay)
