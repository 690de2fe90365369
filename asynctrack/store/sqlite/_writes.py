"""Write transactions of the embedded store. Each function runs in the connection thread, inside
:func:`~asynctrack.store.sqlite._connection.transaction`, and raises MlflowException to roll back."""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Sequence

import numpy as np

from asynctrack._system_tags import MLFLOW_RUN_NAME as RUN_NAME_TAG
from asynctrack.entities import LifecycleStage, Param, RunTag
from asynctrack.exceptions import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    MlflowException,
)
from asynctrack.store._experiment_ids import experiment_key
from asynctrack.store._protocol import BatchWrite, MetricSeries
from asynctrack.store.sqlite._columns import encode_small
from asynctrack.store.sqlite._rows import insert_rows
from asynctrack.store.sqlite._summaries import CHUNK_CAP, Piece, insert_chunks

_ONE = struct.Struct("<q")
_TWO = struct.Struct("<qq")

__all__ = [
    "RUN_NAME_TAG",
    "active_run_key",
    "delete_experiment_tag",
    "delete_tag",
    "rename_experiment",
    "set_experiment_lifecycle",
    "set_experiment_tag",
    "set_run_lifecycle",
    "insert_experiment",
    "insert_run",
    "update_run",
    "write_batch",
    "Refused",
    "write_batches",
    "write_one",
]


_TAG_HEAD = "INSERT INTO tags (run_key, key, value)"
_TAG_TAIL = "ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value"
_UPSERT_TAG = f"{_TAG_HEAD} VALUES (?, ?, ?) {_TAG_TAIL}"
# MLflow's "latest" metric: largest step, then largest timestamp, then largest value (NaN counts as 0).
_LATEST_HEAD = "INSERT INTO latest_metrics (run_key, key, value, is_nan, timestamp, step)"
_LATEST_TAIL = (
    "ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, "
    "timestamp = excluded.timestamp, step = excluded.step "
    "WHERE (excluded.step, excluded.timestamp, excluded.value) > "
    "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
)


def run_not_found(run_id: str) -> MlflowException:
    return MlflowException(f"Run with id={run_id} not found", error_code=RESOURCE_DOES_NOT_EXIST)


def active_run_key(conn: sqlite3.Connection, run_id: str) -> int:
    """The run's integer key; the run must exist and not be deleted (MLflow's rule for logging)."""
    row = conn.execute("SELECT run_key, lifecycle_stage FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise run_not_found(run_id)
    if row[1] != LifecycleStage.ACTIVE:
        raise MlflowException(
            f"The run {run_id} must be in the 'active' state. Current state is {row[1]}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return int(row[0])


_SMALL = 16  # series up to this long are handled with plain Python: numpy's per-call cost dominates there


def _latest_small(values: list[float], stamps: list[int], steps: list[int]) -> tuple[float, int, int, int]:
    # MLflow's order, NaN counted as 0; on a full tie the last logged point wins.
    best = 0
    for i in range(1, len(steps)):
        vi, vb = values[i], values[best]
        if (steps[i], stamps[i], 0.0 if vi != vi else vi) >= (
            steps[best],
            stamps[best],
            0.0 if vb != vb else vb,
        ):
            best = i
    value = values[best]
    if value != value:
        return 0.0, 1, stamps[best], steps[best]
    return value, 0, stamps[best], steps[best]


def _latest_point(series: MetricSeries) -> tuple[float, int, int, int]:
    """The point MLflow would show as the series' latest: (value, is_nan, timestamp, step).

    Largest step, then largest timestamp, then largest value (NaN compares as 0). Linear time: only
    the points tied on the largest step are looked at further.
    """
    steps, stamps, values = series.steps, series.timestamps, series.values
    i = int(np.argmax(steps))
    tied = np.flatnonzero(steps == steps[i])
    if len(tied) > 1:
        tied_stamps = stamps[tied]
        tied = tied[tied_stamps == tied_stamps.max()]
        if len(tied) > 1:
            comparable = np.where(np.isnan(values[tied]), 0.0, values[tied])
            tied = tied[comparable == comparable.max()]
        i = int(tied[-1])
    value = float(values[i])
    if value != value:  # NaN
        return 0.0, 1, int(stamps[i]), int(steps[i])
    return value, 0, int(stamps[i]), int(steps[i])


def write_batch(
    conn: sqlite3.Connection,
    run_id: str,
    metrics: Sequence[MetricSeries],
    params: Sequence[Param],
    tags: Sequence[RunTag],
    run_key: int | None = None,
) -> None:
    """Write a run's batch; ``run_key``, when given, is the run's key already checked active in this
    transaction."""
    if run_key is None:
        run_key = active_run_key(conn, run_id)
    if params:
        _write_params(conn, run_id, run_key, params)
    if tags:
        insert_rows(conn, _TAG_HEAD, [(run_key, t.key, t.value) for t in tags], _TAG_TAIL)
        for t in tags:
            if t.key == RUN_NAME_TAG:
                conn.execute("UPDATE runs SET name = ? WHERE run_key = ?", (t.value, run_key))
    if metrics:
        latest = []
        pieces = []
        for s in metrics:
            n = len(s)
            if n == 0:
                continue
            if n <= _SMALL:
                st, ts, vals = s.steps.tolist(), s.timestamps.tolist(), s.values.tolist()
                blobs = (encode_small(st), struct.pack(f"<{n}d", *vals), encode_small(ts))
                pieces.append(Piece(s.key, s.steps, s.values, s.timestamps, (st, vals, ts, *blobs)))
                latest.append((run_key, s.key, *_latest_small(vals, ts, st)))
                continue
            for lo in range(0, n, CHUNK_CAP):
                hi = lo + CHUNK_CAP
                pieces.append(Piece(s.key, s.steps[lo:hi], s.values[lo:hi], s.timestamps[lo:hi]))
            latest.append((run_key, s.key, *_latest_point(s)))
        if pieces:
            insert_chunks(conn, run_key, pieces)
            insert_rows(conn, _LATEST_HEAD, latest, _LATEST_TAIL)


_APPLIED = "INSERT OR IGNORE INTO applied_batches (key, applied_ms) VALUES (?, ?)"
# The same, only if the run behind a remembered key is still this run and active: the run check folded into
# the key's statement. Both columns are compared: SQLite may give a purged run's key to a newer run.
_APPLIED_IF_ACTIVE = (
    "INSERT OR IGNORE INTO applied_batches (key, applied_ms) SELECT ?, ? WHERE EXISTS "
    "(SELECT 1 FROM runs WHERE run_key = ? AND run_id = ? AND lifecycle_stage = 'active')"
)
_RUN_KEYS_KEPT = 1024


class Refused(Exception):
    """A lone write's own error (its run unknown, a param changed), raised out of its transaction so that
    the transaction's rollback undoes it: the savepoint of :func:`write_batches` without its two
    statements. Neither an ``MlflowException`` nor a driver error, so nothing on the way mistakes it for
    a store failure to retry."""

    def __init__(self, error: MlflowException) -> None:
        super().__init__(error.message)
        self.error = error


def _claim(
    conn: sqlite3.Connection, key: str, run_id: str, now_ms: int, run_keys: dict[str, int]
) -> int | None:
    """Record the idempotency ``key`` and return the run's key, checked active; None if ``key`` was
    applied before. Raises MlflowException for a run that is unknown or not active.

    ``run_keys`` remembers the keys of runs written before (an id's key never changes); for those, the
    key's INSERT checks the run too, one statement instead of two a cycle (each a GIL hand-over that a
    training thread holding the GIL pays for). Anything else takes the two: the first write of a run, a
    replayed key, a run deleted or purged since."""
    run_key = run_keys.get(run_id)
    if run_key is not None:
        if conn.execute(_APPLIED_IF_ACTIVE, (key, now_ms, run_key, run_id)).rowcount:
            return run_key
        del run_keys[run_id]
    if conn.execute(_APPLIED, (key, now_ms)).rowcount == 0:  # applied before (the run is not looked at)
        return None
    run_key = active_run_key(conn, run_id)
    if len(run_keys) >= _RUN_KEYS_KEPT:
        run_keys.clear()
    run_keys[run_id] = run_key
    return run_key


def write_one(
    conn: sqlite3.Connection, w: BatchWrite, now_ms: int, run_keys: dict[str, int] | None = None
) -> None:
    """One write as the whole transaction (the pipeline's usual cycle: one run's batch), skipped if its
    idempotency key is in ``applied_batches``; its own error raises :class:`Refused`. ``run_keys`` is the
    caller's memory of run keys (see :func:`_claim`), kept per database.

    Two statements (SAVEPOINT, RELEASE) fewer than :func:`write_batches`: each statement is a GIL
    hand-over in the store's thread, which a training loop holding the GIL pays for."""
    try:
        run_key = None
        if w.key is not None:
            run_key = _claim(conn, w.key, w.run_id, now_ms, {} if run_keys is None else run_keys)
            if run_key is None:  # applied before
                return
        write_batch(conn, w.run_id, w.metrics, w.params, w.tags, run_key)
    except MlflowException as exc:
        raise Refused(exc) from None


def write_batches(
    conn: sqlite3.Connection,
    writes: Sequence[BatchWrite],
    now_ms: int,
    run_keys: dict[str, int] | None = None,
) -> list[MlflowException | None]:
    """Each write in its own savepoint of the caller's transaction: a failing write is rolled back alone.
    A write whose idempotency key is in ``applied_batches`` is skipped (reported as success)."""
    outcomes: list[MlflowException | None] = []
    for w in writes:
        conn.execute("SAVEPOINT w")
        try:
            write_one(conn, w, now_ms, run_keys)
        except Refused as refused:
            conn.execute("ROLLBACK TO w")
            conn.execute("RELEASE w")
            outcomes.append(refused.error)
        else:
            conn.execute("RELEASE w")
            outcomes.append(None)
    return outcomes


def _write_params(conn: sqlite3.Connection, run_id: str, run_key: int, params: Sequence[Param]) -> None:
    seen: dict[str, str] = {}
    for p in params:
        if seen.setdefault(p.key, p.value) != p.value:
            raise MlflowException(
                f"Duplicate parameter keys have been submitted: [{p.key!r}]. Please ensure the request "
                "contains only one param value per param key.",
                error_code=INVALID_PARAMETER_VALUE,
            )
    marks = ",".join("?" * len(seen))
    existing = dict(
        conn.execute(
            f"SELECT key, value FROM params WHERE run_key = ? AND key IN ({marks})",
            (run_key, *seen),
        ).fetchall()
    )
    changed = [
        {"key": k, "old_value": existing[k], "new_value": v}
        for k, v in seen.items()
        if k in existing and existing[k] != v
    ]
    if len(changed) == 1 and len(seen) == 1:
        c = changed[0]
        raise MlflowException(
            f"Changing param values is not allowed. Param with key='{c['key']}' was already logged "
            f"with value='{c['old_value']}' for run ID='{run_id}'. Attempted logging new value "
            f"'{c['new_value']}'.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if changed:
        raise MlflowException(
            f"Changing param values is not allowed. Params were already logged='{changed}' "
            f"for run ID='{run_id}'.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    new = [(run_key, k, v) for k, v in seen.items() if k not in existing]
    if new:
        conn.executemany("INSERT INTO params (run_key, key, value) VALUES (?, ?, ?)", new)


def _name_taken(name: str) -> MlflowException:
    return MlflowException(f"Experiment(name={name}) already exists.", error_code=RESOURCE_ALREADY_EXISTS)


def delete_tag(conn: sqlite3.Connection, run_id: str, key: str) -> None:
    run_key = active_run_key(conn, run_id)
    cur = conn.execute("DELETE FROM tags WHERE run_key = ? AND key = ?", (run_key, key))
    if cur.rowcount == 0:
        raise MlflowException(
            f"No tag with name: {key} in run with id {run_id}", error_code=RESOURCE_DOES_NOT_EXIST
        )


def insert_experiment(
    conn: sqlite3.Connection,
    name: str,
    artifact_root: str,
    artifact_location: str | None,
    tags: Sequence[tuple[str, str]],
    now: int,
) -> str:
    try:
        cur = conn.execute(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
            "last_update_time) VALUES (?, '', 'active', ?, ?)",
            (name, now, now),
        )
    except sqlite3.IntegrityError:
        raise _name_taken(name) from None
    experiment_id = int(cur.lastrowid or 0)
    location = artifact_location or f"{artifact_root.rstrip('/')}/{experiment_id}"
    conn.execute(
        "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (location, experiment_id)
    )
    if tags:
        conn.executemany(
            "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT DO UPDATE SET value = excluded.value",
            [(experiment_id, k, v) for k, v in tags],
        )
    return str(experiment_id)


def insert_run(
    conn: sqlite3.Connection,
    run_id: str,
    experiment_id: str,
    user_id: str,
    start_time: int,
    run_name: str,
    tags: Sequence[RunTag],
) -> str:
    """Insert a RUNNING run; returns its artifact URI. The experiment must exist and be active."""
    row = conn.execute(
        "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = ?",
        (experiment_key(experiment_id),),
    ).fetchone()
    if row is None:
        raise MlflowException(
            f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
        )
    if row[1] != LifecycleStage.ACTIVE:
        raise MlflowException(
            f"Could not create run under non-active experiment with ID {experiment_id}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    artifact_uri = f"{str(row[0]).rstrip('/')}/{run_id}/artifacts"
    cur = conn.execute(
        "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, "
        "artifact_uri) VALUES (?, ?, ?, ?, 'RUNNING', ?, 'active', ?)",
        (run_id, int(experiment_id), run_name, user_id, start_time, artifact_uri),
    )
    run_key = cur.lastrowid
    all_tags = {t.key: t.value for t in tags}
    all_tags[RUN_NAME_TAG] = run_name
    conn.executemany(_UPSERT_TAG, [(run_key, k, v) for k, v in all_tags.items()])
    return artifact_uri


def update_run(
    conn: sqlite3.Connection,
    run_id: str,
    status: str | None,
    end_time: int | None,
    run_name: str | None,
) -> None:
    run_key = active_run_key(conn, run_id)
    if status is not None:
        conn.execute("UPDATE runs SET status = ? WHERE run_key = ?", (status, run_key))
    if end_time is not None:
        conn.execute("UPDATE runs SET end_time = ? WHERE run_key = ?", (end_time, run_key))
    if run_name is not None:
        conn.execute("UPDATE runs SET name = ? WHERE run_key = ?", (run_name, run_key))
        conn.execute(_UPSERT_TAG, (run_key, RUN_NAME_TAG, run_name))


# -- lifecycle and experiment metadata (MLflow's semantics: deleting an experiment deletes its runs,
# restoring it restores them)


def _experiment_row(
    conn: sqlite3.Connection, experiment_id: str, stages: tuple[str, ...]
) -> tuple[object, ...]:
    row = conn.execute(
        "SELECT experiment_id, lifecycle_stage FROM experiments WHERE experiment_id = ?",
        (experiment_key(experiment_id),),
    ).fetchone()
    if row is None or row[1] not in stages:
        raise MlflowException(
            f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
        )
    return tuple(row)


def set_experiment_lifecycle(conn: sqlite3.Connection, experiment_id: str, stage: str, now: int) -> None:
    """Delete (stage 'deleted') or restore ('active') an experiment together with its runs."""
    wanted = LifecycleStage.ACTIVE if stage == LifecycleStage.DELETED else LifecycleStage.DELETED
    key = _experiment_row(conn, experiment_id, (wanted,))[0]
    conn.execute(
        "UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?",
        (stage, now, key),
    )
    conn.execute(
        "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?",
        (stage, now if stage == LifecycleStage.DELETED else None, key),
    )


def rename_experiment(conn: sqlite3.Connection, experiment_id: str, new_name: str, now: int) -> None:
    key, stage = _experiment_row(conn, experiment_id, (LifecycleStage.ACTIVE, LifecycleStage.DELETED))
    if stage != LifecycleStage.ACTIVE:
        raise MlflowException("Cannot rename a non-active experiment.", error_code="INVALID_STATE")
    try:
        conn.execute(
            "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
            (new_name, now, key),
        )
    except sqlite3.IntegrityError:
        raise _name_taken(new_name) from None


def _active_experiment_key(conn: sqlite3.Connection, experiment_id: str) -> object:
    key, stage = _experiment_row(conn, experiment_id, (LifecycleStage.ACTIVE, LifecycleStage.DELETED))
    if stage != LifecycleStage.ACTIVE:
        raise MlflowException(
            f"The experiment {experiment_id} must be in the 'active' state. Current state is {stage}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return key


def set_experiment_tag(conn: sqlite3.Connection, experiment_id: str, key: str, value: str) -> None:
    exp_key = _active_experiment_key(conn, experiment_id)
    conn.execute(
        "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
        (exp_key, key, value),
    )


def delete_experiment_tag(conn: sqlite3.Connection, experiment_id: str, key: str) -> None:
    exp_key = _active_experiment_key(conn, experiment_id)
    cur = conn.execute("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?", (exp_key, key))
    if cur.rowcount == 0:
        raise MlflowException(
            f"No tag with name: {key} in experiment with id {experiment_id}",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )


def set_run_lifecycle(conn: sqlite3.Connection, run_id: str, stage: str, now: int) -> None:
    """Delete (soft: lifecycle 'deleted', deleted_time set) or restore a run."""
    cur = conn.execute(
        "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_id = ?",
        (stage, now if stage == LifecycleStage.DELETED else None, run_id),
    )
    if cur.rowcount == 0:
        raise run_not_found(run_id)
