"""What the web UI's lists need beyond MLflow's API: per-experiment run counts and last activity, and the
distinct param/metric/tag keys of some experiments' runs.

The defaults here work on any store (they page through ``search_runs``); a store that can answer with one
query (the SQLite store) overrides :meth:`AbstractStore.experiment_stats` and :meth:`AbstractStore.run_keys`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from asynctrack.entities import ViewType

if TYPE_CHECKING:
    from asynctrack.store._protocol import AbstractStore

__all__ = ["ExperimentStats", "RunKeys", "default_experiment_stats", "default_run_keys"]

_PAGE = 1000


class ExperimentStats(msgspec.Struct, frozen=True):
    """An experiment's active runs: how many, and the latest start or end time among them (None if none)."""

    run_count: int = 0
    last_activity: int | None = None


class RunKeys(msgspec.Struct, frozen=True):
    """Distinct keys over a set of runs, each list sorted."""

    params: list[str] = msgspec.field(default_factory=list)
    metrics: list[str] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)


async def default_experiment_stats(
    store: AbstractStore, experiment_ids: Sequence[str]
) -> dict[str, ExperimentStats]:
    """Counted page by page through ``search_runs`` (active runs): linear in the number of runs."""
    out: dict[str, ExperimentStats] = {}
    for experiment_id in experiment_ids:
        count = 0
        last: int | None = None
        token: str | None = None
        while True:
            runs, token = await store.search_runs([experiment_id], "", ViewType.ACTIVE_ONLY, _PAGE, (), token)
            count += len(runs)
            for run in runs:
                for t in (run.info.start_time, run.info.end_time):
                    if t is not None and (last is None or t > last):
                        last = t
            if not token:
                break
        out[str(experiment_id)] = ExperimentStats(count, last)
    return out


async def default_run_keys(store: AbstractStore, experiment_ids: Sequence[str]) -> RunKeys:
    """Collected page by page through ``search_runs`` (active runs)."""
    params: set[str] = set()
    metrics: set[str] = set()
    tags: set[str] = set()
    token: str | None = None
    if not experiment_ids:
        return RunKeys()
    while True:
        runs, token = await store.search_runs(
            list(experiment_ids), "", ViewType.ACTIVE_ONLY, _PAGE, (), token
        )
        for run in runs:
            params.update(run.data.params)
            metrics.update(run.data.metrics)
            tags.update(run.data.tags)
        if not token:
            break
    return RunKeys(sorted(params), sorted(metrics), sorted(tags))
