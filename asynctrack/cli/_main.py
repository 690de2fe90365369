"""``asynctrack`` entry point: argument parsing and dispatch to subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asynctrack", description="MLflow-compatible experiment tracking with asynchronous logging."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a demo training loop that logs to the embedded store")
    demo.add_argument("--epochs", type=int, default=5, help="epochs to train (default 5)")
    demo.add_argument("--steps", type=int, default=4000, help="steps per epoch (default 4000)")
    demo.add_argument("--tracking-uri", default=None, help="where to log (default: ./mlruns)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from asynctrack.cli._demo import run_demo  # noqa: PLC0415 - load a subcommand only when used

        return run_demo(args.epochs, args.steps, args.tracking_uri, progress=not args.no_progress)
    return 2


if __name__ == "__main__":
    sys.exit(main())
