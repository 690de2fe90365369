"""The PostgreSQL store's side of ``asynctrack db copy`` (as ``store/sqlite/_imports.py``): experiments and
runs created with the ids, names, times and artifact locations they have in the source, and the counts of
the verification.

An experiment id given explicitly does not advance the identity sequence, so after such an insert the
sequence is moved past the largest id (experiments created later never collide with copied ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from asynctrack._int64 import INT64_MAX as _INT64_MAX
from asynctrack.entities import Experiment, LifecycleStage, RunInfo
from asynctrack.exceptions import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.store._protocol import RunCounts
from asynctrack.store.postgres._writes import RUN_NAME_TAG

__all__ = ["import_experiment", "import_run", "run_counts"]


async def _upsert_tags(conn: asyncpg.Connection, experiment_id: int, tags: dict[str, str]) -> None:
    if tags:
        await conn.execute(
            "INSERT INTO experiment_tags (experiment_id, key, value) SELECT $1, k, v "
            "FROM unnest($2::text[], $3::text[]) AS t(k, v) "
            "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
            experiment_id,
            list(tags),
            list(tags.values()),
        )


async def import_experiment(conn: asyncpg.Connection, exp: Experiment, artifact_root: str, now: int) -> str:
    """The id here of an active experiment standing for ``exp``: the one of that name, else a new one
    with ``exp``'s id if free."""
    found = await conn.fetchval("SELECT experiment_id FROM experiments WHERE name = $1", exp.name)
    if found is not None:
        await _upsert_tags(conn, int(found), exp.tags)
        return str(found)
    wanted: int | None = None
    if exp.experiment_id.isdigit() and int(exp.experiment_id) <= _INT64_MAX:
        taken = await conn.fetchval(
            "SELECT 1 FROM experiments WHERE experiment_id = $1", int(exp.experiment_id)
        )
        wanted = None if taken else int(exp.experiment_id)
    created, updated = exp.creation_time or now, exp.last_update_time or now
    if wanted is None:
        experiment_id = await conn.fetchval(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
            "last_update_time) VALUES ($1, '', 'active', $2, $3) RETURNING experiment_id",
            exp.name,
            created,
            updated,
        )
    else:
        experiment_id = await conn.fetchval(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
            "creation_time, last_update_time) VALUES ($1, $2, '', 'active', $3, $4) RETURNING experiment_id",
            wanted,
            exp.name,
            created,
            updated,
        )
        if wanted >= 1:
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), "
                "(SELECT max(experiment_id) FROM experiments))"
            )
    location = exp.artifact_location or f"{artifact_root.rstrip('/')}/{experiment_id}"
    await conn.execute(
        "UPDATE experiments SET artifact_location = $1 WHERE experiment_id = $2", location, experiment_id
    )
    await _upsert_tags(conn, int(experiment_id), exp.tags)
    return str(experiment_id)


async def import_run(conn: asyncpg.Connection, experiment_id: str, info: RunInfo) -> None:
    """Insert an active run with ``info``'s id, user, name, times, status and artifact URI, unless it is
    here already in that experiment (a resumed copy)."""
    there = await conn.fetchval("SELECT experiment_id FROM runs WHERE run_id = $1", info.run_id)
    if there is not None:
        if str(there) != str(experiment_id):
            raise MlflowException(
                f"Run {info.run_id} already exists in experiment {there} of the target store, not in "
                f"experiment {experiment_id} where the copy puts it; copy into another store",
                error_code=RESOURCE_ALREADY_EXISTS,
            )
        return
    location = await conn.fetchval(
        "SELECT artifact_location FROM experiments WHERE experiment_id = $1", int(experiment_id)
    )
    if location is None:
        raise MlflowException(
            f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
        )
    run_key = await conn.fetchval(
        "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, end_time, "
        "lifecycle_stage, artifact_uri) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING run_key",
        info.run_id,
        int(experiment_id),
        info.run_name,
        info.user_id,
        info.status,
        info.start_time,
        info.end_time,
        LifecycleStage.ACTIVE,
        info.artifact_uri or f"{str(location).rstrip('/')}/{info.run_id}/artifacts",
    )
    if info.run_name:
        await conn.execute(
            "INSERT INTO tags (run_key, key, value) VALUES ($1, $2, $3) "
            "ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value",
            run_key,
            RUN_NAME_TAG,
            info.run_name,
        )


async def run_counts(conn: asyncpg.Connection, run_ids: Sequence[str]) -> dict[str, RunCounts]:
    rows = await conn.fetch(
        "SELECT r.run_id, "
        "(SELECT count(*) FROM params p WHERE p.run_key = r.run_key), "
        "(SELECT count(*) FROM tags t WHERE t.run_key = r.run_key), "
        "(SELECT coalesce(sum(c.n), 0) FROM metric_chunks c WHERE c.run_key = r.run_key) "
        "FROM runs r WHERE r.run_id = ANY($1::text[])",
        list(run_ids),
    )
    return {str(r[0]): RunCounts(int(r[1]), int(r[2]), int(r[3])) for r in rows}
