"""``asynctrack server``: run the MLflow-compatible tracking server (see ``asynctrack.server``)."""

from __future__ import annotations

import argparse
from typing import Any

from asynctrack.server import DEFAULT_MAX_BODY_BYTES, ServerConfig, serve

__all__ = ["add_server_command", "run_server_command"]


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")
    return n


def _port(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0-65535), got {value!r}")
    return n


def add_server_command(sub: Any) -> None:
    srv = sub.add_parser(
        "server",
        help="serve MLflow's tracking REST API (for the mlflow client and asynctrack's http:// URIs)",
    )
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    srv.add_argument("--port", type=_port, default=5000, help="port to listen on (default 5000)")
    srv.add_argument(
        "--backend-store-uri",
        default=None,
        help="where runs are stored: sqlite:///path.db or a directory (default: --tracking-uri, "
        "MLFLOW_TRACKING_URI, else ./mlruns)",
    )
    srv.add_argument("--workers", type=_count, default=1, help="worker processes (default 1)")
    srv.add_argument(
        "--max-body-size",
        type=_count,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body in bytes; larger ones get 413 (default {DEFAULT_MAX_BODY_BYTES})",
    )


def run_server_command(args: argparse.Namespace) -> int:
    serve(
        ServerConfig(
            host=args.host,
            port=args.port,
            backend_store_uri=args.backend_store_uri or args.tracking_uri,
            workers=args.workers,
            max_body_bytes=args.max_body_size,
        )
    )
    return 0
