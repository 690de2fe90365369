"""``asynctrack experiments ...`` and ``asynctrack runs ...``: manage and inspect the tracking store."""

from __future__ import annotations

import argparse
from typing import Any

from asynctrack.cli._output import print_json, print_table, when
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


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")
    return n


def add_tracking_commands(sub: Any) -> None:
    exp = sub.add_parser("experiments", help="list, create, delete, restore or rename experiments")
    esub = exp.add_subparsers(dest="action", required=True)
    ls = esub.add_parser("list", help="list experiments")
    ls.add_argument("--view", type=_view, default=ViewType.ACTIVE_ONLY, help="active_only, deleted_only, all")
    ls.add_argument("--filter", default="", help="MLflow experiment filter, e.g. \"name LIKE 'prod%%'\"")
    ls.add_argument("--max-results", type=_positive, default=1000)
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
    rl.add_argument("--experiment-id", action="append", default=None, help="repeatable; default: 0")
    rl.add_argument("--filter", default="", help='MLflow filter, e.g. "metrics.acc > 0.9"')
    rl.add_argument("--order-by", action="append", default=None, help="repeatable, e.g. 'metrics.acc DESC'")
    rl.add_argument("--max-results", type=_positive, default=100)
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


def run_tracking_command(args: argparse.Namespace) -> int:
    """Execute an ``experiments`` or ``runs`` command; MlflowExceptions propagate to main()."""
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
            print_table(
                f"{len(found)} experiment(s)",
                ["id", "name", "stage", "created", "artifact location"],
                [
                    [e.experiment_id, e.name, e.lifecycle_stage, when(e.creation_time), e.artifact_location]
                    for e in found
                ],
            )
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
        ids = args.experiment_id or ["0"]
        found_runs = collect_pages(
            lambda n, token: client.search_runs(ids, args.filter, args.view, n, args.order_by, token),
            args.max_results,
        )
        if args.json:
            print_json([_run_json(r) for r in found_runs])
        else:
            keys = sorted({k for r in found_runs for k in r.data.metrics})[:6]
            print_table(
                f"{len(found_runs)} run(s) in experiment(s) {', '.join(ids)}",
                ["run id", "name", "status", "started", *keys],
                [
                    [
                        r.info.run_id,
                        r.info.run_name,
                        r.info.status,
                        when(r.info.start_time),
                        *(_fmt(r.data.metrics.get(k)) for k in keys),
                    ]
                    for r in found_runs
                ],
            )
    elif args.action == "describe":
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
            print_table(f"run {i.run_id}", ["field", "value"], rows)
    elif args.action == "delete":
        client.delete_run(args.run_id)
        print(f"deleted run {args.run_id}")
    elif args.action == "restore":
        client.restore_run(args.run_id)
        print(f"restored run {args.run_id}")
    return 0


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"
