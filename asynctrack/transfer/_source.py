"""What ``asynctrack db copy`` reads from: a :class:`Source` lists experiments and runs (every lifecycle
stage) and gives a run's metric histories as columns. Two kinds exist: any asynctrack store through the
store protocol (:class:`StoreSource`: an asynctrack SQLite or PostgreSQL database, or any MLflow-compatible
tracking server through the REST store), and MLflow's own SQL database read directly and read-only
(``_mlflow_sql.py``)."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import anyio
import msgspec

from asynctrack._int64 import INT64_MAX
from asynctrack.entities import DatasetInput, Experiment, Param, RunInfo, RunTag, ViewType
from asynctrack.exceptions import MlflowException
from asynctrack.store._logged_model_protocol import LoggedModelStore
from asynctrack.store._protocol import AbstractStore, MetricSeries, RunCounts
from asynctrack.store._registry_protocol import RegistryStore

__all__ = ["Source", "SourceRun", "StoreSource", "Totals"]

_PAGE = 1000
_KEYS_AT_ONCE = 8  # metric histories of one run read concurrently (round trips, for a remote source)


class SourceRun(msgspec.Struct, frozen=True):
    """One run to copy: its info, params and tags, the keys of its metrics, and its dataset inputs (each
    dataset with the tags of its use, ``mlflow.data.context`` for one)."""

    info: RunInfo
    params: list[Param]
    tags: list[RunTag]
    metric_keys: list[str]
    datasets: list[DatasetInput] = msgspec.field(default_factory=list)

    @property
    def inputs(self) -> int:
        """How many dataset inputs the run has (the verification counts them)."""
        return len(self.datasets)

    def counts(self, points: int) -> RunCounts:
        return RunCounts(len(self.params), len(self.tags), points)


class Totals(msgspec.Struct):
    """What one side holds, for the verification table."""

    experiments: int = 0
    runs: int = 0
    params: int = 0
    tags: int = 0
    points: int = 0
    inputs: int = 0

    def add_run(self, counts: RunCounts, inputs: int = 0) -> None:
        self.runs += 1
        self.params += counts.params
        self.tags += counts.tags
        self.points += counts.points
        self.inputs += inputs


class Source(abc.ABC):
    """A store to copy from; never written to."""

    #: Where it is, for messages (passwords redacted).
    description: str = ""

    @abc.abstractmethod
    async def experiments(self) -> list[Experiment]:
        """Every experiment, active and deleted, with its tags, in id order."""

    @abc.abstractmethod
    async def runs(self, experiment_id: str) -> list[SourceRun]:
        """Every run of the experiment, active and deleted."""

    @abc.abstractmethod
    async def metric_series(self, run: SourceRun) -> list[MetricSeries]:
        """Each of the run's metric keys with its whole history, in the source's order."""

    async def totals(self) -> Totals | None:
        """What the source holds, counted by the source itself (SQL counts), for the verification; None
        when that would mean reading everything again (then the copy's own tally is shown)."""
        return None

    async def not_copied(self) -> list[str]:
        """What the source holds that the copy leaves behind (the model registry, logged models), one
        sentence each, for the report; empty when it holds none or cannot tell."""
        return []

    @abc.abstractmethod
    async def aclose(self) -> None: ...


def uncopied_notes(models: int, versions: int, logged_models: int) -> list[str]:
    """The report's sentences for what the copy does not bring along."""
    notes = []
    if models or versions:
        notes.append(
            f"{models} registered model(s) with {versions} version(s) were not copied: db copy does not "
            "copy the model registry yet."
        )
    if logged_models:
        notes.append(
            f"{logged_models} logged model(s) were not copied: db copy does not copy logged models yet."
        )
    return notes


class StoreSource(Source):
    """Any asynctrack store, read through the store protocol (search pages, then histories)."""

    def __init__(self, store: AbstractStore, description: str) -> None:
        self.store = store
        self.description = description

    async def experiments(self) -> list[Experiment]:
        out: list[Experiment] = []
        token: str | None = None
        while True:
            page, token = await self.store.search_experiments(ViewType.ALL, _PAGE, "", [], token)
            out.extend(page)
            if not token:
                break
        return sorted(out, key=_id_order)

    async def runs(self, experiment_id: str) -> list[SourceRun]:
        out: list[SourceRun] = []
        token: str | None = None
        while True:
            page, token = await self.store.search_runs([experiment_id], "", ViewType.ALL, _PAGE, [], token)
            for run in page:
                d = run.data
                out.append(
                    SourceRun(
                        run.info,
                        [Param(k, v) for k, v in d.params.items()],
                        [RunTag(k, v) for k, v in d.tags.items()],
                        sorted(d.metrics),
                        list(run.inputs.dataset_inputs),
                    )
                )
            if not token:
                break
        return out

    async def metric_series(self, run: SourceRun) -> list[MetricSeries]:
        run_id, keys = run.info.run_id, run.metric_keys
        out: list[MetricSeries | None] = [None] * len(keys)
        limit = anyio.Semaphore(_KEYS_AT_ONCE)

        async def one(i: int, key: str) -> None:
            async with limit:
                out[i] = await self.store.get_metric_series(run_id, key)

        async with anyio.create_task_group() as tg:
            for i, key in enumerate(keys):
                tg.start_soon(one, i, key)
        return [s for s in out if s is not None]

    async def not_copied(self) -> list[str]:
        store = self.store
        models = versions = logged = 0
        try:
            if isinstance(store, RegistryStore):
                models = await _count_pages(lambda t: store.search_registered_models("", _PAGE, [], t))
                versions = await _count_pages(lambda t: store.search_model_versions("", _PAGE, [], t))
        except MlflowException:  # a server without a registry: nothing left behind there
            models = versions = 0
        if isinstance(store, LoggedModelStore):
            ids = [e.experiment_id for e in await self.experiments()]
            try:
                for lo in range(0, len(ids), 100):
                    logged += await _count_pages(partial(_logged_page, store, ids[lo : lo + 100]))
            except MlflowException:
                logged = 0
        return uncopied_notes(models, versions, logged)

    async def aclose(self) -> None:
        await self.store.aclose()


async def _logged_page(
    store: LoggedModelStore, experiment_ids: list[str], token: str | None
) -> tuple[Sequence[object], str | None]:
    return await store.search_logged_models(experiment_ids, None, None, _PAGE, None, token)


async def _count_pages(page: Callable[[str | None], Awaitable[tuple[Sequence[object], str | None]]]) -> int:
    """How many items the paged search ``page`` returns in all."""
    found, token = 0, None
    while True:
        items, token = await page(token)
        found += len(items)
        if not token:
            return found


def _id_order(e: Experiment) -> tuple[int, str]:
    return (int(e.experiment_id), "") if e.experiment_id.isdigit() else (INT64_MAX + 1, e.experiment_id)
