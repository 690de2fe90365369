"""The security options ``asynctrack server`` and ``asynctrack ui`` share (see docs/security.md):
allowed hosts, allowed origins, timeouts and the connection cap; MLflow's server variables as defaults."""

from __future__ import annotations

import argparse
from typing import Any

from asynctrack.environment import MLFLOW_SERVER_ALLOWED_HOSTS, MLFLOW_SERVER_CORS_ALLOWED_ORIGINS
from asynctrack.server._config import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
)

__all__ = ["add_security_options", "positive", "security_settings", "size"]

_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size(value: str) -> int:
    """A byte count: ``1048576``, or with a binary unit: ``512K``, ``100M``, ``2G``, ``1T`` (or ``MiB``)."""
    text = value.strip().lower().removesuffix("ib").removesuffix("b")
    unit = text[-1:] if text[-1:] in _SIZE_UNITS else ""
    number = text[: len(text) - len(unit)].strip()
    if not number.isdigit() or int(number) <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive size in bytes (or with K, M, G, T), got {value!r}"
        )
    return int(number) * _SIZE_UNITS[unit]


def _seconds(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        n = 0.0
    if not 0 < n < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")
    return n


def positive(value: str) -> int:
    """A positive integer option (``--max-connections``; also ``--workers``, ``--max-body-size`` and the
    list commands' ``--max-results``)."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")
    return n


def _names(value: str) -> list[str]:
    """A comma-separated list, as MLflow's ``--allowed-hosts`` and ``--cors-allowed-origins`` take it."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"must be a comma-separated list, got {value!r}")
    return names


def _env_names(value: str | None) -> list[str] | None:
    """A variable's comma-separated list (MLflow's server variables), None when unset or empty."""
    names = [v.strip() for v in (value or "").split(",") if v.strip()]
    return names or None


def add_security_options(parser: argparse.ArgumentParser) -> None:
    sec = parser.add_argument_group("security (see docs/security.md)")
    sec.add_argument(
        "--allowed-hosts",
        type=_names,
        default=_env_names(MLFLOW_SERVER_ALLOWED_HOSTS.get()),
        metavar="HOSTS",
        help="comma-separated Host header values answered (DNS-rebinding protection): name, name:port, "
        "patterns with *; '*' allows all (default: $MLFLOW_SERVER_ALLOWED_HOSTS, else localhost, this "
        "machine's name, --host, any IP address)",
    )
    sec.add_argument(
        "--cors-allowed-origins",
        type=_names,
        default=_env_names(MLFLOW_SERVER_CORS_ALLOWED_ORIGINS.get()) or [],
        metavar="ORIGINS",
        help="comma-separated origins (https://app.example.com, patterns with *) whose web pages may write "
        "to and read from this server; '*' allows all, without credentials (default: "
        "$MLFLOW_SERVER_CORS_ALLOWED_ORIGINS, else only the server's own)",
    )
    sec.add_argument(
        "--header-timeout",
        type=_seconds,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help=f"time a client has to send a request's headers (default {DEFAULT_HEADER_TIMEOUT:g})",
    )
    sec.add_argument(
        "--body-timeout",
        type=_seconds,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="SECONDS",
        help="longest wait for the next piece of a request body, or for the client to take the next piece "
        f"of a download (default {DEFAULT_BODY_TIMEOUT:g})",
    )
    sec.add_argument(
        "--keep-alive-timeout",
        type=_seconds,
        default=DEFAULT_KEEP_ALIVE_TIMEOUT,
        metavar="SECONDS",
        help=f"idle kept-alive connections are closed after this (default {DEFAULT_KEEP_ALIVE_TIMEOUT:g})",
    )
    sec.add_argument(
        "--max-connections",
        type=positive,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="connections and requests one worker holds at once; more get 503, which clients retry "
        f"(default {DEFAULT_MAX_CONNECTIONS})",
    )


def security_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~asynctrack.server.ServerConfig` fields of :func:`add_security_options`' options."""
    return {
        "allowed_hosts": args.allowed_hosts,
        "cors_allowed_origins": args.cors_allowed_origins,
        "header_timeout": args.header_timeout,
        "body_timeout": args.body_timeout,
        "keep_alive_timeout": args.keep_alive_timeout,
        "max_connections": args.max_connections,
    }
