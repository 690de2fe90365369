"""Read queries of the PostgreSQL store (each on one pooled connection)."""

from __future__ import annotations

from typing import Any

import asyncpg
import numpy as np

from asynctrack.entities import Experiment, Run, RunData, RunInfo, RunInputs, RunOutputs
from asynctrack.exceptions import RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.store._experiment_ids import experiment_key
from asynctrack.store._protocol import MetricSeries
from asynctrack.store.postgres import _model_links
from asynctrack.store.postgres._datasets import inputs_of_runs
from asynctrack.store.postgres._writes import KeyIds, run_not_found
from asynctrack.store.sqlite._columns import decode_ints

__all__ = ["experiment_by_id", "experiment_by_name", "metric_series", "run_by_id", "series_from_chunks"]

_EXPERIMENT_COLUMNS = (
    "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time"
)


async def _experiment(conn: asyncpg.Connection, row: asyncpg.Record) -> Experiment:
    tags = {
        r[0]: r[1]
        for r in await conn.fetch("SELECT key, value FROM experiment_tags WHERE experiment_id = $1", row[0])
    }
    return Experiment(
        experiment_id=str(row[0]),
        name=str(row[1]),
        artifact_location=str(row[2]),
        lifecycle_stage=str(row[3]),
        tags=tags,
        creation_time=row[4],
        last_update_time=row[5],
    )


async def experiment_by_id(conn: asyncpg.Connection, experiment_id: str) -> Experiment:
    row = await conn.fetchrow(
        f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE experiment_id = $1",
        experiment_key(experiment_id),
    )
    if row is None:
        raise MlflowException(
            f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
        )
    return await _experiment(conn, row)


async def experiment_by_name(conn: asyncpg.Connection, name: str) -> Experiment | None:
    row = await conn.fetchrow(f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE name = $1", name)
    return None if row is None else await _experiment(conn, row)


async def run_by_id(conn: asyncpg.Connection, run_id: str) -> Run:
    row = await conn.fetchrow(
        "SELECT run_key, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, "
        "artifact_uri, name FROM runs WHERE run_id = $1",
        run_id,
    )
    if row is None:
        raise run_not_found(run_id)
    run_key = row[0]
    info = RunInfo(
        run_id=run_id,
        experiment_id=str(row[1]),
        user_id=row[2] or "",
        status=row[3],
        start_time=row[4],
        end_time=row[5],
        lifecycle_stage=row[6],
        artifact_uri=row[7],
        run_name=row[8],
    )
    nan = float("nan")
    latest = [
        (r[0], nan if r[2] else r[1], r[3], r[4])
        for r in await conn.fetch(
            "SELECT k.key, l.value, l.is_nan, l.timestamp, l.step FROM latest_metrics AS l "
            "JOIN metric_keys AS k ON k.key_id = l.key_id WHERE l.run_key = $1",
            run_key,
        )
    ]
    metrics = {r[0]: r[1] for r in latest}
    params = {
        r[0]: r[1] for r in await conn.fetch("SELECT key, value FROM params WHERE run_key = $1", run_key)
    }
    tags = {r[0]: r[1] for r in await conn.fetch("SELECT key, value FROM tags WHERE run_key = $1", run_key)}
    inputs = RunInputs(
        dataset_inputs=(await inputs_of_runs(conn, [run_key])).get(run_key, []),
        model_inputs=(await _model_links.inputs_of_runs(conn, [run_key])).get(run_key, []),
    )
    outputs = RunOutputs((await _model_links.outputs_of_runs(conn, [run_key])).get(run_key, []))
    data = RunData(metrics=metrics, params=params, tags=tags).attach_latest(latest)
    return Run(info=info, data=data, inputs=inputs, outputs=outputs)


def empty_series(key: str) -> MetricSeries:
    empty_i = np.empty(0, np.int64)
    return MetricSeries(key, np.empty(0, np.float64), empty_i, empty_i.copy())


def series_from_chunks(key: str, chunks: list[Any], sort: bool = True) -> MetricSeries:
    """The points of chunks ``(n, steps, vals, timestamps)`` in chunk order; sorted by step (stable: ties
    keep logging order) when ``sort``."""
    if not chunks:
        return empty_series(key)
    # concatenate copies, so the arrays handed out are writable and own their memory.
    steps = np.concatenate([decode_ints(c[1], c[0]) for c in chunks])
    values = np.concatenate([np.frombuffer(c[2], "<f8") for c in chunks]).astype(np.float64, copy=False)
    stamps = np.concatenate([decode_ints(c[3], c[0]) for c in chunks])
    if sort and len(steps) > 1 and bool(np.any(steps[1:] < steps[:-1])):
        order = np.argsort(steps, kind="stable")
        steps, values, stamps = steps[order], values[order], stamps[order]
    return MetricSeries(key, values, stamps, steps)


async def run_key_of(conn: asyncpg.Connection, run_id: str) -> tuple[int, int]:
    """The run's integer key and start time (0 if none); RESOURCE_DOES_NOT_EXIST for an unknown run."""
    row = await conn.fetchrow("SELECT run_key, start_time FROM runs WHERE run_id = $1", run_id)
    if row is None:
        raise run_not_found(run_id)
    return int(row[0]), int(row[1] or 0)


async def metric_series(conn: asyncpg.Connection, keys: KeyIds, run_id: str, key: str) -> MetricSeries:
    """Every point of one metric, sorted by step; points of equal step keep their logging order."""
    run_key, _ = await run_key_of(conn, run_id)
    key_id = await keys.lookup(conn, key)
    if key_id is None:
        return empty_series(key)
    chunks = await conn.fetch(
        "SELECT n, steps, vals, timestamps FROM metric_chunks WHERE run_key = $1 AND key_id = $2 "
        "ORDER BY chunk_id",
        run_key,
        key_id,
    )
    return series_from_chunks(key, chunks)
