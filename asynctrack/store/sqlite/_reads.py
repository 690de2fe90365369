"""Read queries of the embedded store; each runs in the reader connection's thread."""

from __future__ import annotations

import sqlite3

import numpy as np

from asynctrack.entities import Experiment, Run, RunData, RunInfo, RunInputs, RunOutputs
from asynctrack.exceptions import RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.store._experiment_ids import experiment_key
from asynctrack.store._protocol import MetricSeries
from asynctrack.store.sqlite import _model_links
from asynctrack.store.sqlite._columns import decode_ints
from asynctrack.store.sqlite._datasets import inputs_of_runs
from asynctrack.store.sqlite._writes import run_not_found

__all__ = ["experiment_by_id", "experiment_by_name", "metric_series", "run_by_id"]

_EXPERIMENT_COLUMNS = (
    "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time"
)


def _experiment(conn: sqlite3.Connection, row: tuple[object, ...]) -> Experiment:
    experiment_id = row[0]
    tags = dict(
        conn.execute(
            "SELECT key, value FROM experiment_tags WHERE experiment_id = ?", (experiment_id,)
        ).fetchall()
    )
    return Experiment(
        experiment_id=str(experiment_id),
        name=str(row[1]),
        artifact_location=str(row[2]),
        lifecycle_stage=str(row[3]),
        tags=tags,
        creation_time=row[4],  # type: ignore[arg-type]
        last_update_time=row[5],  # type: ignore[arg-type]
    )


def experiment_by_id(conn: sqlite3.Connection, experiment_id: str) -> Experiment:
    row = conn.execute(
        f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE experiment_id = ?",
        (experiment_key(experiment_id),),
    ).fetchone()
    if row is None:
        raise MlflowException(
            f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
        )
    return _experiment(conn, row)


def experiment_by_name(conn: sqlite3.Connection, name: str) -> Experiment | None:
    row = conn.execute(f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE name = ?", (name,)).fetchone()
    return None if row is None else _experiment(conn, row)


def run_by_id(conn: sqlite3.Connection, run_id: str) -> Run:
    row = conn.execute(
        "SELECT run_key, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, "
        "artifact_uri, name FROM runs WHERE run_id = ?",
        (run_id,),
    ).fetchone()
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
    latest = [
        (key, float("nan") if is_nan else value, timestamp, step)
        for key, value, is_nan, timestamp, step in conn.execute(
            "SELECT key, value, is_nan, timestamp, step FROM latest_metrics WHERE run_key = ?", (run_key,)
        )
    ]
    metrics = {row[0]: row[1] for row in latest}
    params = dict(conn.execute("SELECT key, value FROM params WHERE run_key = ?", (run_key,)).fetchall())
    tags = dict(conn.execute("SELECT key, value FROM tags WHERE run_key = ?", (run_key,)).fetchall())
    inputs = RunInputs(
        dataset_inputs=inputs_of_runs(conn, [run_key]).get(run_key, []),
        model_inputs=_model_links.inputs_of_runs(conn, [run_key]).get(run_key, []),
    )
    outputs = RunOutputs(_model_links.outputs_of_runs(conn, [run_key]).get(run_key, []))
    data = RunData(metrics=metrics, params=params, tags=tags).attach_latest(latest)
    return Run(info=info, data=data, inputs=inputs, outputs=outputs)


def metric_series(conn: sqlite3.Connection, run_id: str, key: str) -> MetricSeries:
    """Every point of one metric, sorted by step; points of equal step keep their logging order."""
    row = conn.execute("SELECT run_key FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise run_not_found(run_id)
    chunks = conn.execute(
        "SELECT n, steps, vals, timestamps FROM metric_chunks WHERE run_key = ? AND key = ? "
        "ORDER BY chunk_id",
        (row[0], key),
    ).fetchall()
    if not chunks:
        empty_i = np.empty(0, np.int64)
        return MetricSeries(key, np.empty(0, np.float64), empty_i, empty_i.copy())
    # concatenate copies, so the arrays handed out are writable and own their memory.
    steps = np.concatenate([decode_ints(c[1], c[0]) for c in chunks])
    values = np.concatenate([np.frombuffer(c[2], "<f8") for c in chunks]).astype(np.float64, copy=False)
    stamps = np.concatenate([decode_ints(c[3], c[0]) for c in chunks])
    if len(steps) > 1 and bool(np.any(steps[1:] < steps[:-1])):
        order = np.argsort(steps, kind="stable")
        steps, values, stamps = steps[order], values[order], stamps[order]
    return MetricSeries(key, values, stamps, steps)
