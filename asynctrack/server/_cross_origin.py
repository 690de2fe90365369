"""Cross-site request forgery and CORS: only this server's own origin, and those in
``--cors-allowed-origins``, may change anything from a browser.

A page on another site can make the user's browser send requests to the server (a form post, a
``fetch`` with ``mode: "no-cors"``); the browser then stops the page from *reading* the answer, but the
write has happened. Browsers label such requests: ``Origin`` on every cross-origin request that is not a
GET or HEAD, and ``Sec-Fetch-Site`` on every request in current browsers. So, for every request, before
any route sees it:

- a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` is neither this server's own
  origin nor allowed, or that carries no ``Origin`` but ``Sec-Fetch-Site: cross-site``/``same-site``, gets
  403 ``PERMISSION_DENIED`` (MLflow's "Cross-origin request blocked", then why);
- a CORS preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from an allowed
  origin is answered 204 with the ``Access-Control-Allow-*`` headers, from any other origin 403;
- responses to allowed origins carry ``Access-Control-Allow-Origin`` (and credentials, unless the allowed
  list is ``*``), so their pages can read them; other origins' pages cannot;

Requests without ``Origin`` and ``Sec-Fetch-Site`` (the Python clients, curl) are not browser requests
from another site and pass. Unlike MLflow 3.17.2, ``http://localhost:<any port>`` origins are not
allowed by default: another local program's page is another site. ``--cors-allowed-origins`` entries are
exact origins (``https://app.example.com``) or patterns with ``*`` (``https://*.example.com``); ``*``
alone allows every origin, without credentials.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asynctrack.exceptions import MlflowException
from asynctrack.server._errors import error_response
from asynctrack.server._hosts import header, split_host

__all__ = ["STATE_CHANGING", "OriginGuard", "OriginPolicy", "same_origin"]

_log = logging.getLogger("asynctrack.server")

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CORS_BLOCKED_MSG = "Cross-origin request blocked"
_FOREIGN_SITES = frozenset({"cross-site", "same-site"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_HEADER_LIST = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$")


def _normal(origin: str) -> str:
    return origin.strip().lower().rstrip("/")


@functools.lru_cache(maxsize=256)
def same_origin(origin: str, host: str | None) -> bool:
    """Whether ``origin`` (an ``Origin`` header) names the server reached as ``host`` (its ``Host``
    header): same host name and port, a missing port being the default of the origin's scheme (behind a
    TLS proxy the server sees ``http`` while the browser's origin is ``https``; the name and port are
    what an attacker cannot share)."""
    if host is None:
        return False
    try:
        parts = urlsplit(origin.strip())
        origin_port = parts.port
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return False
    target = split_host(host.strip())
    if target is None:
        return False
    default = _DEFAULT_PORTS[scheme]
    name = parts.hostname.lower().rstrip(".")
    return name == target[0] and (origin_port or default) == (target[1] or default)


class OriginPolicy:
    """Which foreign origins may write and read (``--cors-allowed-origins``)."""

    def __init__(self, allowed_origins: Iterable[str]) -> None:
        entries = [_normal(o) for o in allowed_origins if o.strip()]
        self.any_origin = "*" in entries
        self.patterns = [
            re.compile("^" + ".*".join(re.escape(p) for p in e.split("*")) + "$") for e in entries if e != "*"
        ]

    def allows(self, origin: str) -> bool:
        if self.any_origin:
            return True
        value = _normal(origin)
        return any(p.match(value) for p in self.patterns)


class OriginGuard:
    """ASGI middleware enforcing :class:`OriginPolicy` on every route (see the module docstring)."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        origin = header(scope, b"origin")
        foreign = origin is not None and not same_origin(origin, header(scope, b"host"))
        allowed = foreign and origin is not None and self.policy.allows(origin)
        if method == "OPTIONS" and origin is not None and header(scope, b"access-control-request-method"):
            if foreign and not allowed:
                await self._refuse(scope, receive, send, origin, "preflight")
                return
            await self._preflight(scope, origin)(scope, receive, send)
            return
        if method in STATE_CHANGING:
            if foreign and not allowed:
                await self._refuse(scope, receive, send, origin, "state-changing request")
                return
            site = header(scope, b"sec-fetch-site")
            if origin is None and site in _FOREIGN_SITES and not self.policy.any_origin:
                await self._refuse(scope, receive, send, f"(none, Sec-Fetch-Site: {site})", "request")
                return
        if allowed and origin is not None:
            await self.app(scope, receive, _with_headers(send, self._cors_headers(origin)))
        else:
            await self.app(scope, receive, send)

    def _cors_headers(self, origin: str) -> list[tuple[str, str]]:
        if self.policy.any_origin:
            return [("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", "ETag")]
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Expose-Headers", "ETag"),
            ("Vary", "Origin"),
        ]

    def _preflight(self, scope: Scope, origin: str) -> Response:
        headers = dict(self._cors_headers(origin))
        headers.pop("Access-Control-Expose-Headers")
        headers["Access-Control-Allow-Methods"] = _ALLOW_METHODS
        requested = header(scope, b"access-control-request-headers")
        if requested and _HEADER_LIST.match(requested.strip()):
            headers["Access-Control-Allow-Headers"] = requested.strip()
        headers["Access-Control-Max-Age"] = "600"
        headers["Vary"] = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        return Response(status_code=204, headers=headers)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, origin: str | None, what: str
    ) -> None:
        shown = repr((origin or "")[:200])
        _log.warning("blocked cross-origin %s %s %s from %s", what, scope["method"], scope["path"], shown)
        exc = MlflowException(
            f"{CORS_BLOCKED_MSG}: origin {shown} is not this server's origin and not in "
            "--cors-allowed-origins, so it may not send this request.",
            error_code="PERMISSION_DENIED",
        )
        await error_response(exc)(scope, receive, send)


def _with_headers(send: Send, extra: list[tuple[str, str]]) -> Send:
    """``send`` adding the CORS headers ``extra`` to the response (``Vary`` merged with the route's)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(raw=list(message.get("headers", ())))
            for name, value in extra:
                if name == "Vary" and "vary" in headers:
                    headers.add_vary_header(value)
                else:
                    headers[name] = value
            message = {**message, "headers": headers.raw}
        await send(message)

    return sending
