"""When to retry an HTTP request, and how long to wait first: MLflow's policy (urllib3's ``Retry``)."""

from __future__ import annotations

import email.utils
import random
import time

from asynctrack._http._config import MAX_BACKOFF, HttpConfig

__all__ = ["RETRY_AFTER_STATUSES", "RETRY_STATUSES", "delay_before_retry", "parse_retry_after"]

#: Answers worth retrying (MLflow's ``_TRANSIENT_FAILURE_RESPONSE_CODES``); connection errors and
#: timeouts are retried too.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Answers whose ``Retry-After`` header is honoured (urllib3's ``RETRY_AFTER_STATUS_CODES``, retried ones).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def delay_before_retry(config: HttpConfig, retry: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (1-based).

    The server's ``Retry-After`` wins when given and respected. Otherwise urllib3's formula, which MLflow
    uses: the first retry is immediate, the n-th waits ``factor * 2**(n-1)`` plus up to ``jitter``
    seconds of random jitter, capped at 120 s (7 retries with the defaults span about 4 minutes).
    A ``Retry-After`` is capped at 120 s as well, so no single wait blocks a caller for hours.
    """
    if retry_after is not None and retry_after > 0 and config.respect_retry_after:
        return min(retry_after, MAX_BACKOFF)
    if retry <= 1:
        return 0.0
    delay = config.backoff_factor * 2.0 ** (retry - 1)
    if config.backoff_jitter:
        delay += random.random() * config.backoff_jitter
    return min(MAX_BACKOFF, delay)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
