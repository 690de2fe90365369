"""HTTP for artifact repositories: one pooled client per server, MLflow's retry rules, streamed bodies.

Repositories are cached per run (``_sync``) and never closed when evicted, so they hold no connection of
their own: every request borrows the process's ``httpx.AsyncClient`` for its server (scheme, host and port),
created on first use on the running event loop (asynctrack's background loop) and closed by
``close_pipelines()`` and at exit, after the upload queue has finished (the registry's closers run in order).

Retries follow the REST store's rules (``store/rest``): connection errors, timeouts and HTTP 408/429/5xx are
retried with MLflow's back-off, ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` times; a body is re-created for each
attempt (a file is re-read), and a download that breaks midway starts again. Everything else fails at once
with the server's error code and message (MLflow's error JSON), or the code MLflow derives from the status.
A 503 whose error code is ``FEATURE_DISABLED`` (a server not serving artifacts) is not retried.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
import httpx
import msgspec

from asynctrack.artifacts import _queue
from asynctrack.exceptions import TEMPORARILY_UNAVAILABLE, MlflowException
from asynctrack.pipeline import _registry
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
    permanent_transport_error,
    redact,
)

__all__ = ["Body", "HttpSession", "session_for"]

_log = logging.getLogger("asynctrack")

T = TypeVar("T")

#: A request body: bytes (sent again as they are on a retry), or a function making a fresh stream of chunks
#: for each attempt, with its length when known (then sent as ``Content-Length``, else chunked).
Body = bytes | tuple[Callable[[], AsyncIterator[bytes]], int | None] | None

_MAX_CONNECTIONS = 32
_WARN_AFTER = 5.0
_NOT_RETRIED_CODES = frozenset({"FEATURE_DISABLED"})


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (user info left out)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme.lower()}://{host.lower()}{port}"


class HttpSession:
    """Requests to one server origin with one configuration (auth, TLS, retries)."""

    def __init__(self, origin: str, config: HttpConfig, client: httpx.AsyncClient) -> None:
        self.origin = origin
        self.config = config
        self.client = client

    def _headers(self, extra: Mapping[str, str] | None, authorize: bool) -> dict[str, str]:
        headers = dict(extra or {})
        if authorize and self.config.authorization is not None:
            headers.setdefault("Authorization", self.config.authorization)
        return headers

    async def request(
        self,
        method: str,
        url: str,
        handle: Callable[[httpx.Response], Awaitable[T]],
        *,
        body: Body = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
        http_timeout: float | None = None,
        authorize: bool = True,
    ) -> T:
        """Send ``method url``; on a 2xx answer return ``await handle(response)`` (its body still unread, so
        ``handle`` may stream it). Transient failures, in the request or while ``handle`` reads the body,
        are retried; ``handle``'s own errors are not. ``authorize``: send MLflow's credentials (not to
        another service, such as a presigned part URL)."""
        config = self.config
        retries = 0
        started = 0.0
        warned = False
        while True:
            retry_after: float | None = None
            send_headers = self._headers(headers, authorize)
            content: bytes | AsyncIterator[bytes] | None
            if isinstance(body, tuple):
                make, length = body
                content = make()
                if length is not None:
                    send_headers["Content-Length"] = str(length)
            else:
                content = body
            try:
                request = self.client.build_request(
                    method,
                    url,
                    content=content,
                    params=params,
                    headers=send_headers,
                    timeout=httpx.Timeout(http_timeout)
                    if http_timeout is not None
                    else httpx.USE_CLIENT_DEFAULT,
                )
                response = await self.client.send(request, stream=True)
                try:
                    status = response.status_code
                    if 200 <= status < 300:
                        return await handle(response)
                    payload = await response.aread()
                finally:
                    await response.aclose()
                error = error_from_response(status, payload, url)
                if not retry or status not in RETRY_STATUSES or error.error_code in _NOT_RETRIED_CODES:
                    raise error
                reason = describe_failure(status, payload)
                if status in RETRY_AFTER_STATUSES:
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
            except httpx.TransportError as exc:
                permanent = permanent_transport_error(exc, url)
                if permanent is not None:
                    raise permanent from exc
                if not retry:
                    raise _unavailable(method, url, 0, f"{type(exc).__name__}: {exc}") from exc
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if isinstance(exc, httpx.TimeoutException):
                    reason += f" (no answer within {config.timeout:g} s: MLFLOW_HTTP_REQUEST_TIMEOUT)"
            finally:
                if content is not None and not isinstance(content, bytes):
                    aclose = getattr(content, "aclose", None)
                    if aclose is not None:
                        await aclose()
            now = anyio.current_time()
            if retries == 0:
                started = now
            if retries >= config.max_retries:
                raise _unavailable(method, url, retries, reason)
            retries += 1
            delay = delay_before_retry(config, retries, retry_after)
            level = logging.DEBUG
            if not warned and now - started >= _WARN_AFTER:
                warned, level = True, logging.WARNING
            _log.log(
                level,
                "asynctrack: artifact request %s %s failed (%s); retry %d of %d in %.2f s",
                method,
                redact(url),
                reason,
                retries,
                config.max_retries,
                delay,
            )
            await anyio.sleep(delay)

    async def json(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        decoder: msgspec.json.Decoder[T],
        retry: bool = True,
        http_timeout: float | None = None,
    ) -> T:
        """A JSON request (``body`` encoded when given) and its decoded JSON answer."""

        async def decode(response: httpx.Response) -> T:
            content = await response.aread()
            try:
                return decoder.decode(content if content.strip() else b"{}")
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise MlflowException(
                    f"Artifact request to {redact(url)} returned a body that is not MLflow's JSON: {exc}"
                ) from exc

        encoded = None if body is None else msgspec.json.encode(body)
        return await self.request(
            method,
            url,
            decode,
            body=encoded,
            params=params,
            headers={"Content-Type": "application/json"} if encoded is not None else None,
            retry=retry,
            http_timeout=http_timeout,
        )


def _unavailable(method: str, url: str, retries: int, reason: str) -> MlflowException:
    return MlflowException(
        f"Artifact request {method} {redact(url)} failed after {retries} "
        f"{'retry' if retries == 1 else 'retries'} (MLFLOW_HTTP_REQUEST_MAX_RETRIES): {reason}",
        error_code=TEMPORARILY_UNAVAILABLE,
    )


# -- one client per (origin, settings, event loop)

_sessions: dict[tuple[str, HttpConfig], tuple[object, HttpSession]] = {}
_lock = threading.Lock()
_closer_registered = False


def _open_client(origin: str, config: HttpConfig) -> httpx.AsyncClient:
    verify = config.ssl_context() if origin.startswith("https:") else True
    try:
        return httpx.AsyncClient(
            http2=origin.startswith("https:"),
            verify=verify,
            timeout=httpx.Timeout(config.timeout),
            limits=httpx.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=_MAX_CONNECTIONS),
            follow_redirects=True,  # as MLflow; httpx drops Authorization when a redirect leaves the origin
            headers={"User-Agent": f"asynctrack httpx/{httpx.__version__}"},
        )
    except httpx.InvalidURL as exc:
        raise MlflowException(f"Invalid artifact server URL {redact(origin)!r}: {exc}") from exc


def _running_loop() -> object:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # another library's loop (repositories run on asynctrack's asyncio loop)
        return threading.get_ident()


def session_for(url: str, config: HttpConfig) -> HttpSession:
    """The session for ``url``'s server, on the running event loop (a client made on another loop, one
    that has ended, is not reused)."""
    global _closer_registered
    origin = origin_of(url)
    token = _running_loop()
    key = (origin, config)
    with _lock:
        entry = _sessions.get(key)
        if entry is not None and entry[0] == token:
            return entry[1]
        session = HttpSession(origin, config, _open_client(origin, config))
        _sessions[key] = (token, session)
        register = not _closer_registered
        _closer_registered = True
    if register:
        # Closers run in registration order: the upload queue's first (it finishes or cancels its
        # uploads), then ours, so no upload loses its connection midway.
        _queue.artifact_queue()
        _registry.add_closer(_close_sessions)
    return session


def _close_sessions(deadline: float, reason: str) -> list[str]:
    with _lock:
        sessions = [session for _, session in _sessions.values()]
        _sessions.clear()
    loop = _registry.background_loop()
    if not sessions or not loop.running:
        return []

    budget = max(0.1, deadline - time.monotonic())

    async def close_all() -> None:
        with anyio.move_on_after(budget):
            for session in sessions:
                await session.client.aclose()

    try:
        loop.call(close_all)
    except Exception:  # the loop is stopping, or a client was made on another loop: nothing to release
        _log.debug("asynctrack: artifact HTTP clients not closed", exc_info=True)
    return []


def _after_fork_in_child() -> None:
    global _lock
    _sessions.clear()  # their sockets and loop belong to the parent
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
