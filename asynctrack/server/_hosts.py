"""DNS-rebinding protection: the ``Host`` header of every request is checked against ``--allowed-hosts``.

A DNS-rebinding attack points a name the attacker controls (``evil.example``) at the server's address
after the victim's browser has loaded the attacker's page from it, so the page's scripts talk to the
server as if it were their own origin: same-origin for the browser, and the browser sends
``Host: evil.example``. Answering only requests whose ``Host`` names this server stops that.

The default list (``allowed_hosts=None``) is ``localhost``, the server's own host name and the bound
address (``--host``), each with any port, plus every IP literal (``10.0.0.5:5000``, ``[::1]``): a
rebinding needs a DNS name, and a browser that sends an IP literal as ``Host`` loaded its page from that
very address, which is this server. MLflow 3.17.2's default is looser in one way (it also takes names
matching private-network patterns) and stricter in another (public IP literals); see docs/security.md.

Entries of ``--allowed-hosts``: ``name`` (any port), ``name:port`` (that port only), ``*`` anywhere in
an entry matches any characters (``*.example.com``), and ``*`` alone allows every host. ``/health`` and
``/version`` answer whatever the ``Host`` (probes from load balancers send their own), as MLflow's do.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import socket
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from asynctrack.exceptions import MlflowException
from asynctrack.server._errors import error_response

__all__ = ["EXEMPT_PATHS", "HostGuard", "HostPolicy", "header", "split_host"]

_log = logging.getLogger("asynctrack.server")

#: Answered whatever the Host header says (MLflow's exemption: health checks).
EXEMPT_PATHS = frozenset({"/health", "/version"})

#: MLflow's message for a refused Host, followed by ours naming the value and the option.
INVALID_HOST_MSG = "Invalid Host header - possible DNS rebinding attack detected"

_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_HOST_SYNTAX = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[^\[\]:/@\s]+)(?::[0-9]{1,5})?$")


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the header ``name`` (lower case bytes) in ``scope``, decoded as latin-1."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def split_host(host: str) -> tuple[str, int | None] | None:
    """``Host`` header value → (lower-case name without brackets, port or None); None when malformed."""
    if not _HOST_SYNTAX.match(host):
        return None
    name, port = host, None
    if host.startswith("["):
        end = host.index("]")
        name, rest = host[1:end], host[end + 1 :]
        if rest:
            port = int(rest[1:])
    elif ":" in host:
        name, _, digits = host.rpartition(":")
        port = int(digits)
    if port is not None and port > 65535:
        return None
    return name.lower().rstrip("."), port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class _Entry:
    """One ``--allowed-hosts`` entry: a name pattern and an optional port."""

    def __init__(self, entry: str) -> None:
        text = entry.strip().lower()
        if _is_ip(text):  # an IPv6 address written without brackets
            text = f"[{text}]" if ":" in text else text
        parsed = split_host(text.replace("*", "x")) if "*" in text else split_host(text)
        if not text or parsed is None:
            raise MlflowException.invalid_parameter_value(
                f"--allowed-hosts entry {entry!r} is not a host name, an address, or either with ':port'"
            )
        self.port = parsed[1]
        name = text[: len(text) - len(f":{self.port}")] if self.port is not None else text
        name = name.removeprefix("[").removesuffix("]").rstrip(".")
        self.pattern = re.compile("^" + ".*".join(re.escape(p) for p in name.split("*")) + "$")

    def matches(self, name: str, port: int | None) -> bool:
        return (self.port is None or self.port == port) and self.pattern.match(name) is not None


class HostPolicy:
    """Which ``Host`` headers this server answers (see the module docstring)."""

    def __init__(self, allowed_hosts: Iterable[str] | None, bind_host: str) -> None:
        self.any_host = False
        self.any_ip = allowed_hosts is None
        entries = list(allowed_hosts) if allowed_hosts is not None else self._defaults(bind_host)
        if "*" in (e.strip() for e in entries):
            self.any_host = True
        self.entries = [_Entry(e) for e in entries if e.strip() != "*"]
        # Clients send the same few Host values over and over: remember the verdicts (bounded, so a
        # stream of invented hosts costs a check each and no memory).
        self._verdicts = functools.lru_cache(maxsize=256)(self._allows)

    @staticmethod
    def _defaults(bind_host: str) -> list[str]:
        names = ["localhost", socket.gethostname()]
        bound = bind_host.strip().lower()
        if bound not in _WILDCARD_BINDS and not _is_ip(bound.strip("[]")):
            names.append(bound)
        return [n for n in names if n]

    def allows(self, host: str | None) -> bool:
        """Whether a request with this ``Host`` header is answered."""
        return self._verdicts(host)

    def _allows(self, host: str | None) -> bool:
        if self.any_host:
            return True
        if not host:
            return False
        parsed = split_host(host.strip())
        if parsed is None:
            return False
        name, port = parsed
        if self.any_ip and _is_ip(name):
            return True
        return any(entry.matches(name, port) for entry in self.entries)


class HostGuard:
    """ASGI middleware: 403 ``PERMISSION_DENIED`` (MLflow's message, then which Host and why) for any
    request whose ``Host`` the :class:`HostPolicy` refuses, before any route sees it."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS or self.policy.any_host:
            await self.app(scope, receive, send)
            return
        host = header(scope, b"host")
        if self.policy.allows(host):
            await self.app(scope, receive, send)
            return
        shown = "(none)" if host is None else repr(host[:200])
        _log.warning("refused %s %s for Host %s (see --allowed-hosts)", scope["method"], scope["path"], shown)
        exc = MlflowException(
            f"{INVALID_HOST_MSG}: Host {shown} is not an allowed host of this server. "
            "Start the server with --allowed-hosts listing the names clients use to reach it.",
            error_code="PERMISSION_DENIED",
        )
        await error_response(exc)(scope, receive, send)
