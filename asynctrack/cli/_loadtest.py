"""``asynctrack loadtest TARGET``: load-test a tracking target (see ``asynctrack.loadtest``).

Exit codes: 0 when everything sent was verified in the store and nothing failed; 1 when something was
lost or failed, or the target could not be used; 2 for bad options or config files; 130 after Ctrl-C
(the partial results are still printed and reported).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import msgspec
from rich.console import Console

from asynctrack._tracking_uri import resolve
from asynctrack.cli._output import fail
from asynctrack.exceptions import MlflowException
from asynctrack.loadtest import (
    OPTIONS,
    ConfigError,
    LiveProgress,
    Options,
    OptionSpec,
    Outcome,
    ReportError,
    TargetError,
    TargetResult,
    catching_interrupts,
    compare,
    print_summary,
    require_report_support,
    run_loadtest,
    write_report,
)

__all__ = ["add_loadtest_command", "run_loadtest_command"]

_EPILOG = """\
Every option can also be set in a TOML file given with --config (keys as above without the dashes,
e.g. await_every = 5); options on the command line win. Ctrl-C stops the workers and still reports
what was measured (twice: do not wait for the drain). See docs/loadtest.md.
"""


def _checked(spec: OptionSpec) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return spec.check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{exc}, got {text!r}") from None

    convert.__name__ = spec.name  # argparse names the option's type in its messages
    return convert


def add_loadtest_command(sub: Any) -> None:
    lt = sub.add_parser(
        "loadtest",
        help="load-test a tracking server or store, verify nothing was lost, report with plots",
        description="Simulate training jobs logging to TARGET, verify every point landed, and report "
        "throughput, latencies and errors.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lt.add_argument(
        "target",
        nargs="?",
        default=None,
        help="tracking URI: http(s)://host:port, sqlite:///path.db or a directory (or 'target' in --config)",
    )
    lt.add_argument(
        "--config", default=None, metavar="FILE", help="TOML file holding any of the options below"
    )
    for spec in OPTIONS:
        if spec.name == "target":
            continue
        if spec.name == "progress":
            lt.add_argument(
                "--no-progress", dest="progress", action="store_const", const=False, help="no live progress"
            )
        elif spec.flag:
            lt.add_argument(spec.cli, dest=spec.name, action="store_const", const=True, help=spec.help)
        else:
            lt.add_argument(
                spec.cli, dest=spec.name, type=_checked(spec), metavar=spec.metavar, help=spec.help
            )


def _options(args: argparse.Namespace) -> Options:
    options = Options.from_toml(args.config) if args.config else Options()
    given = {s.name: getattr(args, s.name) for s in OPTIONS if getattr(args, s.name, None) is not None}
    options = options.merged(given, "command line")
    if options.target is None and args.tracking_uri:
        options = options.merged({"target": args.tracking_uri})
    if options.target is None:
        raise ConfigError("no TARGET: give a tracking URI (http://host:port, sqlite:///path.db, a directory)")
    for uri in (options.target, options.compare):
        if uri is not None:
            try:
                resolve(uri)
            except MlflowException as exc:
                raise ConfigError(exc.message) from None
    return options


def _fail(message: str, code: int = 1) -> int:
    return fail(message, code)  # fail() prints text, not markup: "asynctrack[report]" keeps its brackets


def _exit_code(results: list[TargetResult], complete: bool) -> int:
    if any(r.interrupted for r in results):
        return 130
    return 0 if complete and all(r.ok for r in results) else 1


def run_loadtest_command(args: argparse.Namespace) -> int:
    try:
        options = _options(args)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    if options.report is not None:
        try:
            require_report_support()
        except ReportError as exc:
            return _fail(str(exc))
    assert options.target is not None
    err = Console(stderr=True)
    results: list[TargetResult] = []
    second_failed: str | None = None
    with catching_interrupts() as interrupts, LiveProgress(err, options.progress) as progress:
        try:
            results.append(
                run_loadtest(options.target, options.workload, progress=progress, interrupts=interrupts)
            )
            if options.compare is not None and not results[0].interrupted:
                results.append(
                    run_loadtest(options.compare, options.workload, progress=progress, interrupts=interrupts)
                )
        except TargetError as exc:
            if not results:
                return _fail(str(exc))
            second_failed = str(exc)
    outcome = Outcome(
        results=results, comparison=compare(results[0], results[1]) if len(results) == 2 else []
    )
    if options.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(outcome), indent=2).decode() + "\n")
    else:
        print_summary(Console(), results, outcome.comparison)
    if options.report is not None:
        try:
            page = write_report(outcome, options.report)
        except ReportError as exc:
            return _fail(str(exc))
        err.print(f"report: {page}", highlight=False, soft_wrap=True)
    if second_failed is not None:
        _fail(second_failed)
    return _exit_code(results, second_failed is None)
