"""The embedded SQLite store: the default backend, no server needed."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar, TypeVarTuple

import anyio

from asynctrack._names import generate_run_name
from asynctrack.entities import DatasetInput, DatasetSummary, Experiment, Param, Run, RunInfo, RunTag
from asynctrack.environment import ASYNCTRACK_SQLITE_BUSY_TIMEOUT, MLFLOW_HTTP_REQUEST_MAX_RETRIES
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store import _here
from asynctrack.store._buckets import MetricBuckets, MetricUpdate
from asynctrack.store._overview import ExperimentStats, RunKeys
from asynctrack.store._protocol import (
    AbstractStore,
    BatchLimits,
    BatchWrite,
    ExpressWriter,
    MetricSeries,
    RunCounts,
)
from asynctrack.store._retry import retry_transient
from asynctrack.store.sqlite import (
    _buckets,
    _datasets,
    _imports,
    _overview,
    _reads,
    _sampling,
    _search,
    _writes,
)
from asynctrack.store.sqlite._connection import Connection, guarded, map_error, transaction
from asynctrack.store.sqlite._express import SqliteExpressWriter
from asynctrack.store.sqlite._here_reader import HereReaders
from asynctrack.store.sqlite._logged_model_store import SqliteLoggedModels
from asynctrack.store.sqlite._migrations import current_ddl, read_version, refuse_newer, upgrade_opened
from asynctrack.store.sqlite._ownership import check_file, check_schema_is_ours, create_database
from asynctrack.store.sqlite._registry_store import SqliteRegistry
from asynctrack.store.sqlite._schema import APPLIED_KEY_DAYS, SCHEMA_VERSION

__all__ = ["SqliteStore"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SqliteStore(AbstractStore, SqliteRegistry, SqliteLoggedModels):
    """A store in one SQLite file (WAL mode), safe for several processes at once.

    Each process holds a writer and a reader connection. A locked database (another process writing) is a
    transient error: writes back off and retry, so "database is locked" never reaches the user.
    """

    # Batches are ours to size: metric series of any length go in one row per key, so only params and
    # tags keep MLflow's limits (and the pipeline may coalesce up to 10,000 points per batch).
    limits = BatchLimits(max_metrics=10_000, max_params=100, max_tags=100, max_entities=10_200)
    #: a sync client's reads may run in its own thread (``store/_here.py``, ``_here_reader.py``)
    reads_in_caller_thread = True

    def __init__(
        self, path: str, artifact_root: str, writer: Connection, reader: Connection, busy_timeout: float = 0.1
    ) -> None:
        self.path = path
        self.artifact_root = artifact_root
        self._writer = writer
        # run id -> run key of runs written through the pipeline, used in the writer's thread only
        # (_writes._claim): one statement fewer a write cycle.
        self._run_keys: dict[str, int] = {}
        self._reader = reader
        self._busy_timeout = busy_timeout
        self._here = HereReaders(path, busy_timeout)
        # The WAL checkpoints the express writer asks for, run here in the writer's thread (see
        # ``_express.py``); made on the loop the store was opened on, owned by the store.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._checkpoint_wanted = False
        self._closing = False

    @classmethod
    async def open(cls, path: str, artifact_root: str, *, upgrade: bool = True) -> SqliteStore:
        """Open the asynctrack database at absolute ``path``, creating it if no file is there.

        A file asynctrack did not create (a 0-byte file, another program's database such as MLflow's) is
        refused with an :class:`MlflowException` before anything is written to it (see ``_ownership.py``),
        and so is a database of a newer schema (:class:`~asynctrack.store._migrations.SchemaTooNew`). A
        database of an older schema is upgraded in place if ``upgrade`` (a client's own file), else
        refused with :class:`~asynctrack.store._migrations.SchemaTooOld` naming ``asynctrack db upgrade``
        (a server: see ``_migrations.py``).
        """
        await anyio.to_thread.run_sync(functools.partial(os.makedirs, os.path.dirname(path), exist_ok=True))
        root = artifact_root
        busy = ASYNCTRACK_SQLITE_BUSY_TIMEOUT.get()
        budget = MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()  # a full disk at open is an error, not a hang
        if not await anyio.to_thread.run_sync(check_file, path):
            await retry_transient(
                lambda: anyio.to_thread.run_sync(_create, path, root), what=f"creating {path}", budget=budget
            )

        def check(conn: sqlite3.Connection) -> None:
            check_schema_is_ours(conn, path)
            refuse_newer(conn, path)

        writer = await retry_transient(
            lambda: Connection.open(path, busy, check=check), what=f"opening {path}", budget=budget
        )
        try:
            await retry_transient(
                lambda: writer.run(_create_schema, root, _now_ms(), path, upgrade),
                what=f"checking the schema of {path}",
                budget=budget,
            )
            reader = await retry_transient(
                lambda: Connection.open(path, busy), what=f"opening {path}", budget=budget
            )
        except BaseException:
            await writer.close()
            raise
        store = cls(path, root, writer, reader, busy)
        store._loop = asyncio.get_running_loop()
        return store

    def express_writer(self) -> ExpressWriter:
        """A connection of its own for synchronous calls written from the caller's thread; it leaves the
        WAL's checkpoints to this store's writer thread (:meth:`_request_checkpoint`)."""
        return SqliteExpressWriter(self.path, self._busy_timeout, self._request_checkpoint)

    def _request_checkpoint(self) -> None:
        """From the express writer's thread: have the writer thread checkpoint the WAL (PASSIVE: it never
        holds up a writer), unless one is asked for already."""
        loop = self._loop
        if loop is None or self._checkpoint_wanted or self._closing:
            return
        self._checkpoint_wanted = True
        try:
            loop.call_soon_threadsafe(self._start_checkpoint)
        except RuntimeError:  # the loop is closed: the store is going away
            self._checkpoint_wanted = False

    def _start_checkpoint(self) -> None:
        if self._closing:
            self._checkpoint_wanted = False
            return
        self._checkpoint_task = asyncio.get_running_loop().create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        try:
            await self._writer.run(_passive_checkpoint)
        except MlflowException:  # busy or failing: the next request (or a writer's own) tries again
            pass
        finally:
            self._checkpoint_wanted = False

    async def _write(self, what: str, fn: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> T:
        if _here.active():
            raise _here.NotHere  # writes go through the writer thread, before anything is done
        return await retry_transient(
            lambda: self._writer.write(fn, *args),
            what=what,
            budget=self.synchronous_retries,
        )

    async def _read(self, fn: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> T:
        if _here.active():
            return self._here.read(fn, *args)  # synchronously, in the caller's thread
        return await retry_transient(
            lambda: self._reader.run(fn, *args),
            what="reading",
            budget=self.synchronous_retries,
        )

    # -- experiments
    async def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[tuple[str, str]] = ()
    ) -> str:
        return str(
            await self._write(
                "create_experiment",
                _writes.insert_experiment,
                name,
                self.artifact_root,
                artifact_location,
                list(tags),
                _now_ms(),
            )
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

    # -- writes from the pipeline
    async def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricSeries],
        params: Sequence[Param],
        tags: Sequence[RunTag],
        on_durable: Callable[[], None] | None = None,
    ) -> None:
        # No retry here: the pipeline's worker owns retries.
        await self._writer.write(_writes.write_batch, run_id, metrics, params, tags, on_commit=on_durable)

    async def log_batches(
        self, writes: Sequence[BatchWrite], on_durable: Callable[[], None] | None = None
    ) -> list[MlflowException | None]:
        """All writes in one transaction, each in its own savepoint: a write that fails is rolled back
        alone; a write whose ``key`` was applied before is skipped. One commit, one fsync for all."""
        if not writes:
            return []
        if len(writes) == 1:  # the transaction is the write's savepoint
            try:
                await self._writer.write(
                    _writes.write_one, writes[0], _now_ms(), self._run_keys, on_commit=on_durable
                )
            except _writes.Refused as refused:
                return [refused.error]
            return [None]
        outcomes: list[MlflowException | None] = []
        all_writes, now_ms, run_keys = list(writes), _now_ms(), self._run_keys

        def write_all(conn: sqlite3.Connection) -> list[MlflowException | None]:
            outcomes[:] = _writes.write_batches(conn, all_writes, now_ms, run_keys)
            return outcomes

        def committed() -> None:
            if on_durable is not None and any(o is None for o in outcomes):
                on_durable()  # not when every write failed (the protocol's rule)

        return await self._writer.write(write_all, on_commit=committed)

    async def delete_tag(self, run_id: str, key: str) -> None:
        await self._writer.write(_writes.delete_tag, run_id, key)

    # -- dataset inputs (_datasets.py)
    async def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        await self._write("log_inputs", _datasets.log_inputs, run_id, list(datasets))

    async def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        return await self._read(_datasets.search_datasets, list(experiment_ids))

    async def get_metric_series(self, run_id: str, key: str) -> MetricSeries:
        return await self._read(_reads.metric_series, run_id, key)

    async def metric_buckets(
        self,
        run_id: str,
        key: str,
        x: str = "step",
        start: float | None = None,
        end: float | None = None,
        n_buckets: int = 1000,
    ) -> MetricBuckets:
        return await self._read(_buckets.metric_buckets, run_id, key, x, start, end, n_buckets)

    async def metric_updates(self, run_id: str, key: str, cursor: str | None) -> MetricUpdate:
        return await self._read(_buckets.metric_updates, run_id, key, cursor)

    async def sample_metric(
        self, run_id: str, key: str, max_results: int, start_step: int | None, end_step: int | None
    ) -> MetricSeries:
        return await self._read(_sampling.sample_metric, run_id, key, max_results, start_step, end_step)

    # -- search: implemented in _search.py
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
            list(experiment_ids),
            filter_string,
            run_view_type,
            max_results,
            list(order_by),
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
            _search.search_experiments, view_type, max_results, filter_string, list(order_by), page_token
        )

    async def experiment_stats(self, experiment_ids: Sequence[str]) -> dict[str, ExperimentStats]:
        return await self._read(_overview.experiment_stats, list(experiment_ids))

    async def run_keys(self, experiment_ids: Sequence[str]) -> RunKeys:
        return await self._read(_overview.run_keys, list(experiment_ids))

    # -- copying between stores: ids kept (see _imports.py)
    async def import_experiment(self, experiment: Experiment) -> str:
        return str(
            await self._write(
                "import_experiment", _imports.import_experiment, experiment, self.artifact_root, _now_ms()
            )
        )

    async def import_run(self, experiment_id: str, info: RunInfo) -> RunInfo:
        await self._write("import_run", _imports.import_run, str(experiment_id), info)
        return (await self.get_run(info.run_id)).info

    async def run_counts(self, run_ids: Sequence[str]) -> dict[str, RunCounts]:
        return await self._read(_imports.run_counts, list(run_ids))

    async def aclose(self) -> None:
        self._closing = True
        self._here.close()
        task = self._checkpoint_task
        try:
            if task is not None and not task.done():
                await task  # bounded: one PASSIVE checkpoint
            await self._writer.close()
        finally:
            await self._reader.close()


def _passive_checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _create(path: str, artifact_root: str) -> None:
    """Create a new database at ``path`` whole (a thread's job; SQLite errors mapped)."""
    try:
        guarded(create_database, path, lambda conn: _create_schema(conn, artifact_root, _now_ms()))
    except sqlite3.Error as exc:
        raise map_error(exc, path) from exc


def _create_schema(
    conn: sqlite3.Connection, artifact_root: str, now: int, path: str = "", upgrade: bool = True
) -> None:
    """Bring the database to the current schema (a new one: create it; an older one: migrate it, if
    ``upgrade``), then seed it. The version is checked before any DDL runs."""
    if path:
        upgrade_opened(conn, path, f"sqlite:///{path}", allowed=upgrade)
    conn.executescript(current_ddl())
    transaction(conn, _seed, artifact_root, now)


def _seed(conn: sqlite3.Connection, artifact_root: str, now: int) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO asynctrack_meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    version = read_version(conn)
    if version != SCHEMA_VERSION:  # _create_schema has migrated it: another process changed it since
        raise MlflowException(
            f"The database {conn.execute('PRAGMA database_list').fetchone()[2]} has asynctrack schema "
            f"version {version} after opening; this asynctrack reads version {SCHEMA_VERSION}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    conn.execute("DELETE FROM applied_batches WHERE applied_ms < ?", (now - APPLIED_KEY_DAYS * 86_400_000,))
    conn.execute(
        "INSERT OR IGNORE INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
        "creation_time, last_update_time) VALUES (0, ?, ?, 'active', ?, ?)",
        (DEFAULT_EXPERIMENT_NAME, f"{artifact_root}/0", now, now),
    )
