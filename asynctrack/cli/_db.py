"""``asynctrack db upgrade URI`` and ``asynctrack db copy SRC DST``: move a database to the current schema,
and copy everything from one store (or MLflow's database or server) into another."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from asynctrack.cli._output import fail, print_json, print_table
from asynctrack.store._upgrade import upgrade_database
from asynctrack.transfer import (
    CopyReport,
    CopyState,
    copy_store,
    default_state_path,
    locate,
    open_source,
    open_target,
    source_name,
)

__all__ = ["add_db_command", "run_db_command"]


def add_db_command(sub: Any) -> None:
    db = sub.add_parser("db", help="upgrade a database's schema, or copy one store into another")
    dsub = db.add_subparsers(dest="action", required=True)
    up = dsub.add_parser(
        "upgrade",
        help="upgrade a database to this asynctrack's schema, in place and in one transaction",
        description="Upgrade the database at URI (sqlite:///path.db, or a directory store) to the schema "
        "this asynctrack reads. Stop servers using it first. SQLite databases are first copied to "
        "<file>.schema<N>-<time>.bak beside them.",
    )
    up.add_argument("uri", help="the store's URI, e.g. sqlite:///mlruns/asynctrack.db")
    up.add_argument("--no-backup", action="store_true", help="do not copy a SQLite file before upgrading")
    up.add_argument("--dry-run", action="store_true", help="only report the versions and steps")
    up.add_argument("--json", action="store_true", help="print JSON")
    cp = dsub.add_parser(
        "copy",
        help="copy every experiment, run, param, tag and metric point from SRC into DST",
        description="Copy everything from SRC (an asynctrack store; an MLflow database such as "
        "sqlite:///mlflow.db, read only; or any MLflow tracking server, http://host:port) into the "
        "asynctrack store DST, keeping ids where DST allows. Resumable: run it again after an "
        "interruption and it completes what is missing. Ends with a count of both sides.",
    )
    cp.add_argument("source", metavar="SRC", help="where to copy from")
    cp.add_argument("target", metavar="DST", help="the asynctrack store to copy into (created if new)")
    cp.add_argument("--state", default=None, help="the resume file (default: beside DST's database)")
    cp.add_argument("--no-progress", action="store_true", help="no progress bar (none without a terminal)")
    cp.add_argument("--json", action="store_true", help="print the verification as JSON")


def run_db_command(args: argparse.Namespace) -> int:
    if args.action == "upgrade":
        return _upgrade(args)
    return anyio.run(_copy, args)


def _upgrade(args: argparse.Namespace) -> int:
    location = locate(args.uri)
    report = anyio.run(lambda: upgrade_database(location, backup=not args.no_backup, dry_run=args.dry_run))
    if args.json:
        print_json(
            {
                "uri": report.uri,
                "from_version": report.from_version,
                "to_version": report.to_version,
                "steps": list(report.steps),
                "backup": report.backup or None,
                "dry_run": report.dry_run,
            }
        )
        return 0
    out = Console(highlight=False, soft_wrap=True)
    if not report.steps:
        out.print(f"{report.uri}: schema version {report.from_version}, current; nothing to do")
        return 0
    verb = "would upgrade" if report.dry_run else "upgraded"
    out.print(f"{report.uri}: {verb} schema version {report.from_version} -> {report.to_version}")
    for step in report.steps:
        out.print(f"  {step}")
    if report.backup:
        out.print(f"backup of the version-{report.from_version} database: {report.backup}")
    return 0


class _Bar:
    """The copy's progress bar on stderr (runs done out of all, points written, rate)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.points = 0

    def started(self, runs: int, skipped: int) -> None:
        self.task = self.progress.add_task("copy", total=runs, completed=skipped, points=0)

    def written(self, points: int) -> None:
        self.points += points
        if self.task is not None:
            self.progress.update(self.task, points=self.points)

    def run_done(self) -> None:
        if self.task is not None:
            self.progress.advance(self.task)


async def _copy(args: argparse.Namespace) -> int:
    source_uri = source_name(args.source)
    if source_uri == locate(args.target).uri:
        return fail(f"source and target are the same store ({source_uri})")
    source = await open_source(args.source)
    try:
        target, location = await open_target(args.target)
        try:
            path = args.state or default_state_path(source_uri, location.uri, location.db_path)
            state = CopyState(path, source_uri)
            show = not args.no_progress and sys.stderr.isatty()
            columns = (
                TextColumn("[bold]runs"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[points]:,} points"),
                TimeElapsedColumn(),
            )
            try:
                with Progress(*columns, console=Console(stderr=True), disable=not show) as progress:
                    report = await copy_store(source, target, state, _Bar(progress))
            finally:
                state.close()
        finally:
            await target.aclose()
    finally:
        await source.aclose()
    return _print_report(report, source.description, location.uri, args.json)


def _print_report(report: CopyReport, source: str, target: str, as_json: bool) -> int:
    s, t = report.source, report.target
    names = ("experiments", "runs", "params", "tags", "points", "inputs")
    if as_json:
        print_json(
            {
                "source": {n: getattr(s, n) for n in names},
                "target": {n: getattr(t, n) for n in names},
                "copied_runs": report.copied_runs,
                "skipped_runs": report.skipped_runs,
                "seconds": round(report.seconds, 3),
                "state": report.state_path,
                "matches": report.matches,
                "notes": report.notes,
            }
        )
    else:
        rate = s.points / report.seconds if report.seconds > 0 else 0.0
        rows = [
            (
                n,
                f"{getattr(s, n):,}",
                f"{getattr(t, n):,}",
                "ok" if getattr(s, n) == getattr(t, n) else "DIFFERS",
            )
            for n in names
        ]
        note = (
            f"{report.copied_runs} run(s) copied, {report.skipped_runs} already complete (state: "
            f"{report.state_path}); {report.seconds:.1f} s"
            + (f", {rate:,.0f} points/s overall" if report.copied_runs else "")
            + "".join(f"\n{n}" for n in report.notes)
        )
        Console(highlight=False, soft_wrap=True).print(f"copied {source}\n    to {target}", markup=False)
        print_table("", ["", "source", "target", "check"], rows, note=note)
    if not report.matches:
        return fail("the target's counts differ from the source's (see the table); run the copy again")
    return 0
