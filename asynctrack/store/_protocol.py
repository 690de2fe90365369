"""The async store protocol every backend implements: the embedded SQLite store (``sqlite/``), PostgreSQL
(``postgres/``) and the REST store over MLflow's API (``rest/``).

The pipeline's one write primitive is :meth:`AbstractStore.log_batch`, which takes metric *series*
(columnar numpy arrays per key) so a backend can write thousands of points without a Python object each.
Errors leave a store as :class:`~asynctrack.exceptions.MlflowException` (permanent: the operation is wrong)
or :class:`StoreUnavailable` (transient: retry later).
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from asynctrack._int64 import INT64_MIN
from asynctrack.entities import DatasetInput, DatasetSummary, Experiment, Metric, Param, Run, RunInfo, RunTag
from asynctrack.exceptions import TEMPORARILY_UNAVAILABLE, MlflowException
from asynctrack.store._buckets import (
    MetricBuckets,
    MetricUpdate,
    check_bucket_query,
    invalid_cursor,
    reduce_points,
)
from asynctrack.store._overview import ExperimentStats, RunKeys, default_experiment_stats, default_run_keys
from asynctrack.store._sampling import sample_steps

__all__ = [
    "AbstractStore",
    "BatchLimits",
    "BatchWrite",
    "ExpressWriter",
    "MetricSeries",
    "RunCounts",
    "StoreUnavailable",
]


def _step_cursor(series: MetricSeries) -> str:
    """The default update cursor: ``"<largest step>:<points at it>"`` (the smallest int64 and 0 for none)."""
    if len(series) == 0:
        return f"{INT64_MIN}:0"
    high = int(series.steps.max())
    return f"{high}:{int(np.count_nonzero(series.steps == high))}"


class StoreUnavailable(MlflowException):
    """A transient store failure (locked database, refused connection, HTTP 429/5xx): retry later."""

    def __init__(self, message: str, *, contention: bool = False) -> None:
        super().__init__(message, error_code=TEMPORARILY_UNAVAILABLE)
        #: Another writer holds a lock: progress is being made elsewhere, so waiting is always right. Other
        #: transient failures (a full disk, an I/O error, a server down) count against retry budgets.
        self.contention = contention


class BatchLimits(msgspec.Struct, frozen=True):
    """How much one ``log_batch`` may carry. Defaults are MLflow's REST limits.

    ``max_metrics`` counts metric points; a single ``log_metric_array`` operation larger than it is sent on
    its own, and a store that cannot take it whole splits it.
    """

    max_metrics: int = 1000
    max_params: int = 100
    max_tags: int = 100
    max_entities: int = 1000


class MetricSeries(msgspec.Struct, frozen=True):
    """Points of one metric key, columnar: float64 values, int64 timestamps (ms) and steps."""

    key: str
    values: npt.NDArray[np.float64]
    timestamps: npt.NDArray[np.int64]
    steps: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.values)

    def to_metrics(self, run_id: str | None = None) -> list[Metric]:
        # map() with positional arguments: the fastest way to build a million Structs (about 0.33 s).
        n = len(self.values)
        return list(
            map(
                Metric,
                itertools.repeat(self.key, n),
                self.values.tolist(),
                self.timestamps.tolist(),
                self.steps.tolist(),
                itertools.repeat(None, n),
                itertools.repeat(None, n),
                itertools.repeat(None, n),
                itertools.repeat(run_id, n),
            )
        )

    @classmethod
    def from_metrics(cls, key: str, metrics: Sequence[Metric]) -> MetricSeries:
        return cls(
            key,
            np.fromiter((m.value for m in metrics), np.float64, len(metrics)),
            np.fromiter((m.timestamp for m in metrics), np.int64, len(metrics)),
            np.fromiter((m.step for m in metrics), np.int64, len(metrics)),
        )


class BatchWrite(msgspec.Struct, frozen=True):
    """One run's metrics, params and tags for :meth:`AbstractStore.log_batches`.

    ``key`` makes the write idempotent: a store that has applied a write with this key before does not
    apply it again, and reports success (a journal replay, a client retrying after a lost response).
    """

    run_id: str
    metrics: Sequence[MetricSeries] = ()
    params: Sequence[Param] = ()
    tags: Sequence[RunTag] = ()
    key: str | None = None


class ExpressWriter(Protocol):
    """A store's blocking write path for the pipeline's express lane (``pipeline/_express.py``): a
    synchronous call made while nothing of its pipeline is queued or in flight is written from the
    caller's own thread, sparing it the hops to the worker and back. The pipeline guarantees that at most
    one thread calls :meth:`write` at a time and never while its worker writes."""

    def write(self, writes: Sequence[BatchWrite]) -> None:
        """Apply every write in one transaction, or none of them: raise the first failure (an
        :class:`~asynctrack.exceptions.MlflowException`; :class:`StoreUnavailable` when transient)."""
        ...

    def close(self) -> None:
        """Release the connection (the pipeline calls it once, after its worker has stopped)."""
        ...


class RunCounts(msgspec.Struct, frozen=True):
    """How much one run holds: params, tags and metric points (every point of every key's history)."""

    params: int = 0
    tags: int = 0
    points: int = 0

    def __add__(self, other: RunCounts) -> RunCounts:
        return RunCounts(self.params + other.params, self.tags + other.tags, self.points + other.points)


class AbstractStore(abc.ABC):
    """Coroutines over one tracking backend. One instance serves one tracking URI in one process."""

    limits: BatchLimits = BatchLimits()
    #: How many runs' batches the pipeline may write at once (1: one after another). A store whose writes
    #: are network round trips raises it; one run's batches are always written in order.
    concurrent_writes: int = 1
    #: Whether a sync client's reads may run in the calling thread instead of on the background loop
    #: (``store/_here.py``): a store whose reads can run synchronously in any thread says True.
    reads_in_caller_thread: bool = False

    @property
    def synchronous_retries(self) -> int:
        """Retries of a failing write a synchronous caller sits through before it gets an error (the
        worker itself retries for good): ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, the REST store's budget for
        one request. A store whose calls already retry that much themselves answers 0."""
        from asynctrack.environment import MLFLOW_HTTP_REQUEST_MAX_RETRIES

        return MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()

    def express_writer(self) -> ExpressWriter | None:
        """A blocking writer for the pipeline's express lane, or None (the default: every write goes
        through the worker). Only a store whose write is cheap and local (SQLite) offers one."""
        return None

    # -- experiments
    @abc.abstractmethod
    async def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[tuple[str, str]] = ()
    ) -> str: ...

    @abc.abstractmethod
    async def get_experiment(self, experiment_id: str) -> Experiment: ...

    @abc.abstractmethod
    async def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    @abc.abstractmethod
    async def delete_experiment(self, experiment_id: str) -> None:
        """Mark the experiment and all its runs deleted (RESOURCE_DOES_NOT_EXIST unless active)."""

    @abc.abstractmethod
    async def restore_experiment(self, experiment_id: str) -> None:
        """Bring a deleted experiment and its runs back."""

    @abc.abstractmethod
    async def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    @abc.abstractmethod
    async def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    async def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # -- runs
    @abc.abstractmethod
    async def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run: ...

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    async def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo: ...

    @abc.abstractmethod
    async def delete_run(self, run_id: str) -> None:
        """Soft-delete a run (lifecycle 'deleted'); its data stays until garbage collection."""

    @abc.abstractmethod
    async def restore_run(self, run_id: str) -> None: ...

    # -- the pipeline's write primitive
    @abc.abstractmethod
    async def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricSeries],
        params: Sequence[Param],
        tags: Sequence[RunTag],
        on_durable: Callable[[], None] | None = None,
    ) -> None:
        """Write all of it in one transaction, or nothing: a bad item fails the whole call.

        ``on_durable``, if given, is called once the data is durable and before the coroutine returns,
        possibly from a store thread: the pipeline uses it to wake a waiting caller one thread hop
        sooner. It must be cheap, thread-safe and must not raise.
        """

    async def log_batches(
        self, writes: Sequence[BatchWrite], on_durable: Callable[[], None] | None = None
    ) -> list[MlflowException | None]:
        """Apply several writes, each succeeding or failing on its own: the outcome list holds ``None``
        or the write's (permanent) error, in order. A transient failure raises :class:`StoreUnavailable`
        for the call; retrying it is safe only for writes with a ``key``. ``on_durable`` runs once the
        call's successful writes are durable, even if others failed, and not at all when every write
        failed (so for one write it means that write is durable): check the outcomes before treating a
        particular write of several as written.

        This default makes one :meth:`_write_one` call per write (``log_batch``, keys ignored); stores
        that can send a key override that, stores that can do better (one transaction) override this.
        """
        outcomes: list[MlflowException | None] = []
        for w in writes:
            try:
                await self._write_one(w)
            except StoreUnavailable:
                raise
            except MlflowException as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        if on_durable is not None and any(o is None for o in outcomes):
            on_durable()
        return outcomes

    async def _write_one(self, write: BatchWrite) -> None:
        """One write of the default :meth:`log_batches`."""
        await self.log_batch(write.run_id, write.metrics, write.params, write.tags)

    @abc.abstractmethod
    async def delete_tag(self, run_id: str, key: str) -> None: ...

    # -- dataset inputs (MLflow's log_inputs)
    async def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record that the (active) run used these datasets, as MLflow's SQL store does: a dataset is
        identified within the run's experiment by (name, digest) and stored once; a run's use of a
        dataset is recorded once, with the tags given the first time; within one call the first of
        several inputs with the same (name, digest) wins. Then they appear in ``run.inputs``."""
        raise MlflowException(
            f"{type(self).__name__} does not store dataset inputs", error_code="NOT_IMPLEMENTED"
        )

    async def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        """The distinct (experiment, name, digest, context) of the experiments' dataset inputs (at most
        1,000), as MLflow's search-datasets."""
        raise MlflowException(
            f"{type(self).__name__} does not store dataset inputs", error_code="NOT_IMPLEMENTED"
        )

    # -- metric history
    @abc.abstractmethod
    async def get_metric_series(self, run_id: str, key: str) -> MetricSeries:
        """Every point of one metric, in step order (ties keep logging order)."""

    async def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return (await self.get_metric_series(run_id, key)).to_metrics(run_id)

    async def sample_metric(
        self, run_id: str, key: str, max_results: int, start_step: int | None, end_step: int | None
    ) -> MetricSeries:
        """MLflow's evenly sampled history (``get-history-bulk-interval``): the points
        :func:`~asynctrack.store._sampling.sample_steps` picks, in MLflow's order. This default reads the
        whole history; the SQLite store finds the same points from its chunk summaries."""
        series = await self.get_metric_series(run_id, key)
        take = sample_steps(series.steps, max_results, start_step, end_step, series.timestamps, series.values)
        return MetricSeries(key, series.values[take], series.timestamps[take], series.steps[take])

    # -- search (the filter grammar lives in asynctrack/store/search/)
    @abc.abstractmethod
    async def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        run_view_type: int,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        """One page of runs matching MLflow's run filter grammar, in ``order_by`` order (default:
        start_time DESC, then run_id), and the token of the next page (None on the last)."""

    @abc.abstractmethod
    async def search_experiments(
        self,
        view_type: int,
        max_results: int,
        filter_string: str,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Experiment], str | None]:
        """One page of experiments matching MLflow's experiment filter grammar, and the next token."""

    # -- what the web UI's lists need (defaults built on search_runs; stores override with one query)
    async def experiment_stats(self, experiment_ids: Sequence[str]) -> dict[str, ExperimentStats]:
        """For each experiment id: how many active runs it has and the latest start or end time among
        them. Ids of unknown experiments get zero runs."""
        return await default_experiment_stats(self, experiment_ids)

    async def run_keys(self, experiment_ids: Sequence[str]) -> RunKeys:
        """The distinct param, metric and tag keys of the experiments' active runs, each sorted."""
        return await default_run_keys(self, experiment_ids)

    # -- charts: exact reductions and live updates (see store/_buckets.py)
    async def metric_buckets(
        self,
        run_id: str,
        key: str,
        x: str = "step",
        start: float | None = None,
        end: float | None = None,
        n_buckets: int = 1000,
    ) -> MetricBuckets:
        """The points of one metric with x (``step``, ``wall`` ms, or ``relative``: wall minus the run's
        start, ms) in ``[start, end]`` cut into at most ``n_buckets`` buckets keeping each bucket's exact
        min, max and last value; the points themselves (``raw``) when there are no more than
        ``n_buckets``.

        This default reads the whole history (``get_metric_series``); ties in x keep its order. A store
        that keeps summaries (SQLite) answers in time proportional to the buckets instead.
        """
        check_bucket_query(x, start, end, n_buckets)
        series = await self.get_metric_series(run_id, key)
        shift = 0
        if x == "relative":
            shift = (await self.get_run(run_id)).info.start_time or 0
        xs = series.steps if x == "step" else series.timestamps
        lo = None if start is None else start + shift
        hi = None if end is None else end + shift
        cursor = _step_cursor(series)
        return reduce_points(key, x, xs, series.values, lo, hi, n_buckets, cursor, shift)

    async def metric_updates(self, run_id: str, key: str, cursor: str | None) -> MetricUpdate:
        """The points of one metric written after ``cursor`` (from :meth:`metric_buckets` or a previous
        call), and the cursor to continue from; ``cursor=None`` gives no points, only the current cursor.

        This default keeps a step high-water mark (the largest step seen and how many points it had): new
        points are those of larger steps, or more at that step. A point logged later at a smaller step
        is not seen until the chart reloads; stores that know their logging order (SQLite) do better.
        """
        series = await self.get_metric_series(run_id, key)
        now = _step_cursor(series)
        empty = MetricSeries(key, series.values[:0], series.timestamps[:0], series.steps[:0])
        if cursor is None:
            return MetricUpdate(empty, now)
        high_text, _, seen_text = cursor.partition(":")
        high_digits = high_text[1:] if high_text.startswith("-") else high_text  # steps may be negative
        if not all(part.isascii() and part.isdigit() for part in (high_digits, seen_text)):
            raise invalid_cursor(cursor, key)
        high, seen = int(high_text), int(seen_text)
        at = np.flatnonzero(series.steps == high)
        take = np.flatnonzero(series.steps > high)
        if len(at) > seen:
            take = np.concatenate([at[seen:], take])
        if len(take) == 0:
            return MetricUpdate(empty, now)
        return MetricUpdate(
            MetricSeries(key, series.values[take], series.timestamps[take], series.steps[take]), now
        )

    # -- copying between stores (asynctrack db copy: see asynctrack/transfer/)
    async def import_experiment(self, experiment: Experiment) -> str:
        """Make an active experiment standing for ``experiment`` of another store and return its id here:
        one of the same name is reused (with its tags updated), so a resumed copy or a second source lands
        in the same place. A store that can keeps the id, artifact location and times; this default
        creates it with ``create_experiment`` (a new id, the store's own artifact location). The copy
        deletes it afterwards if the source's is deleted (runs can only be created and logged to in an
        active experiment)."""
        found = await self.get_experiment_by_name(experiment.name)
        if found is not None:
            for key, value in experiment.tags.items():
                await self.set_experiment_tag(found.experiment_id, key, value)
            return found.experiment_id
        # The target's own artifact location: a server confines client-chosen ones to its roots, and the
        # runs created here get new ids, so their artifact URIs are the target's anyway.
        return await self.create_experiment(experiment.name, None, list(experiment.tags.items()))

    async def import_run(self, experiment_id: str, info: RunInfo) -> RunInfo:
        """Make an active run standing for ``info`` of another store in experiment ``experiment_id`` here
        (``import_experiment``'s id), and return its info here. A store that can keeps the run id, user,
        times, status and artifact URI, and returns the run already there under that id (a resumed copy);
        this default creates a run with a new id (``create_run``). The copy then logs the run's data and
        sets its status, end time and lifecycle stage through the ordinary calls."""
        run = await self.create_run(experiment_id, info.user_id, info.start_time or 0, [], info.run_name)
        return run.info

    async def run_counts(self, run_ids: Sequence[str]) -> dict[str, RunCounts]:
        """Params, tags and metric points of each run (ids not found are left out): the copy's
        verification. This default reads each run and every history; stores answer from their tables."""
        out: dict[str, RunCounts] = {}
        for run_id in run_ids:
            try:
                run = await self.get_run(run_id)
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    continue
                raise
            points = 0
            for key in run.data.metrics:
                points += len(await self.get_metric_series(run_id, key))
            out[run_id] = RunCounts(len(run.data.params), len(run.data.tags), points)
        return out

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
