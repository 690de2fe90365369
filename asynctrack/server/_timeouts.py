"""Slow clients cannot hold the server: bounded time for a request's headers and for each piece of its body.

A *slowloris* client opens many connections and sends each request a byte at a time, or stops halfway:
every such connection holds a socket, a parser and (once the headers are in) a task, until the worker
runs out. uvicorn closes idle kept-alive connections (``timeout_keep_alive``) and caps connections
(``limit_concurrency``, set from ``--max-connections``: over it, 503), but it gives a new connection, or
one that has started its next request, unlimited time. Two bounds close that:

- :class:`HeaderTimeoutProtocol`, uvicorn's httptools protocol with one timer: from the moment a
  connection opens, or its previous response is complete, its next request's headers must be complete
  within ``--header-timeout`` seconds in total, however the bytes trickle in; else the connection is
  closed. (A reliance on uvicorn's protocol class, whose hooks are stable across its releases; with another
  ASGI server, that server's own header timeout applies.)
- :class:`BodyTimeoutGuard`, ASGI middleware: while a request's body is incomplete, each wait for its next
  piece is bounded by ``--body-timeout``; when one runs out, the route sees the client as disconnected
  (so an artifact upload discards its partial file) and the client gets 408 ``Request Timeout`` with
  ``Connection: close``, whatever the route answered. The same bound applies the other way to streamed
  responses (downloads): a client that takes no piece of one for ``--body-timeout`` seconds is cut off.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, TypeVarTuple

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from asynctrack.exceptions import BAD_REQUEST, MlflowException
from asynctrack.server._config import ServerConfig

__all__ = ["BodyTimeoutGuard", "HeaderTimeoutProtocol"]

_log = logging.getLogger("asynctrack.server")

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@functools.cache
def _header_timeout() -> float:
    """This worker's ``--header-timeout`` (the config its supervisor left in the environment)."""
    return ServerConfig.from_env().header_timeout


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request headers take too long."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_seconds = _header_timeout()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # With a pipelined request waiting, its headers are complete already; otherwise the next request's
        # headers are due within the bound from now.
        waiting_for_headers = not self.pipeline
        super().on_response_complete()
        if waiting_for_headers and not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self._header_seconds, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            _log.debug("closed %s: no complete request headers in %s s", self.client, self._header_seconds)
            self.transport.close()


class BodyTimeoutGuard:
    """ASGI middleware bounding each wait for a piece of the request body (see the module docstring)."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if _has_body(scope):
                await self._with_body(scope, receive, send)
            else:  # nothing to wait for on the way in
                await self.app(scope, receive, self._bounded_send(send))
        except Exception as exc:
            if not _slow_reader(exc):
                raise
            # uvicorn closes a connection whose response was left incomplete.
            _log.warning(
                "%s %s: %s took no response data for %s s; closing the connection",
                scope["method"],
                scope["path"],
                (scope.get("client") or ("?",))[0],
                self.timeout,
            )

    def _bounded_send(self, send: Send) -> Send:
        """``send``, raising :class:`_SlowReader` when the client takes no piece of a streamed response
        (a download) for ``timeout`` seconds; single-message answers fit the socket buffers and go as is."""

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("more_body", False):
                if not await _within(self.timeout, send, message):
                    raise _SlowReader
            else:
                await send(message)

        return sending

    async def _with_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        send = self._bounded_send(send)
        body_done = False
        timed_out = False
        response_started = False

        async def receiving() -> Message:
            nonlocal body_done, timed_out
            if body_done:  # afterwards the app only listens for a disconnect: no bound on that
                return await receive()
            if timed_out:
                return {"type": "http.disconnect"}
            message = await _within(self.timeout, receive)
            if isinstance(message, dict):
                if message["type"] != "http.request" or not message.get("more_body", False):
                    body_done = True
                return message
            timed_out = True
            _log.warning(
                "%s %s: no body data from %s for %s s; closing the connection",
                scope["method"],
                scope["path"],
                (scope.get("client") or ("?",))[0],
                self.timeout,
            )
            return {"type": "http.disconnect"}

        replaced = False

        async def sending(message: Message) -> None:
            nonlocal response_started, replaced
            if replaced:
                return
            if timed_out and not response_started:  # the route's own answer is replaced by the 408
                response_started = replaced = True
                await _send_timeout(send, self.timeout)
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        except _SlowReader:
            raise
        except Exception:
            if not (timed_out and not response_started):
                raise
        if timed_out and not response_started:
            await _send_timeout(send, self.timeout)


class _SlowReader(Exception):
    """The client stopped taking the response."""


def _slow_reader(exc: BaseException) -> bool:
    """Whether ``exc`` is :class:`_SlowReader`, alone or as the only kind in an exception group (a
    streaming response sends from a task group)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(_SlowReader)[1] is None
    return isinstance(exc, _SlowReader)


async def _within(seconds: float, call: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T | bool:
    """``call(*args)``'s result (True for None), or False when it takes longer than ``seconds``. On asyncio
    (uvicorn's loop) with asyncio's own timeout, a third of an anyio cancel scope's cost on this
    per-request path; on any other event loop with anyio's."""
    if _on_asyncio():
        try:
            async with asyncio.timeout(seconds):
                result = await call(*args)
        except TimeoutError:
            return False
        return True if result is None else result
    with anyio.move_on_after(seconds):
        result = await call(*args)
        return True if result is None else result
    return False


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio, say
        return False
    return True


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a GET without one has nothing to wait for)."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


async def _send_timeout(send: Send, seconds: float) -> None:
    exc = MlflowException(
        f"Request body not received in time: nothing arrived for {seconds:g} s (--body-timeout).",
        error_code=BAD_REQUEST,
    )
    body = exc.serialize_as_json().encode()
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
