"""Dataset inputs in the embedded SQLite store: the tables, ``log_inputs``, the reads that fill
``run.inputs.dataset_inputs``, search-datasets, and the ``datasets.*`` clauses of run search.

As in MLflow's SQL store, a dataset belongs to an experiment and is identified there by (name, digest):
logging it again from another run reuses the row. ``run_inputs`` links a run to a dataset once (the
first logging's tags are kept, as MLflow keeps them); ``input_tags`` hold that use's tags, among them the
context (``mlflow.data.context``). Rows are read back in the order they were written.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence

from asynctrack._system_tags import MLFLOW_DATASET_CONTEXT as DATASET_CONTEXT_TAG
from asynctrack.entities import Dataset, DatasetInput, DatasetSummary, InputTag
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store._experiment_ids import experiment_key
from asynctrack.store.sqlite._writes import run_not_found

__all__ = ["DATASET_DDL", "inputs_of_runs", "log_inputs", "search_datasets"]

MAX_DATASET_SUMMARIES = 1000

DATASET_DDL = """
CREATE TABLE IF NOT EXISTS datasets (
    dataset_key   INTEGER PRIMARY KEY,
    dataset_uuid  TEXT NOT NULL UNIQUE,
    experiment_id INTEGER NOT NULL,
    name          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    source_type   TEXT NOT NULL,
    source        TEXT NOT NULL,
    schema        TEXT,
    profile       TEXT,
    UNIQUE (experiment_id, name, digest)
);

CREATE TABLE IF NOT EXISTS run_inputs (
    input_key   INTEGER PRIMARY KEY,
    run_key     INTEGER NOT NULL,
    dataset_key INTEGER NOT NULL,
    UNIQUE (run_key, dataset_key)
);
CREATE INDEX IF NOT EXISTS run_inputs_by_dataset ON run_inputs (dataset_key);

CREATE TABLE IF NOT EXISTS input_tags (
    input_key INTEGER NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (input_key, key)
);
CREATE INDEX IF NOT EXISTS input_tags_by_key ON input_tags (key, value);
"""


def log_inputs(conn: sqlite3.Connection, run_id: str, inputs: Sequence[DatasetInput]) -> None:
    """Write ``inputs`` for an active run (in the caller's transaction)."""
    row = conn.execute(
        "SELECT run_key, experiment_id, lifecycle_stage FROM runs WHERE run_id = ?", (run_id,)
    ).fetchone()
    if row is None:
        raise run_not_found(run_id)
    run_key, experiment_id, stage = row
    if stage != "active":
        raise MlflowException(
            f"The run {run_id} must be in the 'active' state. Current state is {stage}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    seen: set[tuple[str, str]] = set()
    for item in inputs:
        ds = item.dataset
        if (ds.name, ds.digest) in seen:
            continue  # MLflow keeps the first of several inputs with one (name, digest)
        seen.add((ds.name, ds.digest))
        conn.execute(
            "INSERT OR IGNORE INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, source, "
            "schema, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, experiment_id, ds.name, ds.digest, ds.source_type, ds.source)
            + (ds.schema, ds.profile),
        )
        dataset_key = conn.execute(
            "SELECT dataset_key FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?",
            (experiment_id, ds.name, ds.digest),
        ).fetchone()[0]
        cur = conn.execute(
            "INSERT OR IGNORE INTO run_inputs (run_key, dataset_key) VALUES (?, ?)", (run_key, dataset_key)
        )
        if cur.rowcount == 0:
            continue  # already an input of this run: kept as first logged
        input_key = cur.lastrowid
        conn.executemany(
            "INSERT OR REPLACE INTO input_tags (input_key, key, value) VALUES (?, ?, ?)",
            [(input_key, t.key, t.value) for t in item.tags],
        )


def inputs_of_runs(conn: sqlite3.Connection, run_keys: Sequence[int]) -> dict[int, list[DatasetInput]]:
    """Each run's dataset inputs (with their tags) in logging order; runs without any are absent."""
    if not run_keys:
        return {}
    keys = json.dumps(list(run_keys))
    out: dict[int, list[DatasetInput]] = {}
    by_input: dict[int, DatasetInput] = {}
    for input_key, run_key, name, digest, source_type, source, schema, profile in conn.execute(
        "SELECT i.input_key, i.run_key, d.name, d.digest, d.source_type, d.source, d.schema, d.profile "
        "FROM run_inputs AS i JOIN datasets AS d ON d.dataset_key = i.dataset_key "
        "WHERE i.run_key IN (SELECT value FROM json_each(?)) ORDER BY i.input_key",
        (keys,),
    ):
        item = DatasetInput(Dataset(name, digest, source_type, source, schema, profile), [])
        by_input[input_key] = item
        out.setdefault(run_key, []).append(item)
    if by_input:
        for input_key, key, value in conn.execute(
            "SELECT input_key, key, value FROM input_tags "
            "WHERE input_key IN (SELECT value FROM json_each(?)) ORDER BY rowid",
            (json.dumps(list(by_input)),),
        ):
            by_input[input_key].tags.append(InputTag(key, value))
    return out


def search_datasets(conn: sqlite3.Connection, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
    """The distinct (experiment, name, digest, context) of the experiments' dataset inputs; unknown or
    malformed experiment ids match nothing."""
    ids = []
    for e in experiment_ids:
        try:
            ids.append(experiment_key(e))
        except MlflowException:
            continue
    rows = conn.execute(
        "SELECT DISTINCT d.experiment_id, d.name, d.digest, t.value FROM datasets AS d "
        "JOIN run_inputs AS i ON i.dataset_key = d.dataset_key "
        "LEFT JOIN input_tags AS t ON t.input_key = i.input_key AND t.key = ? "
        "WHERE d.experiment_id IN (SELECT value FROM json_each(?)) ORDER BY d.dataset_key, i.input_key "
        "LIMIT ?",
        (DATASET_CONTEXT_TAG, json.dumps(ids), MAX_DATASET_SUMMARIES),
    ).fetchall()
    return [DatasetSummary(str(e), name, digest, context) for e, name, digest, context in rows]
