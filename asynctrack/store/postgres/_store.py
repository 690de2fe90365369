"""The PostgreSQL store: many machines, one database (asyncpg, one bounded pool per store)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar, TypeVarTuple

import asyncpg

from asynctrack._names import generate_run_name
from asynctrack.entities import DatasetInput, DatasetSummary, Experiment, Param, Run, RunInfo, RunTag
from asynctrack.environment import MLFLOW_HTTP_REQUEST_MAX_RETRIES
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store._buckets import MetricBuckets, MetricUpdate
from asynctrack.store._overview import ExperimentStats, RunKeys
from asynctrack.store._protocol import AbstractStore, BatchLimits, BatchWrite, MetricSeries, RunCounts
from asynctrack.store._retry import retry_transient
from asynctrack.store.postgres import _charts, _datasets, _imports, _reads, _search, _writes
from asynctrack.store.postgres._connection import PoolConfig, open_pool, pooled
from asynctrack.store.postgres._logged_model_store import PostgresLoggedModels
from asynctrack.store.postgres._registry_store import PostgresRegistry
from asynctrack.store.postgres._schema import ensure_schema

__all__ = ["PostgresStore"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class PostgresStore(AbstractStore, PostgresLoggedModels, PostgresRegistry):
    """A store in one PostgreSQL database, shared by any number of processes and machines.

    Each store holds one asyncpg pool (``pool_size`` connections at most). Reads and the small writes
    retry transient failures within ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``; ``log_batch(es)`` do not retry
    (the pipeline's worker and the server's writer own their retries, and idempotency keys make a retried
    ``log_batches`` safe).
    """

    # As the embedded store: metric series go in one chunk row per key, so batches may be large.
    limits = BatchLimits(max_metrics=10_000, max_params=100, max_tags=100, max_entities=10_200)
    #: Runs' batches written at once by the pipeline (each on its own pooled connection).
    concurrent_writes = 4

    def __init__(self, config: PoolConfig, pool: asyncpg.Pool, artifact_root: str) -> None:
        self.config = config
        self.artifact_root = artifact_root
        self._pool = pool
        self._keys = _writes.KeyIds()

    @classmethod
    async def open(cls, uri: str, artifact_root: str) -> PostgresStore:
        """Connect to the database at ``uri`` and create the schema in it if it is empty (a database with
        other tables is refused unchanged; see ``_schema.ensure_schema``)."""
        config = PoolConfig.from_uri(uri)
        budget = MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()
        pool = await retry_transient(
            lambda: open_pool(config), what=f"connecting to {config.where}", budget=budget
        )
        store = cls(config, pool, artifact_root)
        try:

            async def schema(conn: asyncpg.Connection) -> None:
                await ensure_schema(conn, artifact_root, _now_ms(), config.where)

            await retry_transient(lambda: store._call(schema), what="checking the schema", budget=budget)
        except BaseException:
            await store.aclose()
            raise
        return store

    async def _call(self, fn: Callable[[asyncpg.Connection, *Ts], Awaitable[T]], *args: *Ts) -> T:
        async with pooled(self._pool, self.config) as conn:
            return await fn(conn, *args)

    async def _transaction(self, fn: Callable[[asyncpg.Connection, *Ts], Awaitable[T]], *args: *Ts) -> T:
        async with pooled(self._pool, self.config) as conn, conn.transaction():
            return await fn(conn, *args)

    async def _read(self, fn: Callable[[asyncpg.Connection, *Ts], Awaitable[T]], *args: *Ts) -> T:
        return await retry_transient(
            lambda: self._call(fn, *args), what="reading", budget=self.synchronous_retries
        )

    async def _write(self, what: str, fn: Callable[[asyncpg.Connection, *Ts], Awaitable[T]], *args: *Ts) -> T:
        return await retry_transient(
            lambda: self._transaction(fn, *args), what=what, budget=self.synchronous_retries
        )

    # -- experiments
    async def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[tuple[str, str]] = ()
    ) -> str:
        return await self._write(
            "create_experiment",
            _writes.insert_experiment,
            name,
            self.artifact_root,
            artifact_location,
            list(tags),
            _now_ms(),
        )

    async def get_experiment(self, experiment_id: str) -> Experiment:
        return await self._read(_reads.experiment_by_id, str(experiment_id))

    async def get_experiment_by_name(self, name: str) -> Experiment | None:
        return await self._read(_reads.experiment_by_name, name)

    async def delete_experiment(self, experiment_id: str) -> None:
        await self._write(
            "delete_experiment", _writes.set_experiment_lifecycle, str(experiment_id), "deleted", _now_ms()
        )

    async def restore_experiment(self, experiment_id: str) -> None:
        await self._write(
            "restore_experiment", _writes.set_experiment_lifecycle, str(experiment_id), "active", _now_ms()
        )

    async def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        await self._write(
            "rename_experiment", _writes.rename_experiment, str(experiment_id), new_name, _now_ms()
        )

    async def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        await self._write("set_experiment_tag", _writes.set_experiment_tag, str(experiment_id), key, value)

    async def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        await self._write("delete_experiment_tag", _writes.delete_experiment_tag, str(experiment_id), key)

    # -- runs
    async def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        tag_name = next((t.value for t in tags if t.key == _writes.RUN_NAME_TAG), None)
        if run_name and tag_name and run_name != tag_name:
            raise MlflowException(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different "
                f"values (run_name='{run_name}', mlflow.runName='{tag_name}').",
                error_code=INVALID_PARAMETER_VALUE,
            )
        name = run_name or tag_name or generate_run_name()
        run_id = uuid.uuid4().hex
        await self._write(
            "create_run",
            _writes.insert_run,
            run_id,
            str(experiment_id),
            user_id,
            start_time,
            name,
            list(tags),
        )
        return await self.get_run(run_id)

    async def get_run(self, run_id: str) -> Run:
        return await self._read(_reads.run_by_id, run_id)

    async def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        await self._write("update_run", _writes.update_run, run_id, status, end_time, run_name)
        return (await self.get_run(run_id)).info

    async def delete_run(self, run_id: str) -> None:
        await self._write("delete_run", _writes.set_run_lifecycle, run_id, "deleted", _now_ms())

    async def restore_run(self, run_id: str) -> None:
        await self._write("restore_run", _writes.set_run_lifecycle, run_id, "active", _now_ms())

    # -- writes from the pipeline and the server (no retry here: their owners retry)
    async def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricSeries],
        params: Sequence[Param],
        tags: Sequence[RunTag],
        on_durable: Callable[[], None] | None = None,
    ) -> None:
        async with pooled(self._pool, self.config) as conn:
            key_ids = await self._keys.ids(conn, [s.key for s in metrics])
            async with conn.transaction():
                await _writes.write_batch(conn, key_ids, run_id, metrics, params, tags)
        if on_durable is not None:
            on_durable()

    async def log_batches(
        self, writes: Sequence[BatchWrite], on_durable: Callable[[], None] | None = None
    ) -> list[MlflowException | None]:
        """All writes in one transaction, each in its own savepoint: a write that fails is rolled back
        alone; a write whose ``key`` was applied before (by any process) is skipped. One commit for all."""
        if not writes:
            return []
        async with pooled(self._pool, self.config) as conn:
            key_ids = await self._keys.ids(conn, [s.key for w in writes for s in w.metrics])
            async with conn.transaction():
                outcomes = await _writes.write_batches(conn, key_ids, list(writes), _now_ms())
        if on_durable is not None and any(o is None for o in outcomes):
            on_durable()
        return outcomes

    async def delete_tag(self, run_id: str, key: str) -> None:
        await self._write("delete_tag", _writes.delete_tag, run_id, key)

    # -- dataset inputs (_datasets.py)
    async def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        await self._write("log_inputs", _datasets.log_inputs, run_id, list(datasets))

    async def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        return await self._read(_datasets.search_datasets, list(experiment_ids))

    # -- histories and charts
    async def get_metric_series(self, run_id: str, key: str) -> MetricSeries:
        return await self._read(_reads.metric_series, self._keys, run_id, key)

    async def metric_buckets(
        self,
        run_id: str,
        key: str,
        x: str = "step",
        start: float | None = None,
        end: float | None = None,
        n_buckets: int = 1000,
    ) -> MetricBuckets:
        return await self._read(_charts.metric_buckets, self._keys, run_id, key, x, start, end, n_buckets)

    async def metric_updates(self, run_id: str, key: str, cursor: str | None) -> MetricUpdate:
        return await self._read(_charts.metric_updates, self._keys, run_id, key, cursor)

    # -- search
    async def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        run_view_type: int,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        return await self._read(
            _search.search_runs,
            self._keys,
            list(experiment_ids),
            filter_string,
            run_view_type,
            max_results,
            list(order_by or ()),
            page_token,
        )

    async def search_experiments(
        self,
        view_type: int,
        max_results: int,
        filter_string: str,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Experiment], str | None]:
        return await self._read(
            _search.search_experiments,
            view_type,
            max_results,
            filter_string,
            list(order_by or ()),
            page_token,
        )

    async def experiment_stats(self, experiment_ids: Sequence[str]) -> dict[str, ExperimentStats]:
        return await self._read(_charts.experiment_stats, list(experiment_ids))

    async def run_keys(self, experiment_ids: Sequence[str]) -> RunKeys:
        return await self._read(_charts.run_keys, list(experiment_ids))

    # -- copying between stores: ids kept (see _imports.py)
    async def import_experiment(self, experiment: Experiment) -> str:
        return await self._write(
            "import_experiment", _imports.import_experiment, experiment, self.artifact_root, _now_ms()
        )

    async def import_run(self, experiment_id: str, info: RunInfo) -> RunInfo:
        await self._write("import_run", _imports.import_run, str(experiment_id), info)
        return (await self.get_run(info.run_id)).info

    async def run_counts(self, run_ids: Sequence[str]) -> dict[str, RunCounts]:
        return await self._read(_imports.run_counts, list(run_ids))

    async def aclose(self) -> None:
        try:
            # Bounded: a connection stuck on a dead server must not hold the process at exit.
            await asyncio.wait_for(self._pool.close(), timeout=10)
        except (TimeoutError, Exception):  # broken or stuck connections: drop them
            self._pool.terminate()
