"""The server's protective middleware, in the order a request meets it (see docs/security.md).

0. :class:`SecurityHeaders`: ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: SAMEORIGIN`` on
   every response, refusals included, unless the route set its own (the UI sets a stricter CSP).
1. :class:`~asynctrack.server._hosts.HostGuard`: the ``Host`` header names this server (DNS rebinding).
2. :class:`~asynctrack.server._cross_origin.OriginGuard`: no writes from other sites; CORS for allowed ones.
3. :class:`~asynctrack.server._content_type.ContentTypeGuard`: writes are JSON (or an artifact upload).
4. :class:`~asynctrack.server._timeouts.BodyTimeoutGuard`: a stalled request body ends the request.

They wrap the whole app, so every route, present or added later, is covered without opting in. Further
layers (authentication) go after these: a request from a foreign site or for a foreign Host is refused
before anyone looks at its credentials.
"""

from __future__ import annotations

import ipaddress

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asynctrack.server._config import ServerConfig
from asynctrack.server._content_type import ContentTypeGuard
from asynctrack.server._cross_origin import OriginGuard, OriginPolicy
from asynctrack.server._hosts import HostGuard, HostPolicy
from asynctrack.server._timeouts import BodyTimeoutGuard

__all__ = ["SecurityHeaders", "exposure_warning", "is_loopback", "security_middleware"]

_DEFAULT_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"SAMEORIGIN"))


class SecurityHeaders:
    """ASGI middleware: the default response headers, where the route did not set them (no MIME sniffing
    of API answers or artifacts; no framing by other sites' pages, against clickjacking)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _DEFAULT_HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def security_middleware(config: ServerConfig) -> list[Middleware]:
    """The middleware stack for ``config``, outermost first (Starlette's ``middleware=`` order)."""
    return [
        Middleware(SecurityHeaders),
        Middleware(HostGuard, policy=HostPolicy(config.allowed_hosts, config.host)),
        Middleware(OriginGuard, policy=OriginPolicy(config.cors_allowed_origins)),
        Middleware(ContentTypeGuard),
        Middleware(BodyTimeoutGuard, timeout=config.body_timeout),
    ]


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server reachable from this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a name that may resolve to any interface


def exposure_warning(config: ServerConfig) -> str | None:
    """The startup warning for a server other machines can reach without authentication, or None."""
    if is_loopback(config.host):
        return None
    if config.auth:
        return (
            f"listening on {config.host}, reachable from other machines: passwords, API tokens and session "
            "cookies cross the network in the clear unless a reverse proxy terminates TLS in front of this "
            "server (see docs/security.md)."
        )
    return (
        f"listening on {config.host}, reachable from other machines, and this server has no "
        "authentication: anyone who can connect can read and change every experiment and artifact. "
        "Bind to 127.0.0.1, or turn on --auth (behind a reverse proxy with TLS), and set "
        "--allowed-hosts to the names clients use (see docs/security.md)."
    )
