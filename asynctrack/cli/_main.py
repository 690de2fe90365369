"""``asynctrack`` entry point: argument parsing, dispatch, and turning errors into exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from asynctrack.cli._db import add_db_command, run_db_command
from asynctrack.cli._journal import add_journal_commands, run_journal_command
from asynctrack.cli._loadtest import add_loadtest_command, run_loadtest_command
from asynctrack.cli._output import fail
from asynctrack.cli._server import add_server_command, add_ui_command, run_server_command, run_ui_command
from asynctrack.cli._tracking import add_tracking_commands, run_tracking_command
from asynctrack.cli._users import add_users_command, run_users_command
from asynctrack.exceptions import MlflowException

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asynctrack", description="MLflow-compatible experiment tracking with asynchronous logging."
    )
    parser.add_argument(
        "--tracking-uri", default=None, help="store to use (default: MLFLOW_TRACKING_URI, else ./mlruns)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a demo training loop that logs to the embedded store")
    demo.add_argument("--epochs", type=int, default=5, help="epochs to train (default 5)")
    demo.add_argument("--steps", type=int, default=4000, help="steps per epoch (default 4000)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_tracking_commands(sub)
    add_server_command(sub)
    add_ui_command(sub)
    add_loadtest_command(sub)
    add_journal_commands(sub)
    add_users_command(sub)
    add_db_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from asynctrack.cli._demo import run_demo  # the demo pulls in numpy work only when run

            return run_demo(args.epochs, args.steps, args.tracking_uri, progress=not args.no_progress)
        if args.command == "server":
            return run_server_command(args)
        if args.command == "ui":
            return run_ui_command(args)
        if args.command == "loadtest":
            return run_loadtest_command(args)
        if args.command == "users":
            return run_users_command(args)
        if args.command == "db":
            return run_db_command(args)
        if args.command in ("journal", "sync"):
            return run_journal_command(args)
        return run_tracking_command(args)
    except MlflowException as exc:
        return fail(f"{exc.message} ({exc.error_code})")
    except (ValueError, OSError) as exc:
        return fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
