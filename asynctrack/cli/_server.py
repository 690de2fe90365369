"""``asynctrack server``: run the MLflow-compatible tracking server (see ``asynctrack.server``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from asynctrack.cli._security_options import add_security_options, positive, security_settings, size
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server import DEFAULT_MAX_BODY_BYTES, ServerConfig, serve
from asynctrack.server._artifacts import DEFAULT_ARTIFACTS_DESTINATION

__all__ = ["add_server_command", "add_ui_command", "run_server_command", "run_ui_command"]


def _port(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0-65535), got {value!r}")
    return n


def _add_listen_options(parser: Any) -> None:
    """Where to listen and which store to serve: the same for ``server`` and ``ui`` (as MLflow's)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=5000, help="port to listen on (default 5000)")
    parser.add_argument(
        "--backend-store-uri",
        default=None,
        help="where runs are stored: sqlite:///path.db or a directory (default: --tracking-uri, "
        "MLFLOW_TRACKING_URI, else ./mlruns)",
    )


def add_server_command(sub: Any) -> None:
    srv = sub.add_parser(
        "server",
        help="serve MLflow's tracking REST API (for the mlflow client and asynctrack's http:// URIs)",
    )
    _add_listen_options(srv)
    srv.add_argument("--workers", type=positive, default=1, help="worker processes (default 1)")
    srv.add_argument(
        "--max-body-size",
        type=positive,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body in bytes; larger ones get 413 (default {DEFAULT_MAX_BODY_BYTES})",
    )
    srv.add_argument(
        "--serve-artifacts",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="serve MLflow's proxied artifact API (mlflow-artifacts:/ URIs) from --artifacts-destination; "
        "new experiments then keep their artifacts there (default: off)",
    )
    srv.add_argument(
        "--artifacts-destination",
        default=DEFAULT_ARTIFACTS_DESTINATION,
        metavar="URI",
        help=f"directory or file: URI the artifact API stores into (default {DEFAULT_ARTIFACTS_DESTINATION})",
    )
    srv.add_argument(
        "--artifacts-only",
        action="store_true",
        help="serve the artifact API only (the tracking API answers 503; no backend store is opened)",
    )
    srv.add_argument(
        "--default-artifact-root",
        default=None,
        metavar="URI",
        help="artifact location of new experiments (default: mlflow-artifacts:/ with --serve-artifacts, "
        "else the directory of the backend store)",
    )
    srv.add_argument(
        "--max-artifact-size",
        type=size,
        default=None,
        metavar="BYTES",
        help="largest artifact file the artifact API accepts (e.g. 2G); larger uploads get 413 and leave "
        "nothing behind (default: no limit, as MLflow)",
    )
    add_security_options(srv)

    auth = srv.add_argument_group("authentication (see docs/security.md)")
    auth.add_argument(
        "--auth",
        action="store_true",
        help="require a user (HTTP basic, bearer API token or the UI's login) on every request, with "
        "per-experiment permissions as MLflow's basic-auth app (default: off)",
    )
    auth.add_argument(
        "--auth-db",
        default=None,
        metavar="PATH",
        help="SQLite file of users, tokens and permissions (default: asynctrack-auth.db beside the "
        "tracking database); manage it with `asynctrack users`",
    )
    auth.add_argument(
        "--default-permission",
        default="READ",
        choices=["READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS"],
        help="what a user may do on an experiment they have no grant on (default READ, as MLflow)",
    )
    auth.add_argument(
        "--admin-username",
        default="admin",
        metavar="NAME",
        help="admin created at startup if missing, with the password in ASYNCTRACK_AUTH_ADMIN_PASSWORD "
        "(default admin)",
    )


def run_server_command(args: argparse.Namespace) -> int:
    if args.artifacts_only and args.backend_store_uri:
        raise MlflowException(
            "--artifacts-only serves no tracking API, so it takes no --backend-store-uri "
            f"(got {args.backend_store_uri!r})",
            error_code=INVALID_PARAMETER_VALUE,
        )
    destination = args.artifacts_destination
    if "://" not in destination and not destination.startswith("file:"):
        destination = os.path.abspath(destination)  # the same directory whatever the workers' directory
    serve(
        ServerConfig(
            host=args.host,
            port=args.port,
            backend_store_uri=args.backend_store_uri or args.tracking_uri,
            workers=args.workers,
            max_body_bytes=args.max_body_size,
            serve_artifacts=args.serve_artifacts,
            artifacts_destination=destination,
            artifacts_only=args.artifacts_only,
            default_artifact_root=args.default_artifact_root,
            max_artifact_size=args.max_artifact_size,
            **security_settings(args),
            auth=args.auth,
            auth_db=args.auth_db,
            default_permission=args.default_permission,
            admin_username=args.admin_username,
        )
    )
    return 0


def add_ui_command(sub: Any) -> None:
    ui = sub.add_parser(
        "ui",
        help="serve the web UI (and the REST API) over a store, as `mlflow ui` does",
        description="Serve the web UI over the embedded store and print its URL. The same server as "
        "`asynctrack server` (the REST API is served too), with `mlflow ui`'s options.",
    )
    _add_listen_options(ui)
    add_security_options(ui)


def run_ui_command(args: argparse.Namespace) -> int:
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"asynctrack UI at http://{host}:{args.port}/ (Ctrl+C to stop)", flush=True)
    serve(
        ServerConfig(
            host=args.host,
            port=args.port,
            backend_store_uri=args.backend_store_uri or args.tracking_uri,
            **security_settings(args),
        )
    )
    return 0
