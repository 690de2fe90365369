"""Tiny real HTTP servers on loopback whose answers a test scripts: for retries, outages, auth, TLS, HTTP/2.

``Scripted`` is a raw ASGI app: it records every request (method, path, query, headers, body, HTTP version,
client port) and answers from a list of replies, then with a default reply. ``serve`` runs it under uvicorn
(HTTP/1.1, the stack asynctrack's own server uses) or hypercorn (which also speaks HTTP/2 over TLS) in a
thread with its own event loop, so the store under test talks to it over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypercorn.asyncio
import hypercorn.config
import uvicorn
from servers import free_port


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    http_version: str
    client_port: int


class Scripted:
    """An ASGI app answering with ``replies`` in order, then ``default``; ``requests`` lists what came in.

    ``respond``, if given, sees each request first and may answer it (return a Reply) or pass (None).
    """

    def __init__(
        self,
        replies: list[Reply] | None = None,
        default: Reply | None = None,
        respond: Callable[[Seen], Reply | None] | None = None,
    ) -> None:
        self.replies = list(replies or [])
        self.default = default or Reply()
        self.respond = respond
        self.requests: list[Seen] = []
        self.times: list[float] = []  # time.monotonic() of each request's arrival

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.times.append(time.monotonic())
        seen = Seen(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode(),
            {k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body,
            scope["http_version"],
            scope["client"][1] if scope.get("client") else 0,
        )
        self.requests.append(seen)
        reply = self.respond(seen) if self.respond is not None else None
        if reply is None:
            reply = self.replies.pop(0) if self.replies else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})


@dataclass
class Tls:
    """Certificate files for a TLS server (``ca_certs`` set: clients must present a certificate)."""

    certfile: str
    keyfile: str
    ca_certs: str | None = None


class _Uvicorn:
    def __init__(self, app: Any, port: int, tls: Tls | None) -> None:
        kwargs: dict[str, Any] = {}
        if tls is not None:
            kwargs = {"ssl_certfile": tls.certfile, "ssl_keyfile": tls.keyfile}
            if tls.ca_certs is not None:
                kwargs.update(ssl_ca_certs=tls.ca_certs, ssl_cert_reqs=ssl.CERT_REQUIRED)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off", **kwargs)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class _Hypercorn:
    def __init__(self, app: Any, port: int, tls: Tls | None) -> None:
        self.config = hypercorn.config.Config()
        self.config.bind = [f"127.0.0.1:{port}"]
        self.config.loglevel = "ERROR"
        if tls is not None:
            self.config.certfile = tls.certfile
            self.config.keyfile = tls.keyfile
        self.app = app
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.done: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, name=f"hypercorn-{port}", daemon=True)
        self.port = port

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.done = asyncio.Event()
            await hypercorn.asyncio.serve(self.app, self.config, shutdown_trigger=self.done.wait)

        asyncio.run(main())

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while True:  # ready once the port accepts connections
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.loop is not None and self.done is not None:
            self.loop.call_soon_threadsafe(self.done.set)
        self.thread.join(10)


@contextlib.contextmanager
def serve(
    app: Any, *, port: int | None = None, tls: Tls | None = None, server: str = "uvicorn"
) -> Iterator[str]:
    """Serve ``app`` on ``127.0.0.1:port`` (a free port by default); yields the base URL."""
    port = port or free_port()
    runner = _Uvicorn(app, port, tls) if server == "uvicorn" else _Hypercorn(app, port, tls)
    runner.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        runner.stop()
