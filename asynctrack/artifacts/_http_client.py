"""HTTP for artifact repositories: one pooled client per server, MLflow's retry rules, streamed bodies.

Repositories are cached per run (``_sync``) and never closed when evicted, so they hold no connection of
their own: every request borrows the process's clients for its server (scheme, host and port), made on first
use: an ``httpx.AsyncClient`` on the running event loop (asynctrack's background loop) for API calls and
uploads, and a blocking ``httpx.Client`` for downloads, which an artifact I/O thread reads and writes to disk
in one go. ``close_pipelines()`` and the exit hook close them after the upload queue has finished (the
registry's closers run in order).

Retries follow the REST store's rules (``store/rest``): connection errors, timeouts and HTTP 408/429/5xx are
retried with MLflow's back-off, ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` times; a body is re-created for each
attempt (a file is re-read), and a download that breaks midway starts again. Everything else fails at once
with the server's error code and message (MLflow's error JSON), or the code MLflow derives from the status.
A 503 whose error code is ``FEATURE_DISABLED`` (a server not serving artifacts) is not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

import anyio
import httpx
import msgspec

from asynctrack._http._client import LIMITS, USER_AGENT
from asynctrack._http._config import HttpConfig
from asynctrack._http._large_reads import CHUNK, LargeReadTransport
from asynctrack._http._retry import Failure, send_with_retries
from asynctrack._redact import redact
from asynctrack.artifacts import _fs, _queue
from asynctrack.artifacts._paths import TEMP_PREFIX
from asynctrack.exceptions import TEMPORARILY_UNAVAILABLE, MlflowException
from asynctrack.pipeline import _registry

__all__ = ["Body", "HttpSession", "session_for"]

_log = logging.getLogger("asynctrack")

T = TypeVar("T")

#: A request body: bytes (sent again as they are on a retry), or a function making a fresh stream of chunks
#: for each attempt, with its length when known (then sent as ``Content-Length``, else chunked).
Body = bytes | tuple[Callable[[], AsyncIterator[bytes]], int | None] | None

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
    """Requests to one server origin with one configuration (auth, TLS, retries): an asyncio client for API
    calls and uploads, and a blocking client for downloads, which run in an artifact I/O thread that both
    reads the body and writes the file (measured: twice as fast as reading on the event loop and writing
    in a thread, which hands every chunk from one thread to the other)."""

    def __init__(self, origin: str, config: HttpConfig, client: httpx.AsyncClient) -> None:
        self.origin = origin
        self.config = config
        self.client = client
        self._blocking: httpx.Client | None = None
        self._lock = threading.Lock()

    def blocking_client(self) -> httpx.Client:
        with self._lock:
            if self._blocking is None:
                self._blocking = _open_blocking_client(self.origin, self.config)
            return self._blocking

    def close_blocking(self) -> None:
        with self._lock:
            client, self._blocking = self._blocking, None
        if client is not None:
            client.close()

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

        async def attempt() -> T | Failure:
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
                timeout = (
                    httpx.Timeout(http_timeout) if http_timeout is not None else httpx.USE_CLIENT_DEFAULT
                )
                request = self.client.build_request(
                    method, url, content=content, params=params, headers=send_headers, timeout=timeout
                )
                response = await self.client.send(request, stream=True)
                try:
                    if 200 <= response.status_code < 300:
                        return await handle(response)
                    payload = await response.aread()
                finally:
                    await response.aclose()
                return Failure(response.status_code, payload, response.headers.get("retry-after"))
            finally:
                aclose = getattr(content, "aclose", None)
                if aclose is not None:
                    await aclose()

        return await self._retrying(method, url, attempt, retry)

    async def download(self, url: str, dest: str) -> None:
        """GET ``url`` into the file ``dest`` (a temporary file renamed into place), each attempt in an
        artifact I/O thread with the blocking client; retried as :meth:`request`. A download cancelled
        midway finishes in its thread (nothing half-written is ever published)."""

        def attempt_in_thread() -> Failure | None:
            headers = self._headers(None, True)
            with self.blocking_client().stream("GET", url, headers=headers) as response:
                if 200 <= response.status_code < 300:
                    _write_stream(response.iter_bytes(CHUNK), dest)
                    return None
                return Failure(response.status_code, response.read(), response.headers.get("retry-after"))

        async def attempt() -> Failure | None:
            return await _fs.in_thread(attempt_in_thread)

        await self._retrying("GET", url, attempt, True)

    async def _retrying(
        self, method: str, url: str, attempt: Callable[[], Awaitable[T | Failure]], retry: bool
    ) -> T:
        def exhausted(retries: int, reason: str) -> MlflowException:
            return MlflowException(
                f"Artifact request {method} {redact(url)} failed after {retries} "
                f"{'retry' if retries == 1 else 'retries'} (MLFLOW_HTTP_REQUEST_MAX_RETRIES): {reason}",
                error_code=TEMPORARILY_UNAVAILABLE,
            )

        return await send_with_retries(
            attempt,
            method=method,
            url=url,
            config=self.config,
            exhausted=exhausted,
            retry=retry,
            not_retried=_NOT_RETRIED_CODES,
            what="artifact request",
        )

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


# -- one client per (origin, settings, event loop)

_sessions: dict[tuple[str, HttpConfig], tuple[object, HttpSession]] = {}
_lock = threading.Lock()
_closer_registered = False


def _client_options(origin: str, config: HttpConfig) -> dict[str, Any]:
    return {
        "timeout": httpx.Timeout(config.timeout),
        "follow_redirects": True,  # as MLflow; httpx drops Authorization when a redirect leaves the origin
        "headers": {"User-Agent": USER_AGENT},
    }


def _open_client(origin: str, config: HttpConfig) -> httpx.AsyncClient:
    try:
        return httpx.AsyncClient(
            http2=origin.startswith("https:"),
            verify=config.ssl_context() if origin.startswith("https:") else True,
            limits=LIMITS,
            **_client_options(origin, config),
        )
    except httpx.InvalidURL as exc:
        raise MlflowException(f"Invalid artifact server URL {redact(origin)!r}: {exc}") from exc


def _open_blocking_client(origin: str, config: HttpConfig) -> httpx.Client:
    verify = config.ssl_context() if origin.startswith("https:") else None
    return httpx.Client(transport=LargeReadTransport(verify, LIMITS), **_client_options(origin, config))


def _write_stream(chunks: Iterator[bytes], dest: str) -> None:
    """``chunks`` as the file ``dest``, through a temporary name renamed into place (a link at ``dest`` is
    replaced, never followed); nothing is left behind on failure."""
    tmp = os.path.join(os.path.dirname(dest), TEMP_PREFIX + secrets.token_hex(8))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with open(fd, "wb") as f:  # a buffered writer writes every byte it is given
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


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
    if not sessions:
        return []
    if not loop.running:
        for session in sessions:
            session.close_blocking()
        return []

    budget = max(0.1, deadline - time.monotonic())

    for session in sessions:
        session.close_blocking()

    async def close_all() -> None:
        with anyio.move_on_after(budget):
            for session in sessions:
                try:
                    await session.client.aclose()
                except Exception:  # made on another loop, since ended: its sockets went with it
                    _log.debug("asynctrack: artifact HTTP client not closed", exc_info=True)

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
