"""What the server's security middleware costs per request, measured in-process (no sockets, so the
figure is the middleware's own): a trivial ASGI app answering ``{}``, called directly and through
``security_middleware`` (Host, Origin, Content-Type, body timeout, response headers), with the headers
a real client sends.

    python bench/server_security.py [--requests 20000]

Prints microseconds per request for each case, the added cost, and the ratio; for scale, a log-batch of
1,000 metrics takes about 16 ms end to end (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asynctrack.server._config import ServerConfig
from asynctrack.server._security import security_middleware


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body"):
        pass
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


def _wrapped(app: ASGIApp) -> ASGIApp:
    for layer in reversed(security_middleware(ServerConfig())):
        app = layer.cls(app, *layer.args, **layer.kwargs)
    return app


def _scope(method: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/api/2.0/mlflow/runs/log-batch",
        "headers": headers,
        "query_string": b"",
    }


async def _time(app: ASGIApp, scope: dict[str, Any], n: int) -> float:
    body: Message = {"type": "http.request", "body": b"{}", "more_body": False}

    async def receive() -> Message:
        return body

    async def send(message: Message) -> None:
        pass

    start = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - start) / n * 1e6


async def main(n: int) -> None:
    cases = {
        "GET, python client": _scope("GET", [(b"host", b"127.0.0.1:5000")]),
        "python client (no Origin)": _scope(
            "POST",
            [(b"host", b"127.0.0.1:5000"), (b"content-type", b"application/json"), (b"content-length", b"2")],
        ),
        "browser, same origin": _scope(
            "POST",
            [
                (b"host", b"127.0.0.1:5000"),
                (b"origin", b"http://127.0.0.1:5000"),
                (b"sec-fetch-site", b"same-origin"),
                (b"content-type", b"application/json"),
                (b"content-length", b"2"),
            ],
        ),
    }
    guarded = _wrapped(_answer)
    for name, scope in cases.items():
        bare = min([await _time(_answer, scope, n) for _ in range(3)])
        full = min([await _time(guarded, scope, n) for _ in range(3)])
        print(
            f"{name:28s} bare {bare:6.2f} us  guarded {full:6.2f} us  "
            f"added {full - bare:5.2f} us  ({full / bare:.1f}x)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    anyio.run(main, parser.parse_args().requests)
