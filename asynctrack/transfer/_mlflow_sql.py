"""MLflow's own SQL database as a copy source, read directly and read-only.

MLflow's SQLAlchemy schema (``experiments``, ``experiment_tags``, ``runs``, ``params``, ``tags``, ``metrics``
with one row per point, ``datasets``, ``inputs`` and ``input_tags``) is read with plain queries. The file is
opened with SQLite's ``mode=ro`` URI, so nothing can be written to it, not even a journal or a WAL switch;
PostgreSQL is read in a ``READ ONLY`` transaction. MLflow stores NaN as 0 with ``is_nan`` set (turned back
into NaN here) and +-inf as +-1.7976931348623157e308 (kept: that is what MLflow itself returns for them).

Only the ``default`` workspace is read when the database has MLflow's workspaces (experiment names are
unique per workspace, so two workspaces could not land in one store); the others are counted and named in
the report.
"""

from __future__ import annotations

import abc
import importlib
import sqlite3
import threading
import urllib.parse
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import anyio
import numpy as np

from asynctrack.entities import Dataset, DatasetInput, Experiment, InputTag, Param, RunInfo, RunTag
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store._protocol import MetricSeries
from asynctrack.transfer._source import Source, SourceRun, Totals, uncopied_notes

__all__ = [
    "MlflowPostgresSource",
    "MlflowSqliteSource",
    "is_mlflow_sqlite",
    "is_mlflow_tables",
    "postgres_tables",
]

_MLFLOW_TABLES = frozenset({"alembic_version", "experiments", "runs", "metrics", "params", "tags"})


def _connect_read_only(path: str) -> sqlite3.Connection:
    uri = "file:" + urllib.parse.quote(path) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    return conn


def is_mlflow_sqlite(path: str) -> bool:
    """Whether the SQLite file at ``path`` is an MLflow database (read-only look at ``sqlite_master``)."""
    conn = _connect_read_only(path)
    try:
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    return is_mlflow_tables(tables)


_POINTS = "SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? ORDER BY key, step"


class _MlflowSql(Source):
    """What both of MLflow's SQL databases share: the queries (``?`` placeholders; ``_query`` adapts them)."""

    def __init__(self, description: str, tables: set[str], experiment_columns: set[str]) -> None:
        self.description = description
        self._tables = frozenset(tables)
        self._has_inputs = "inputs" in tables
        self._workspace = "workspace" in experiment_columns

    @abc.abstractmethod
    async def _query(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Sequence[Any]]:
        """All rows of one read-only query."""

    async def metric_series(self, run: SourceRun) -> list[MetricSeries]:
        # In the order of MLflow's index on (run_uuid, key, step): no sort in the database; ties of a step
        # are put in timestamp order by numpy. The rows become arrays in a worker thread, not on the loop.
        rows = await self._query(_POINTS, (run.info.run_id,))
        return await anyio.to_thread.run_sync(_columns, rows)

    def _where_workspace(self, alias: str = "") -> str:
        return f" WHERE {alias}workspace = 'default'" if self._workspace else ""

    async def other_workspaces(self) -> int:
        """Experiments outside the ``default`` workspace (not copied)."""
        if not self._workspace:
            return 0
        rows = await self._query("SELECT count(*) FROM experiments WHERE workspace <> 'default'")
        return int(rows[0][0])

    async def experiments(self) -> list[Experiment]:
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        for eid, key, value in await self._query("SELECT experiment_id, key, value FROM experiment_tags"):
            tags[str(eid)][str(key)] = "" if value is None else str(value)
        rows = await self._query(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time "
            "FROM experiments" + self._where_workspace() + " ORDER BY experiment_id"
        )
        return [
            Experiment(str(eid), str(name), str(loc or ""), str(stage or "active"), tags[str(eid)], ct, ut)
            for eid, name, loc, stage, ct, ut in rows
        ]

    async def _datasets(self, experiment_id: int) -> dict[str, list[DatasetInput]]:
        """The dataset inputs of the experiment's runs (``inputs`` rows from a dataset to a run, joined to
        ``datasets``), each with its ``input_tags``; in (name, digest) order within a run."""
        out: dict[str, list[DatasetInput]] = defaultdict(list)
        if not self._has_inputs:
            return out
        tags: dict[str, list[InputTag]] = defaultdict(list)
        for uuid, key, value in await self._query(
            "SELECT t.input_uuid, t.name, t.value FROM input_tags t JOIN inputs i ON i.input_uuid = "
            "t.input_uuid JOIN runs r ON r.run_uuid = i.destination_id WHERE i.destination_type = 'RUN' "
            "AND r.experiment_id = ? ORDER BY t.input_uuid, t.name",
            (experiment_id,),
        ):
            tags[str(uuid)].append(InputTag(str(key), str(value)))
        for run, uuid, name, digest, source_type, source, schema, profile in await self._query(
            "SELECT i.destination_id, i.input_uuid, d.name, d.digest, d.dataset_source_type, "
            "d.dataset_source, d.dataset_schema, d.dataset_profile FROM inputs i "
            "JOIN datasets d ON d.dataset_uuid = i.source_id JOIN runs r ON r.run_uuid = i.destination_id "
            "WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND r.experiment_id = ? "
            "ORDER BY i.destination_id, d.name, d.digest",
            (experiment_id,),
        ):
            dataset = Dataset(str(name), str(digest), str(source_type), str(source), schema, profile)
            out[str(run)].append(DatasetInput(dataset, tags[str(uuid)]))
        return out

    async def runs(self, experiment_id: str) -> list[SourceRun]:
        eid = int(experiment_id)
        params: dict[str, list[Param]] = defaultdict(list)
        for run, key, value in await self._query(
            "SELECT p.run_uuid, p.key, p.value FROM params p JOIN runs r ON r.run_uuid = p.run_uuid "
            "WHERE r.experiment_id = ? ORDER BY p.run_uuid, p.key",
            (eid,),
        ):
            params[run].append(Param(str(key), str(value)))
        tags: dict[str, list[RunTag]] = defaultdict(list)
        for run, key, value in await self._query(
            "SELECT t.run_uuid, t.key, t.value FROM tags t JOIN runs r ON r.run_uuid = t.run_uuid "
            "WHERE r.experiment_id = ? ORDER BY t.run_uuid, t.key",
            (eid,),
        ):
            tags[run].append(RunTag(str(key), "" if value is None else str(value)))
        datasets = await self._datasets(eid)
        rows = await self._query(
            "SELECT run_uuid, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri "
            "FROM runs WHERE experiment_id = ? ORDER BY start_time, run_uuid",
            (eid,),
        )
        return [
            SourceRun(
                RunInfo(
                    str(run),
                    str(eid),
                    str(user or ""),
                    str(status or "FINISHED"),
                    start,
                    end,
                    str(stage or "active"),
                    art,
                    name,
                ),
                params[run],
                tags[run],
                [],  # the points query finds the keys
                datasets.get(str(run), []),
            )
            for run, name, user, status, start, end, stage, art in rows
        ]

    async def totals(self) -> Totals:
        ws = self._where_workspace("e.")
        join = (
            " JOIN runs r ON r.run_uuid = x.run_uuid JOIN experiments e ON e.experiment_id = r.experiment_id"
        )
        out = Totals()
        out.experiments = int((await self._query("SELECT count(*) FROM experiments e" + ws))[0][0])
        out.runs = int(
            (await self._query("SELECT count(*) FROM runs x JOIN experiments e USING (experiment_id)" + ws))[
                0
            ][0]
        )
        out.params = int((await self._query("SELECT count(*) FROM params x" + join + ws))[0][0])
        out.tags = int((await self._query("SELECT count(*) FROM tags x" + join + ws))[0][0])
        out.points = int((await self._query("SELECT count(*) FROM metrics x" + join + ws))[0][0])
        if self._has_inputs:
            out.inputs = int(
                (
                    await self._query(
                        "SELECT count(*) FROM inputs i JOIN runs r ON r.run_uuid = i.destination_id "
                        "JOIN experiments e ON e.experiment_id = r.experiment_id "
                        "WHERE i.destination_type = 'RUN' AND i.source_type = 'DATASET'"
                        + ws.replace(" WHERE", " AND")
                    )
                )[0][0]
            )
        return out

    async def not_copied(self) -> list[str]:
        async def count(table: str) -> int:
            if table not in self._tables:
                return 0
            return int((await self._query(f"SELECT count(*) FROM {table}"))[0][0])

        return uncopied_notes(
            await count("registered_models"), await count("model_versions"), await count("logged_models")
        )


class MlflowSqliteSource(_MlflowSql):
    """An ``mlflow.db`` file (``sqlite:///mlflow.db``), opened read-only (``mode=ro``, ``query_only``)."""

    def __init__(self, path: str, conn: sqlite3.Connection) -> None:
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(experiments)")}
        super().__init__(f"MLflow database sqlite:///{path} (read only)", tables, columns)
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()  # one statement at a time on the connection

    @classmethod
    async def open(cls, path: str) -> MlflowSqliteSource:
        def connect() -> MlflowSqliteSource:
            try:
                conn = _connect_read_only(path)
                return cls(path, conn)
            except sqlite3.Error as exc:
                raise MlflowException(
                    f"cannot read the MLflow database {path}: {exc}", error_code=INVALID_PARAMETER_VALUE
                ) from exc

        return await anyio.to_thread.run_sync(connect)

    async def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            with self._lock:
                return self._conn.execute(sql, tuple(args)).fetchall()

        return await anyio.to_thread.run_sync(run)

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self._conn.close)


class MlflowPostgresSource(_MlflowSql):
    """MLflow's schema in PostgreSQL, read in one ``READ ONLY`` ``REPEATABLE READ`` transaction (one
    consistent snapshot for the whole copy) on a connection whose every transaction is read-only
    (``default_transaction_read_only``), rolled back at the end: nothing can be written."""

    def __init__(
        self, description: str, conn: Any, transaction: Any, tables: set[str], columns: set[str]
    ) -> None:
        super().__init__(description, tables, columns)
        self._conn = conn
        self._transaction = transaction
        self._lock = anyio.Lock()

    @classmethod
    async def open(cls, dsn: str, description: str) -> MlflowPostgresSource:
        asyncpg = _asyncpg()
        conn = await asyncpg.connect(
            dsn,
            server_settings={"default_transaction_read_only": "on", "application_name": "asynctrack db copy"},
        )
        try:
            transaction = conn.transaction(isolation="repeatable_read", readonly=True)
            await transaction.start()
            tables = {
                str(r[0])
                for r in await conn.fetch(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                )
            }
            columns = {
                str(r[0])
                for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'experiments'"
                )
            }
        except BaseException:
            await conn.close()
            raise
        return cls(description, conn, transaction, tables, columns)

    async def _query(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Sequence[Any]]:
        parts = sql.split("?")
        numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
        async with self._lock:
            return await self._conn.fetch(numbered, *args)  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        try:
            await self._transaction.rollback()
        finally:
            await self._conn.close()


def _asyncpg() -> Any:
    try:
        asyncpg = importlib.import_module("asyncpg")  # an optional dependency (the postgres extra)
    except ImportError:
        raise MlflowException(
            "reading PostgreSQL needs asyncpg: pip install 'asynctrack[postgres]'",
            error_code=INVALID_PARAMETER_VALUE,
        ) from None
    return asyncpg


async def postgres_tables(dsn: str) -> set[str]:
    """The tables of the PostgreSQL database at ``dsn`` (its current schema), read in a read-only
    transaction: how a ``postgresql://`` source is told to be MLflow's or asynctrack's."""
    conn = await _asyncpg().connect(dsn, server_settings={"default_transaction_read_only": "on"})
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    finally:
        await conn.close()
    return {str(r[0]) for r in rows}


def is_mlflow_tables(tables: set[str]) -> bool:
    return _MLFLOW_TABLES <= tables and "asynctrack_meta" not in tables


_ROW = np.dtype([("key", "O"), ("value", "<f8"), ("is_nan", "?"), ("timestamp", "<i8"), ("step", "<i8")])


def _columns(rows: Sequence[Sequence[Any]]) -> list[MetricSeries]:
    """Rows (key, value, is_nan, timestamp, step) grouped by key into one series per key, each in (step,
    timestamp) order. The rows become one structured array in numpy's C loop (three times faster than
    transposing them in Python); every column is NOT NULL in MLflow's schema."""
    if not rows:
        return []
    n = len(rows)
    table = np.array(rows if isinstance(rows[0], tuple) else [tuple(r) for r in rows], dtype=_ROW)
    keys = table["key"]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    first = np.zeros(n, np.bool_)
    first[starts] = True
    group = np.cumsum(first) - 1
    values = table["value"].copy()
    values[table["is_nan"]] = np.nan
    stamps, steps = table["timestamp"], table["step"]
    order = np.lexsort((stamps, steps, group))  # keeps the groups, puts each in (step, timestamp) order
    values, stamps, steps = values[order], stamps[order], steps[order]
    bounds = [*starts.tolist(), n]
    return [
        MetricSeries(str(keys[lo]), values[lo:hi], stamps[lo:hi], steps[lo:hi])
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]
