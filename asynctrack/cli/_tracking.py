"""``asynctrack experiments ...`` and ``asynctrack runs ...``: manage and inspect the tracking store."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from asynctrack._tracking_uri import resolve
from asynctrack.cli._output import fail, print_json, print_table, short_time, terminal_width, when
from asynctrack.cli._security_options import positive
from asynctrack.client import MlflowClient
from asynctrack.entities import Experiment, Run, ViewType
from asynctrack.store._paged import collect_pages

__all__ = ["add_tracking_commands", "run_tracking_command"]


def _view(value: str) -> int:
    try:
        return ViewType.from_string(value)
    except Exception:
        raise argparse.ArgumentTypeError(
            f"invalid view {value!r}: use active_only, deleted_only or all"
        ) from None


def add_tracking_commands(sub: Any) -> None:
    exp = sub.add_parser("experiments", help="list, create, delete, restore or rename experiments")
    esub = exp.add_subparsers(dest="action", required=True)
    ls = esub.add_parser("list", help="list experiments")
    ls.add_argument("--view", type=_view, default=ViewType.ACTIVE_ONLY, help="active_only, deleted_only, all")
    ls.add_argument("--filter", default="", help="MLflow experiment filter, e.g. \"name LIKE 'prod%%'\"")
    ls.add_argument("--max-results", type=positive, default=1000)
    ls.add_argument("--json", action="store_true", help="print JSON")
    cr = esub.add_parser("create", help="create an experiment")
    cr.add_argument("name")
    cr.add_argument("--artifact-location", default=None)
    cr.add_argument("--json", action="store_true")
    for action in ("delete", "restore"):
        p = esub.add_parser(action, help=f"{action} an experiment (and its runs)")
        p.add_argument("experiment_id")
    rn = esub.add_parser("rename", help="rename an experiment")
    rn.add_argument("experiment_id")
    rn.add_argument("new_name")

    runs = sub.add_parser("runs", help="list, describe, delete or restore runs")
    rsub = runs.add_subparsers(dest="action", required=True)
    rl = rsub.add_parser("list", help="search runs")
    rl.add_argument(
        "--experiment-id", action="append", default=None, help="repeatable; default: every active experiment"
    )
    rl.add_argument("--filter", default="", help='MLflow filter, e.g. "metrics.acc > 0.9"')
    rl.add_argument("--order-by", action="append", default=None, help="repeatable, e.g. 'metrics.acc DESC'")
    rl.add_argument("--max-results", type=positive, default=100)
    rl.add_argument("--view", type=_view, default=ViewType.ACTIVE_ONLY)
    rl.add_argument("--json", action="store_true")
    ds = rsub.add_parser("describe", help="show one run")
    ds.add_argument("run_id")
    ds.add_argument("--json", action="store_true")
    for action in ("delete", "restore"):
        p = rsub.add_parser(action, help=f"{action} a run")
        p.add_argument("run_id")


def _experiment_json(e: Experiment) -> dict[str, Any]:
    return e.to_dictionary()


def _run_json(r: Run) -> dict[str, Any]:
    return r.to_dictionary()


def _missing_store(args: argparse.Namespace) -> str | None:
    """The embedded store's path when no database is there (None: it exists, or the store is a server).

    Only ``experiments create`` may create a store: reading one that is not there says so instead of
    leaving an empty ``./mlruns/asynctrack.db`` behind (as it used to)."""
    location = resolve(args.tracking_uri)
    if location.is_remote or os.path.exists(location.db_path):
        return None
    return location.db_path


def _nothing_there(args: argparse.Namespace, path: str) -> int:
    where = f"No tracking store at {path}: nothing has been logged there yet"
    hint = "(pick another store with --tracking-uri or MLFLOW_TRACKING_URI)"
    if args.action == "list":  # an empty list is a fine answer
        if args.json:
            print_json([])
        print(f"{where} {hint}.", file=sys.stderr if args.json else sys.stdout)
        return 0
    if args.command == "runs":
        return fail(f"Run with id={args.run_id} not found. {where} {hint}.")
    return fail(f"No Experiment with id={args.experiment_id} exists. {where} {hint}.")


def run_tracking_command(args: argparse.Namespace) -> int:
    """Execute an ``experiments`` or ``runs`` command; MlflowExceptions propagate to main()."""
    if not (args.command == "experiments" and args.action == "create"):
        missing = _missing_store(args)
        if missing is not None:
            return _nothing_there(args, missing)
    client = MlflowClient(args.tracking_uri)
    if args.command == "experiments":
        return _experiments(client, args)
    return _runs(client, args)


def _experiments(client: MlflowClient, args: argparse.Namespace) -> int:
    if args.action == "list":
        found = collect_pages(
            lambda n, token: client.search_experiments(args.view, n, args.filter, None, token),
            args.max_results,
        )
        if args.json:
            print_json([_experiment_json(e) for e in found])
        else:
            rows = [
                [e.experiment_id, e.name, e.lifecycle_stage, short_time(e.creation_time), e.artifact_location]
                for e in found
            ]
            title = f"{len(found)} experiment(s)"
            columns = ["id", "name", "stage", "created", "artifact location"]
            # Locations are paths, shown whole or not at all: with the other columns they need this much.
            needed = max((len(r[4]) + len(r[1]) for r in rows), default=0) + 40
            if needed > terminal_width():
                rows = [r[:4] for r in rows]
                columns = columns[:4]
            hidden = len(columns) < 5
            note = "(artifact locations not shown: widen the terminal, or --json)" if hidden else ""
            print_table(title, columns, rows, whole=("id", "artifact location"), note=note)
    elif args.action == "create":
        eid = client.create_experiment(args.name, args.artifact_location)
        if args.json:
            print_json(_experiment_json(client.get_experiment(eid)))
        else:
            print(f"created experiment {args.name!r} with id {eid}")
    elif args.action == "delete":
        client.delete_experiment(args.experiment_id)
        print(f"deleted experiment {args.experiment_id} and its runs")
    elif args.action == "restore":
        client.restore_experiment(args.experiment_id)
        print(f"restored experiment {args.experiment_id} and its runs")
    elif args.action == "rename":
        client.rename_experiment(args.experiment_id, args.new_name)
        print(f"renamed experiment {args.experiment_id} to {args.new_name!r}")
    return 0


def _runs(client: MlflowClient, args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list_runs(client, args)
    if args.action == "describe":
        run = client.get_run(args.run_id)
        if args.json:
            print_json(_run_json(run))
        else:
            i = run.info
            rows: list[list[Any]] = [
                ["name", i.run_name],
                ["experiment", i.experiment_id],
                ["status", i.status],
                ["lifecycle", i.lifecycle_stage],
                ["user", i.user_id],
                ["started", when(i.start_time)],
                ["ended", when(i.end_time)],
                ["artifacts", i.artifact_uri],
            ]
            rows += [[f"metrics.{k}", _fmt(v)] for k, v in sorted(run.data.metrics.items())]
            rows += [[f"params.{k}", v] for k, v in sorted(run.data.params.items())]
            rows += [[f"tags.{k}", v] for k, v in sorted(run.data.tags.items())]
            # Lines, not a table: ids, paths and long values stay whole at any width.
            print(f"run {i.run_id}")
            width = max(len(str(r[0])) for r in rows)
            for field, value in rows:
                print(f"  {field:<{width}}  {'' if value is None else value}")
    elif args.action == "delete":
        client.delete_run(args.run_id)
        print(f"deleted run {args.run_id}")
    elif args.action == "restore":
        client.restore_run(args.run_id)
        print(f"restored run {args.run_id}")
    return 0


def _list_runs(client: MlflowClient, args: argparse.Namespace) -> int:
    """Runs of the given experiments, or of every active experiment (the demo's included)."""
    if args.experiment_id:
        ids = list(args.experiment_id)
        scope = f"experiment(s) {', '.join(ids)}"
    else:
        active = collect_pages(
            lambda n, token: client.search_experiments(ViewType.ACTIVE_ONLY, n, "", None, token), 100_000
        )
        ids = [e.experiment_id for e in active]
        scope = f"{len(ids)} active experiment(s)"
    found = (
        collect_pages(
            lambda n, token: client.search_runs(ids, args.filter, args.view, n, args.order_by, token),
            args.max_results,
        )
        if ids
        else []
    )
    if args.json:
        print_json([_run_json(r) for r in found])
        return 0
    # Ids stay whole (a run id is 32 characters); metric columns take what the terminal has left.
    fixed = 34 + 6 + 14 + 10 + 13  # run id, experiment, name, status, started (each with its padding)
    room = max(0, (terminal_width() - fixed) // 13)
    keys_all = sorted({k for r in found for k in r.data.metrics})
    keys = keys_all[: min(6, room)]
    title = f"{len(found)} run(s) in {scope}"
    hidden = len(keys_all) - len(keys)
    note = f"({hidden} metric column(s) not shown: widen the terminal, or --json)" if hidden else ""
    print_table(
        title,
        ["run id", "exp", "name", "status", "started", *keys],
        [
            [
                r.info.run_id,
                r.info.experiment_id,
                r.info.run_name,
                r.info.status,
                short_time(r.info.start_time),
                *(_fmt(r.data.metrics.get(k)) for k in keys),
            ]
            for r in found
        ],
        whole=("run id", "exp"),
        note=note,
    )
    return 0


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"
