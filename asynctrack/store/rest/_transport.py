"""One pooled HTTP client per REST store, and the request loop: retries, back-off, error mapping.

The client is an ``httpx.AsyncClient`` (anyio-native, so it runs on the pipeline's loop like the rest of
the core): connections are kept alive and reused; HTTP/2 is offered through ALPN on TLS connections and
used when the server picks it (many concurrent requests then share one connection), HTTP/1.1 otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TypeVar

import httpx
import msgspec

from asynctrack._http._client import LIMITS, USER_AGENT
from asynctrack._http._config import HttpConfig
from asynctrack._http._errors import malformed_response
from asynctrack._http._retry import Failure, send_with_retries
from asynctrack._redact import redact
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store._protocol import StoreUnavailable

__all__ = ["Transport"]

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
        headers = {"User-Agent": USER_AGENT}
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
                limits=LIMITS,
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
        headers = {"Content-Type": "application/json"} if body is not None else None
        if idempotency_key is not None:
            headers = {**(headers or {}), "Idempotency-Key": idempotency_key}
        url = self.url(endpoint)

        async def attempt() -> T | Failure:
            resp = await self._client.request(method, endpoint, content=body, params=params, headers=headers)
            if 200 <= resp.status_code < 300:
                content = resp.content
                try:
                    return decoder.decode(content if content.strip() else b"{}")
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    raise malformed_response(url, exc) from exc
            return Failure(resp.status_code, resp.content, resp.headers.get("retry-after"))

        def exhausted(retries: int, reason: str) -> MlflowException:
            return StoreUnavailable(
                f"API request to {redact(url)} failed after {retries} "
                f"{'retry' if retries == 1 else 'retries'} (MLFLOW_HTTP_REQUEST_MAX_RETRIES): {reason}"
            )

        return await send_with_retries(
            attempt, method=method, url=url, config=self.config, exhausted=exhausted
        )

    async def aclose(self) -> None:
        await self._client.aclose()
