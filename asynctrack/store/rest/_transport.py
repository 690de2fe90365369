"""One pooled HTTP client per REST store, and the request loop: retries, back-off, error mapping.

The client is an ``httpx.AsyncClient`` (anyio-native, so it runs on the pipeline's loop like the rest of
the core): connections are kept alive and reused; HTTP/2 is offered through ALPN on TLS connections and
used when the server picks it (many concurrent requests then share one connection), HTTP/1.1 otherwise.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Mapping, Sequence
from typing import TypeVar

import anyio
import httpx
import msgspec

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store._protocol import StoreUnavailable
from asynctrack.store.rest._backoff import (
    RETRY_AFTER_STATUSES,
    RETRY_STATUSES,
    delay_before_retry,
    parse_retry_after,
)
from asynctrack.store.rest._config import HttpConfig
from asynctrack.store.rest._errors import (
    describe_failure,
    error_from_response,
    malformed_response,
    permanent_transport_error,
    redact,
)

__all__ = ["Transport"]

_log = logging.getLogger("asynctrack")

# Connections per store: enough for the pipeline's concurrent writes plus readers on other threads.
_MAX_CONNECTIONS = 32
_MAX_KEEPALIVE = 16
# A streak of retries is logged at DEBUG, then once at WARNING when it lasts this long.
_WARN_AFTER = 5.0

T = TypeVar("T")
QueryParams = Mapping[str, str | int | Sequence[str]]


class _QuietPipelineRequests(logging.Filter):
    """Drops httpx's per-request INFO line ("HTTP Request: POST ... 200 OK") for requests made on
    asynctrack's background loop: logging at INFO would otherwise print one line per log-batch, hundreds
    a second. Other threads' httpx traffic (the user's own clients) is left alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and record.threadName == "asynctrack-loop")


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _QuietPipelineRequests) for f in _httpx_log.filters):
    _httpx_log.addFilter(_QuietPipelineRequests())


@functools.cache
def _user_agent() -> str:
    try:
        version = importlib.metadata.version("asynctrack")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        version = "dev"
    return f"asynctrack/{version} httpx/{httpx.__version__}"


class Transport:
    """Requests to one tracking server: ``await transport.call("GET", "/api/...", Decoder)``."""

    def __init__(self, base_url: str, config: HttpConfig, client: httpx.AsyncClient) -> None:
        self.base_url = base_url
        self.config = config
        self._client = client

    @classmethod
    def open(cls, base_url: str, config: HttpConfig) -> Transport:
        """A transport with its connection pool (no connection is made until the first request)."""
        base_url = base_url.rstrip("/")
        headers = {"User-Agent": _user_agent()}
        if config.authorization is not None:
            headers["Authorization"] = config.authorization
        verify = config.ssl_context() if base_url.lower().startswith("https:") else True
        try:
            client = httpx.AsyncClient(
                base_url=base_url,
                http2=True,
                verify=verify,
                headers=headers,
                timeout=httpx.Timeout(config.timeout),
                limits=httpx.Limits(
                    max_connections=_MAX_CONNECTIONS, max_keepalive_connections=_MAX_KEEPALIVE
                ),
                # As MLflow (MLFLOW_ALLOW_HTTP_REDIRECTS defaults to true); httpx drops the
                # Authorization header when a redirect leaves the origin.
                follow_redirects=True,
            )
        except httpx.InvalidURL as exc:
            raise MlflowException(
                f"Invalid tracking URI {redact(base_url)!r}: {exc}", error_code=INVALID_PARAMETER_VALUE
            ) from exc
        return cls(base_url, config, client)

    def url(self, endpoint: str) -> str:
        return self.base_url + endpoint

    async def call(
        self,
        method: str,
        endpoint: str,
        decoder: msgspec.json.Decoder[T],
        *,
        body: bytes | None = None,
        params: QueryParams | None = None,
        idempotency_key: str | None = None,
    ) -> T:
        """Send one request, retrying transient failures; return the decoded answer.

        Raises :class:`StoreUnavailable` once ``max_retries`` retries have failed transiently, and
        :class:`MlflowException` at once for an answer that retrying cannot change (4xx, TLS).

        Every request, POSTs included, is retried, as MLflow does. A request whose answer was lost after
        the server applied it (a timeout, a dropped connection) is therefore applied twice: harmless for
        everything but metric points, which a server may then store twice (MLflow's SQL store ignores an
        exact duplicate point; other servers may not). ``idempotency_key`` is sent as the
        ``Idempotency-Key`` header with every attempt: asynctrack's server applies a request once per key.
        """
        config = self.config
        headers = {"Content-Type": "application/json"} if body is not None else None
        if idempotency_key is not None:
            headers = {**(headers or {}), "Idempotency-Key": idempotency_key}
        retries = 0
        started = 0.0
        warned = False
        while True:
            retry_after: float | None = None
            try:
                resp = await self._client.request(
                    method, endpoint, content=body, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                permanent = permanent_transport_error(exc, self.url(endpoint))
                if permanent is not None:
                    raise permanent from exc
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if isinstance(exc, httpx.TimeoutException):
                    reason += f" (no answer within {config.timeout:g} s: MLFLOW_HTTP_REQUEST_TIMEOUT)"
            else:
                status = resp.status_code
                if 200 <= status < 300:
                    content = resp.content
                    try:
                        return decoder.decode(content if content.strip() else b"{}")
                    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                        raise malformed_response(self.url(endpoint), exc) from exc
                if status not in RETRY_STATUSES:
                    raise error_from_response(status, resp.content, self.url(endpoint))
                reason = describe_failure(status, resp.content)
                if status in RETRY_AFTER_STATUSES:
                    retry_after = parse_retry_after(resp.headers.get("retry-after"))
            now = anyio.current_time()
            if retries == 0:
                started = now
            if retries >= config.max_retries:
                raise StoreUnavailable(
                    f"API request to {redact(self.url(endpoint))} failed after {retries} "
                    f"{'retry' if retries == 1 else 'retries'} (MLFLOW_HTTP_REQUEST_MAX_RETRIES): {reason}"
                )
            retries += 1
            delay = delay_before_retry(config, retries, retry_after)
            if not warned and now - started >= _WARN_AFTER:
                warned = True
                _log.warning(
                    "asynctrack: %s %s failing for %.0f s (%s); retry %d of %d in %.1f s",
                    method,
                    redact(self.url(endpoint)),
                    now - started,
                    reason,
                    retries,
                    config.max_retries,
                    delay,
                )
            else:
                _log.debug(
                    "asynctrack: %s %s failed (%s); retry %d of %d in %.2f s",
                    method,
                    redact(self.url(endpoint)),
                    reason,
                    retries,
                    config.max_retries,
                    delay,
                )
            await anyio.sleep(delay)

    async def aclose(self) -> None:
        await self._client.aclose()
