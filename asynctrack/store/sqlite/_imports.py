"""The embedded store's side of ``asynctrack db copy``: experiments and runs created with the ids, names,
times and artifact locations they have in the source store, and the verification counts.

Ids are kept where they are free: an experiment id already used by an experiment of another name gets a new
id, a run id already used in another experiment is an error (run ids are UUIDs: that is a different run).
What is already here under the same id and name (a resumed copy, or ``Default``) is reused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from asynctrack._int64 import INT64_MAX
from asynctrack.entities import Experiment, LifecycleStage, RunInfo
from asynctrack.exceptions import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.store._protocol import RunCounts
from asynctrack.store.sqlite._writes import RUN_NAME_TAG

__all__ = ["import_experiment", "import_run", "run_counts"]


def _upsert_experiment_tags(conn: sqlite3.Connection, experiment_id: int, tags: dict[str, str]) -> None:
    conn.executemany(
        "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
        [(experiment_id, k, v) for k, v in tags.items()],
    )


def import_experiment(conn: sqlite3.Connection, exp: Experiment, artifact_root: str, now: int) -> str:
    """The id here of an active experiment standing for ``exp`` (see module docstring)."""
    row = conn.execute(
        "SELECT experiment_id, lifecycle_stage FROM experiments WHERE name = ?", (exp.name,)
    ).fetchone()
    if row is not None:
        _upsert_experiment_tags(conn, int(row[0]), exp.tags)
        return str(row[0])
    wanted: int | None = int(exp.experiment_id) if exp.experiment_id.isdigit() else None
    if wanted is not None and wanted <= INT64_MAX:
        taken = conn.execute("SELECT 1 FROM experiments WHERE experiment_id = ?", (wanted,)).fetchone()
        if taken is not None:
            wanted = None
    else:
        wanted = None
    cur = conn.execute(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
        "last_update_time) VALUES (?, ?, '', 'active', ?, ?)",
        (wanted, exp.name, exp.creation_time or now, exp.last_update_time or now),
    )
    experiment_id = int(cur.lastrowid or 0)
    location = exp.artifact_location or f"{artifact_root.rstrip('/')}/{experiment_id}"
    conn.execute(
        "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (location, experiment_id)
    )
    _upsert_experiment_tags(conn, experiment_id, exp.tags)
    return str(experiment_id)


def import_run(conn: sqlite3.Connection, experiment_id: str, info: RunInfo) -> None:
    """Insert an active run with ``info``'s id, user, name, times, status and artifact URI in
    ``experiment_id``, unless that run is already here in that experiment (a resumed copy)."""
    row = conn.execute("SELECT experiment_id FROM runs WHERE run_id = ?", (info.run_id,)).fetchone()
    if row is not None:
        if str(row[0]) != str(experiment_id):
            raise MlflowException(
                f"Run {info.run_id} already exists in experiment {row[0]} of the target store, not in "
                f"experiment {experiment_id} where the copy puts it; copy into another store",
                error_code=RESOURCE_ALREADY_EXISTS,
            )
        return
    exp = conn.execute(
        "SELECT artifact_location FROM experiments WHERE experiment_id = ?", (int(experiment_id),)
    ).fetchone()
    if exp is None:
        raise MlflowException(
            f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
        )
    artifact_uri = info.artifact_uri or f"{str(exp[0]).rstrip('/')}/{info.run_id}/artifacts"
    cur = conn.execute(
        "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, end_time, "
        "lifecycle_stage, artifact_uri) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            info.run_id,
            int(experiment_id),
            info.run_name,
            info.user_id,
            info.status,
            info.start_time,
            info.end_time,
            LifecycleStage.ACTIVE,
            artifact_uri,
        ),
    )
    if info.run_name:
        conn.execute(
            "INSERT INTO tags (run_key, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value",
            (cur.lastrowid, RUN_NAME_TAG, info.run_name),
        )


def run_counts(conn: sqlite3.Connection, run_ids: Sequence[str]) -> dict[str, RunCounts]:
    """Params, tags and metric points of each run found, from the tables (points: the chunks' sizes)."""
    out: dict[str, RunCounts] = {}
    ids = list(run_ids)
    for lo in range(0, len(ids), 500):
        part = ids[lo : lo + 500]
        marks = ",".join("?" * len(part))
        for run_id, params, tags, points in conn.execute(
            "SELECT r.run_id, "
            "(SELECT count(*) FROM params p WHERE p.run_key = r.run_key), "
            "(SELECT count(*) FROM tags t WHERE t.run_key = r.run_key), "
            "(SELECT coalesce(sum(c.n), 0) FROM metric_chunks c WHERE c.run_key = r.run_key) "
            f"FROM runs r WHERE r.run_id IN ({marks})",
            part,
        ):
            out[str(run_id)] = RunCounts(int(params), int(tags), int(points))
    return out
