"""Write transactions of the PostgreSQL store. Each function runs on one pooled connection inside a
transaction the caller opened, and raises MlflowException to roll it back.

Bulk rows go in one statement each (``INSERT ... SELECT FROM unnest($arrays)``): a batch of any size costs
the same few round trips. Rows that several writers may touch at once (latest metrics, tail counts, tags)
are upserted in key order, so two transactions lock them in the same order and cannot deadlock each other;
a deadlock across runs of a group commit is still possible and is retried (``_connection.map_error``).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import numpy as np

from asynctrack._system_tags import MLFLOW_RUN_NAME as RUN_NAME_TAG
from asynctrack.entities import LifecycleStage, Param, RunTag
from asynctrack.exceptions import (
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    MlflowException,
)
from asynctrack.store._experiment_ids import experiment_key
from asynctrack.store._protocol import BatchWrite, MetricSeries
from asynctrack.store.sqlite._columns import encode_ints
from asynctrack.store.sqlite._summaries import CHUNK_CAP, summary_row
from asynctrack.store.sqlite._writes import _latest_point

__all__ = [
    "RUN_NAME_TAG",
    "KeyIds",
    "delete_experiment_tag",
    "delete_tag",
    "insert_experiment",
    "insert_run",
    "rename_experiment",
    "run_not_found",
    "set_experiment_lifecycle",
    "set_experiment_tag",
    "set_run_lifecycle",
    "update_run",
    "write_batch",
    "write_batches",
]


def run_not_found(run_id: str) -> MlflowException:
    return MlflowException(f"Run with id={run_id} not found", error_code=RESOURCE_DOES_NOT_EXIST)


class KeyIds:
    """Metric key -> integer id, cached for the process. Ids are assigned by the database (shared by every
    process) and never change, so a cached id stays right; new keys are inserted in their own autocommit
    statement before the write's transaction, so an id is cached only once it is committed."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def known(self, key: str) -> int | None:
        return self._ids.get(key)

    async def ids(self, conn: asyncpg.Connection, keys: Sequence[str]) -> dict[str, int]:
        missing = sorted({k for k in keys if k not in self._ids})
        if missing:
            await conn.execute(
                "INSERT INTO metric_keys (key) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
                missing,
            )
            for row in await conn.fetch(
                "SELECT key, key_id FROM metric_keys WHERE key = ANY($1::text[])", missing
            ):
                self._ids[row[0]] = row[1]
        return {k: self._ids[k] for k in keys}

    async def lookup(self, conn: asyncpg.Connection, key: str) -> int | None:
        """The key's id for reading; None if no run ever logged it."""
        found = self._ids.get(key)
        if found is None:
            found = await conn.fetchval("SELECT key_id FROM metric_keys WHERE key = $1", key)
            if found is not None:
                self._ids[key] = found
        return found


async def active_run_key(conn: asyncpg.Connection, run_id: str) -> int:
    """The run's integer key; the run must exist and not be deleted (MLflow's rule for logging)."""
    row = await conn.fetchrow("SELECT run_key, lifecycle_stage FROM runs WHERE run_id = $1", run_id)
    return _active(run_id, None, None) if row is None else _active(run_id, row[0], row[1])


def _active(run_id: str, run_key: int | None, stage: str | None) -> int:
    if run_key is None:
        raise run_not_found(run_id)
    if stage != LifecycleStage.ACTIVE:
        raise MlflowException(
            f"The run {run_id} must be in the 'active' state. Current state is {stage}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return int(run_key)


_UPSERT_TAGS = (
    "INSERT INTO tags (run_key, key, value) SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v) "
    "ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value"
)
_INSERT_CHUNKS = (
    "INSERT INTO metric_chunks (run_key, key_id, n, min_step, max_step, min_ts, max_ts, flags, summary, "
    "groups, blocks, steps, vals, timestamps) "
    "SELECT $1, * FROM unnest($2::int[], $3::int[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], "
    "$8::int2[], $9::bytea[], $10::bytea[], $11::bytea[], $12::bytea[], $13::bytea[], $14::bytea[])"
)
# MLflow's "latest" metric: largest step, then timestamp, then value (NaN counts as 0); the comparison
# runs under the row's lock, so of two concurrent writers the larger point stays.
_UPSERT_LATEST = (
    "INSERT INTO latest_metrics (run_key, key_id, value, is_nan, timestamp, step) "
    "SELECT $1, * FROM unnest($2::int[], $3::float8[], $4::bool[], $5::int8[], $6::int8[]) "
    "ON CONFLICT (run_key, key_id) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, "
    "timestamp = excluded.timestamp, step = excluded.step "
    "WHERE (excluded.step, excluded.timestamp, excluded.value) > "
    "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
)
_COUNT_TAILS = (
    "INSERT INTO metric_tails (run_key, key_id, points) SELECT $1, * FROM unnest($2::int[], $3::int8[]) "
    "ON CONFLICT (run_key, key_id) DO UPDATE SET points = metric_tails.points + excluded.points"
)


def _chunk_columns(key_id: int, s: MetricSeries) -> list[tuple[object, ...]]:
    """The ``metric_chunks`` rows of one series (cut at CHUNK_CAP points), summaries included."""
    rows = []
    for lo in range(0, len(s), CHUNK_CAP):
        steps = np.ascontiguousarray(s.steps[lo : lo + CHUNK_CAP], np.int64)
        values = np.ascontiguousarray(s.values[lo : lo + CHUNK_CAP], np.float64)
        stamps = np.ascontiguousarray(s.timestamps[lo : lo + CHUNK_CAP], np.int64)
        st_blob, ts_blob = encode_ints(steps), encode_ints(stamps)
        summary = summary_row(0, 0, "", steps, values, stamps, (st_blob, ts_blob))
        # summary_row: (chunk_id, run_key, key, n, min_step, max_step, min_ts, max_ts, flags, whole, groups,
        # blocks)
        rows.append((key_id, *summary[3:], st_blob, values.astype("<f8", copy=False).tobytes(), ts_blob))
    return rows


def _later(a: tuple[float, bool, int, int], b: tuple[float, bool, int, int]) -> bool:
    """Whether latest candidate ``b`` (value, is_nan, timestamp, step) wins over ``a`` (ties: ``b``)."""
    return (b[3], b[2], b[0]) >= (a[3], a[2], a[0])


async def write_batch(
    conn: asyncpg.Connection,
    key_ids: dict[str, int],
    run_id: str,
    metrics: Sequence[MetricSeries],
    params: Sequence[Param],
    tags: Sequence[RunTag],
    run_key: int | None = None,
) -> None:
    """One run's metrics, params and tags (``key_ids``: every metric key's id, resolved beforehand;
    ``run_key``: the run's key when the caller has checked that the run is active)."""
    if run_key is None:
        run_key = await active_run_key(conn, run_id)
    if params:
        await _write_params(conn, run_id, run_key, params)
    if tags:
        latest_tags = {t.key: t.value for t in tags}
        ordered = sorted(latest_tags)
        await conn.execute(_UPSERT_TAGS, run_key, ordered, [latest_tags[k] for k in ordered])
        if RUN_NAME_TAG in latest_tags:
            await conn.execute(
                "UPDATE runs SET name = $1 WHERE run_key = $2", latest_tags[RUN_NAME_TAG], run_key
            )
    chunks: list[tuple[object, ...]] = []
    latest: dict[int, tuple[float, bool, int, int]] = {}
    points: dict[int, int] = {}
    for s in metrics:
        if len(s) == 0:
            continue
        key_id = key_ids[s.key]
        chunks.extend(_chunk_columns(key_id, s))
        value, is_nan, stamp, step = _latest_point(s)
        candidate = (value, bool(is_nan), stamp, step)
        if key_id not in latest or _later(latest[key_id], candidate):
            latest[key_id] = candidate
        points[key_id] = points.get(key_id, 0) + len(s)
    if not chunks:
        return
    columns = list(zip(*chunks, strict=True))
    await conn.execute(_INSERT_CHUNKS, run_key, *(list(c) for c in columns))
    ids = sorted(latest)
    await conn.execute(
        _UPSERT_LATEST,
        run_key,
        ids,
        [latest[i][0] for i in ids],
        [latest[i][1] for i in ids],
        [latest[i][2] for i in ids],
        [latest[i][3] for i in ids],
    )
    await conn.execute(_COUNT_TAILS, run_key, ids, [points[i] for i in ids])


async def write_batches(
    conn: asyncpg.Connection, key_ids: dict[str, int], writes: Sequence[BatchWrite], now_ms: int
) -> list[MlflowException | None]:
    """Each write as if in its own savepoint of the caller's transaction: a failing write is rolled back
    alone. A write whose idempotency key is in ``applied_batches`` is skipped (reported as success).

    All writes go first under one savepoint (two round trips per group instead of two per write: a
    chunk of the pipeline is about ten writes); only if one of them fails is that savepoint rolled back and
    the writes made again, each in a savepoint of its own, so that the failing one alone is refused."""
    together = conn.transaction()  # a savepoint inside the caller's transaction
    await together.start()
    try:
        for w in writes:
            await _write_once(conn, key_ids, w, now_ms)
    except MlflowException:
        await together.rollback()
    else:
        await together.commit()
        return [None] * len(writes)
    outcomes: list[MlflowException | None] = []
    for w in writes:
        try:
            async with conn.transaction():
                await _write_once(conn, key_ids, w, now_ms)
        except MlflowException as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes


# The write's idempotency key recorded and its run looked up in one round trip. The key's INSERT runs
# whatever the lookup finds; a run that is missing or deleted fails the write, whose savepoint then rolls
# the key back with it.
_KEY_AND_RUN = (
    "WITH fresh AS (INSERT INTO applied_batches (key, applied_ms) VALUES ($2, $3) "
    "ON CONFLICT DO NOTHING RETURNING 1) "
    "SELECT (SELECT count(*) FROM fresh), r.run_key, r.lifecycle_stage "
    "FROM (SELECT 1) AS one LEFT JOIN runs AS r ON r.run_id = $1"
)


async def _write_once(conn: asyncpg.Connection, key_ids: dict[str, int], w: BatchWrite, now_ms: int) -> None:
    """``w`` unless its idempotency key was applied before (by any process)."""
    if w.key is None:
        await write_batch(conn, key_ids, w.run_id, w.metrics, w.params, w.tags)
        return
    fresh, run_key, stage = await conn.fetchrow(_KEY_AND_RUN, w.run_id, w.key, now_ms)
    if not fresh:  # applied before
        return
    key = _active(w.run_id, run_key, stage)
    await write_batch(conn, key_ids, w.run_id, w.metrics, w.params, w.tags, key)


async def _write_params(conn: asyncpg.Connection, run_id: str, run_key: int, params: Sequence[Param]) -> None:
    seen: dict[str, str] = {}
    for p in params:
        if seen.setdefault(p.key, p.value) != p.value:
            raise MlflowException(
                f"Duplicate parameter keys have been submitted: [{p.key!r}]. Please ensure the request "
                "contains only one param value per param key.",
                error_code=INVALID_PARAMETER_VALUE,
            )
    keys = sorted(seen)
    inserted = {
        row[0]
        for row in await conn.fetch(
            "INSERT INTO params (run_key, key, value) SELECT $1, k, v FROM unnest($2::text[], $3::text[]) "
            "AS t(k, v) ON CONFLICT DO NOTHING RETURNING key",
            run_key,
            keys,
            [seen[k] for k in keys],
        )
    }
    others = [k for k in keys if k not in inserted]
    if not others:
        return
    existing = {
        row[0]: row[1]
        for row in await conn.fetch(
            "SELECT key, value FROM params WHERE run_key = $1 AND key = ANY($2::text[])", run_key, others
        )
    }
    changed = [
        {"key": k, "old_value": existing[k], "new_value": seen[k]}
        for k in params_order(params, others)
        if existing.get(k, seen[k]) != seen[k]
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


def params_order(params: Sequence[Param], keys: Sequence[str]) -> list[str]:
    """``keys`` in the order the request first named them (messages list changes as the caller sent them)."""
    wanted = set(keys)
    out: list[str] = []
    for p in params:
        if p.key in wanted and p.key not in out:
            out.append(p.key)
    return out


def _name_taken(name: str) -> MlflowException:
    return MlflowException(f"Experiment(name={name}) already exists.", error_code=RESOURCE_ALREADY_EXISTS)


async def delete_tag(conn: asyncpg.Connection, run_id: str, key: str) -> None:
    run_key = await active_run_key(conn, run_id)
    deleted = await conn.fetchval(
        "DELETE FROM tags WHERE run_key = $1 AND key = $2 RETURNING 1", run_key, key
    )
    if deleted is None:
        raise MlflowException(
            f"No tag with name: {key} in run with id {run_id}", error_code=RESOURCE_DOES_NOT_EXIST
        )


async def insert_experiment(
    conn: asyncpg.Connection,
    name: str,
    artifact_root: str,
    artifact_location: str | None,
    tags: Sequence[tuple[str, str]],
    now: int,
) -> str:
    experiment_id = await conn.fetchval(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) "
        "VALUES ($1, '', 'active', $2, $2) ON CONFLICT (name) DO NOTHING RETURNING experiment_id",
        name,
        now,
    )
    if experiment_id is None:
        raise _name_taken(name)
    location = artifact_location or f"{artifact_root.rstrip('/')}/{experiment_id}"
    await conn.execute(
        "UPDATE experiments SET artifact_location = $1 WHERE experiment_id = $2", location, experiment_id
    )
    if tags:
        latest = dict(tags)
        await conn.execute(
            "INSERT INTO experiment_tags (experiment_id, key, value) SELECT $1, k, v "
            "FROM unnest($2::text[], $3::text[]) AS t(k, v) "
            "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
            experiment_id,
            list(latest),
            list(latest.values()),
        )
    return str(experiment_id)


async def insert_run(
    conn: asyncpg.Connection,
    run_id: str,
    experiment_id: str,
    user_id: str,
    start_time: int,
    run_name: str,
    tags: Sequence[RunTag],
) -> None:
    """Insert a RUNNING run. The experiment must exist and be active."""
    row = await conn.fetchrow(
        "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = $1",
        experiment_key(experiment_id),
    )
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
    run_key = await conn.fetchval(
        "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, "
        "artifact_uri) VALUES ($1, $2, $3, $4, 'RUNNING', $5, 'active', $6) RETURNING run_key",
        run_id,
        experiment_key(experiment_id),
        run_name,
        user_id,
        start_time,
        artifact_uri,
    )
    all_tags = {t.key: t.value for t in tags}
    all_tags[RUN_NAME_TAG] = run_name
    ordered = sorted(all_tags)
    await conn.execute(_UPSERT_TAGS, run_key, ordered, [all_tags[k] for k in ordered])


async def update_run(
    conn: asyncpg.Connection, run_id: str, status: str | None, end_time: int | None, run_name: str | None
) -> None:
    run_key = await active_run_key(conn, run_id)
    await conn.execute(
        "UPDATE runs SET status = coalesce($2, status), end_time = coalesce($3, end_time), "
        "name = coalesce($4, name) WHERE run_key = $1",
        run_key,
        status,
        end_time,
        run_name,
    )
    if run_name is not None:
        await conn.execute(_UPSERT_TAGS, run_key, [RUN_NAME_TAG], [run_name])


async def _experiment_row(
    conn: asyncpg.Connection, experiment_id: str, stages: tuple[str, ...]
) -> tuple[int, str]:
    row = await conn.fetchrow(
        "SELECT experiment_id, lifecycle_stage FROM experiments WHERE experiment_id = $1",
        experiment_key(experiment_id),
    )
    if row is None or row[1] not in stages:
        raise MlflowException(
            f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
        )
    return int(row[0]), str(row[1])


async def set_experiment_lifecycle(
    conn: asyncpg.Connection, experiment_id: str, stage: str, now: int
) -> None:
    """Delete (stage 'deleted') or restore ('active') an experiment together with its runs."""
    wanted = LifecycleStage.ACTIVE if stage == LifecycleStage.DELETED else LifecycleStage.DELETED
    key, _ = await _experiment_row(conn, experiment_id, (wanted,))
    await conn.execute(
        "UPDATE experiments SET lifecycle_stage = $1, last_update_time = $2 WHERE experiment_id = $3",
        stage,
        now,
        key,
    )
    await conn.execute(
        "UPDATE runs SET lifecycle_stage = $1, deleted_time = $2 WHERE experiment_id = $3",
        stage,
        now if stage == LifecycleStage.DELETED else None,
        key,
    )


async def rename_experiment(conn: asyncpg.Connection, experiment_id: str, new_name: str, now: int) -> None:
    key, stage = await _experiment_row(conn, experiment_id, (LifecycleStage.ACTIVE, LifecycleStage.DELETED))
    if stage != LifecycleStage.ACTIVE:
        raise MlflowException("Cannot rename a non-active experiment.", error_code=INVALID_STATE)
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE experiments SET name = $1, last_update_time = $2 WHERE experiment_id = $3",
                new_name,
                now,
                key,
            )
    except asyncpg.UniqueViolationError:
        raise _name_taken(new_name) from None


async def _active_experiment_key(conn: asyncpg.Connection, experiment_id: str) -> int:
    key, stage = await _experiment_row(conn, experiment_id, (LifecycleStage.ACTIVE, LifecycleStage.DELETED))
    if stage != LifecycleStage.ACTIVE:
        raise MlflowException(
            f"The experiment {experiment_id} must be in the 'active' state. Current state is {stage}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return key


async def set_experiment_tag(conn: asyncpg.Connection, experiment_id: str, key: str, value: str) -> None:
    exp_key = await _active_experiment_key(conn, experiment_id)
    await conn.execute(
        "INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3) "
        "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
        exp_key,
        key,
        value,
    )


async def delete_experiment_tag(conn: asyncpg.Connection, experiment_id: str, key: str) -> None:
    exp_key = await _active_experiment_key(conn, experiment_id)
    deleted = await conn.fetchval(
        "DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2 RETURNING 1", exp_key, key
    )
    if deleted is None:
        raise MlflowException(
            f"No tag with name: {key} in experiment with id {experiment_id}",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )


async def set_run_lifecycle(conn: asyncpg.Connection, run_id: str, stage: str, now: int) -> None:
    """Delete (soft: lifecycle 'deleted', deleted_time set) or restore a run."""
    found = await conn.fetchval(
        "UPDATE runs SET lifecycle_stage = $1, deleted_time = $2 WHERE run_id = $3 RETURNING 1",
        stage,
        now if stage == LifecycleStage.DELETED else None,
        run_id,
    )
    if found is None:
        raise run_not_found(run_id)
