"""A run's logged-model links in the embedded SQLite store: the models it used (``run.inputs.model_inputs``,
``log_inputs(models=...)``) and the models it produced (``run.outputs.model_outputs``, ``log_outputs``).

MLflow 3.17.2 keeps both as edges of its ``inputs`` table keyed by (run, model): logging a model input again
is a no-op, a second output of the same model for a run is refused (BAD_REQUEST, its primary key). The run
must exist and be active; the model id is not looked up (MLflow's store does not either: an edge may name a
model of another tracking server, or one created later). Rows are read back in the order they were written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from asynctrack.entities import LoggedModelInput, LoggedModelOutput
from asynctrack.exceptions import BAD_REQUEST, MlflowException
from asynctrack.store.sqlite._writes import active_run_key

__all__ = [
    "MODEL_LINK_DDL",
    "duplicate_output",
    "inputs_of_runs",
    "log_model_inputs",
    "log_model_outputs",
    "outputs_of_runs",
]

# Schema version 6 (a migration step from 5: store/sqlite/_migrations.py). Rowid tables: rowid is the order.
MODEL_LINK_DDL = """
CREATE TABLE IF NOT EXISTS run_model_inputs (
    run_key  INTEGER NOT NULL,
    model_id TEXT NOT NULL,
    PRIMARY KEY (run_key, model_id)
);

CREATE TABLE IF NOT EXISTS run_model_outputs (
    run_key  INTEGER NOT NULL,
    model_id TEXT NOT NULL,
    step     INTEGER NOT NULL,
    PRIMARY KEY (run_key, model_id)
);
"""


def log_model_inputs(conn: sqlite3.Connection, run_id: str, models: Sequence[LoggedModelInput]) -> None:
    """Record ``models`` as inputs of an active run (each once)."""
    run_key = active_run_key(conn, run_id)
    conn.executemany(
        "INSERT OR IGNORE INTO run_model_inputs (run_key, model_id) VALUES (?, ?)",
        [(run_key, m.model_id) for m in models],
    )


def duplicate_output(run_id: str, model_id: str) -> MlflowException:
    return MlflowException(
        f"Logged model {model_id} is already an output of run {run_id} (a run produces a model once)",
        error_code=BAD_REQUEST,
    )


def log_model_outputs(conn: sqlite3.Connection, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
    """Record ``models`` as outputs of an active run; a model already an output of it is BAD_REQUEST."""
    run_key = active_run_key(conn, run_id)
    for m in models:
        try:
            conn.execute(
                "INSERT INTO run_model_outputs (run_key, model_id, step) VALUES (?, ?, ?)",
                (run_key, m.model_id, m.step),
            )
        except sqlite3.IntegrityError:
            raise duplicate_output(run_id, m.model_id) from None


def inputs_of_runs(conn: sqlite3.Connection, run_keys: Sequence[int]) -> dict[int, list[LoggedModelInput]]:
    """Each run's model inputs in logging order; runs without any are absent."""
    out: dict[int, list[LoggedModelInput]] = {}
    if run_keys:
        for run_key, model_id in conn.execute(
            "SELECT run_key, model_id FROM run_model_inputs "
            "WHERE run_key IN (SELECT value FROM json_each(?)) ORDER BY rowid",
            (json.dumps(list(run_keys)),),
        ):
            out.setdefault(run_key, []).append(LoggedModelInput(model_id))
    return out


def outputs_of_runs(conn: sqlite3.Connection, run_keys: Sequence[int]) -> dict[int, list[LoggedModelOutput]]:
    """Each run's model outputs in logging order; runs without any are absent."""
    out: dict[int, list[LoggedModelOutput]] = {}
    if run_keys:
        for run_key, model_id, step in conn.execute(
            "SELECT run_key, model_id, step FROM run_model_outputs "
            "WHERE run_key IN (SELECT value FROM json_each(?)) ORDER BY rowid",
            (json.dumps(list(run_keys)),),
        ):
            out.setdefault(run_key, []).append(LoggedModelOutput(model_id, int(step)))
    return out
