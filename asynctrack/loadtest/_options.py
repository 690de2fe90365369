"""Every load-test option, declared once: the command line and the TOML config file are built from this
table, so a config file can hold exactly what the command line can, with the same checks and messages.

Usage forms::

    Options.from_toml(path)                # a config file; ConfigError names the bad key
    Options.from_mapping({"workers": 2})   # the same checks for a dict (the command line's flags)
    options.merged({"steps": 10})          # later values win (flags over the file)
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

__all__ = ["OPTIONS", "ConfigError", "OptionSpec", "Options", "Workload"]

_DEFAULT_STEPS = 1000


class ConfigError(ValueError):
    """An option (from a config file or the command line) is unknown or has an invalid value."""


class Workload(msgspec.Struct, frozen=True, kw_only=True):
    """What every simulated training job does; the same workload runs against each target.

    Each of ``workers`` processes drives ``runs`` runs, one thread (``mode="threads"``) or one asyncio
    task (``mode="tasks"``) per run. A run logs ``params`` params and ``tags`` tags in one call, then
    ``metrics`` metrics per step until ``steps`` steps or ``duration`` seconds, whichever comes first.
    With ``synchronous=False`` each run waits for its own calls every ``await_every`` steps (and at the
    end); ``rate`` caps the metric points per second of all runs together (0: as fast as possible).
    ``readers`` threads in one more process model people watching dashboards: ``search_runs`` then
    ``get_metric_history`` of one metric of one run, every ``reader_interval`` seconds.
    """

    workers: int = 4
    mode: Literal["threads", "tasks"] = "threads"
    runs: int = 2
    metrics: int = 10
    steps: int | None = None
    duration: float | None = None
    params: int = 10
    tags: int = 5
    synchronous: bool = False
    await_every: int = 10
    rate: float = 0.0
    readers: int = 0
    reader_interval: float = 1.0
    seed: int = 0
    experiment: str | None = None
    wait_timeout: float = 120.0

    @property
    def step_limit(self) -> int | None:
        """Steps per run: ``steps``, else 1,000 unless a duration bounds the run instead."""
        if self.steps is not None:
            return self.steps
        return None if self.duration is not None else _DEFAULT_STEPS

    @property
    def total_runs(self) -> int:
        return self.workers * self.runs


# -- value checks: each returns the checked value or raises ValueError with the reason


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, str):
            try:
                return int(v)
            except ValueError:
                pass
        raise ValueError("must be an integer")
    return v


def _positive_int(v: Any) -> int:
    n = _int(v)
    if n <= 0:
        raise ValueError("must be a positive integer")
    return n


def _non_negative_int(v: Any) -> int:
    n = _int(v)
    if n < 0:
        raise ValueError("must be 0 or a positive integer")
    return n


def _count(low: int, high: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        n = _int(v)
        if not low <= n <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return n

    return check


def _number(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("must be a number")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError("must be a number") from None
    if not math.isfinite(x):
        raise ValueError("must be a finite number")
    return x


def _positive_number(v: Any) -> float:
    x = _number(v)
    if x <= 0:
        raise ValueError("must be a positive number")
    return x


def _non_negative_number(v: Any) -> float:
    x = _number(v)
    if x < 0:
        raise ValueError("must be 0 or a positive number")
    return x


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("must be a non-empty string")
    return v


def _mode(v: Any) -> str:
    if v not in ("threads", "tasks"):
        raise ValueError("must be 'threads' or 'tasks'")
    return str(v)


@dataclass(frozen=True)
class OptionSpec:
    """One option: its TOML key (the flag is ``--`` + the key with dashes), check, default and help."""

    name: str
    check: Callable[[Any], Any]
    help: str
    metavar: str | None = None
    flag: bool = False  # a switch on the command line (``--json``), a boolean in the file

    @property
    def cli(self) -> str:
        return "--" + self.name.replace("_", "-")


#: Every option, in the order ``--help`` lists them. Workload fields first, then where results go.
OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("workers", _count(1, 256), "worker processes, each a simulated training job (default 4)", "W"),
    OptionSpec(
        "mode",
        _mode,
        "per run, one thread or one asyncio task in its worker (default threads)",
        "{threads,tasks}",
    ),
    OptionSpec("runs", _count(1, 1000), "runs per worker (default 2)", "R"),
    OptionSpec("metrics", _count(1, 1000), "metrics logged per step (default 10)", "M"),
    OptionSpec("steps", _positive_int, "steps per run (default 1000, unlimited with --duration alone)", "S"),
    OptionSpec("duration", _positive_number, "stop logging after this many seconds", "SECONDS"),
    OptionSpec("params", _count(0, 1000), "params logged at the start of each run (default 10)", "N"),
    OptionSpec("tags", _count(0, 1000), "tags set at the start of each run (default 5)", "N"),
    OptionSpec("synchronous", _bool, "log with synchronous=True (each call waits until durable)", flag=True),
    OptionSpec(
        "await_every",
        _positive_int,
        "with synchronous=False, wait for the run's calls every E steps (10)",
        "E",
    ),
    OptionSpec(
        "rate", _non_negative_number, "target metric points/s of all runs together (0: flat out)", "N"
    ),
    OptionSpec(
        "readers", _count(0, 256), "reader threads (search_runs + get_metric_history) (default 0)", "N"
    ),
    OptionSpec(
        "reader_interval", _non_negative_number, "pause of each reader between reads (default 1)", "S"
    ),
    OptionSpec("seed", _non_negative_int, "seed of metric values, param values and readers' choices (0)"),
    OptionSpec("experiment", _text, "experiment name (default: a new loadtest-<time> experiment)", "NAME"),
    OptionSpec(
        "wait_timeout", _positive_number, "bound on each wait for durability and the drain (default 120)", "S"
    ),
    OptionSpec("target", _text, "tracking URI to load (the TARGET argument)", "URI"),
    OptionSpec("compare", _text, "then run the same workload against this tracking URI; print ratios", "URI"),
    OptionSpec("json", _bool, "print the results as JSON on stdout", flag=True),
    OptionSpec(
        "report", _text, "write an HTML report with plots to this directory (asynctrack[report])", "DIR"
    ),
    OptionSpec("progress", _bool, "live progress on stderr (default true; --no-progress)", flag=True),
)

_BY_NAME = {o.name: o for o in OPTIONS}
_WORKLOAD_FIELDS = frozenset(Workload.__struct_fields__)


class Options(msgspec.Struct, frozen=True, kw_only=True):
    """The checked options of one invocation: the workload, the targets, and where results go."""

    workload: Workload = msgspec.field(default_factory=Workload)
    target: str | None = None
    compare: str | None = None
    json: bool = False
    report: str | None = None
    progress: bool = True

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "option") -> Options:
        return cls().merged(values, source)

    @classmethod
    def from_toml(cls, path: str) -> Options:
        """Read a TOML config file whose top-level keys are option names (``await_every`` or
        ``await-every``); raise :class:`ConfigError` naming the file and the first bad key."""
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        return cls().merged(data, f"config file {path}")

    def merged(self, values: Mapping[str, Any], source: str = "option") -> Options:
        """These options with ``values`` applied on top (checked; ConfigError on the first problem)."""
        workload: dict[str, Any] = msgspec.structs.asdict(self.workload)
        rest: dict[str, Any] = {f: getattr(self, f) for f in Options.__struct_fields__ if f != "workload"}
        for raw_key, value in values.items():
            key = str(raw_key).replace("-", "_")
            spec = _BY_NAME.get(key)
            if spec is None:
                hint = "" if not isinstance(value, dict) else " (options are top-level keys, not tables)"
                raise ConfigError(
                    f"{source}: unknown key {raw_key!r}{hint}; known keys: {', '.join(sorted(_BY_NAME))}"
                )
            try:
                checked = spec.check(value)
            except ValueError as exc:
                raise ConfigError(f"{source}: {raw_key!r} {exc}, got {value!r}") from None
            (workload if key in _WORKLOAD_FIELDS else rest)[key] = checked
        return Options(workload=Workload(**workload), **rest)
