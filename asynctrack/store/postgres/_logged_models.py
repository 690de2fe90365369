"""MLflow 3's logged models in the PostgreSQL store: the embedded store's tables and rules
(``store/sqlite/_logged_models.py``) in PostgreSQL's dialect; the search is the shared compiler
(``store/search/_logged_models.py``) with ``$n`` placeholders and ``LIKE ... COLLATE "C"``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from asynctrack._int64 import INT64_MAX, INT64_MIN
from asynctrack._names import generate_run_name
from asynctrack.entities import LoggedModel, LoggedModelStatus, Metric
from asynctrack.exceptions import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    MlflowException,
)
from asynctrack.store.search._logged_models import compile_search, encode_page_token
from asynctrack.store.sqlite._logged_models import (
    artifact_location,
    check_model_name,
    new_model_id,
    not_found,
    now_ms,
    prepare_search,
)

__all__ = [
    "LOGGED_MODEL_DDL",
    "create",
    "delete",
    "delete_tag",
    "finalize",
    "get",
    "link_metrics",
    "log_params",
    "search",
    "set_tags",
]

# Created with IF NOT EXISTS whenever the schema is checked: added after schema version 1, never changed.
LOGGED_MODEL_DDL = """
CREATE TABLE IF NOT EXISTS logged_models (
    model_id                  text COLLATE "C" PRIMARY KEY,
    experiment_id             bigint NOT NULL,
    name                      text COLLATE "C" NOT NULL,
    artifact_location         text COLLATE "C" NOT NULL,
    creation_timestamp_ms     bigint NOT NULL,
    last_updated_timestamp_ms bigint NOT NULL,
    status                    integer NOT NULL,
    lifecycle_stage           text COLLATE "C" NOT NULL DEFAULT 'active',
    model_type                text COLLATE "C",
    source_run_id             text COLLATE "C",
    status_message            text COLLATE "C"
);
CREATE INDEX IF NOT EXISTS logged_models_by_experiment
    ON logged_models (experiment_id, creation_timestamp_ms);
CREATE TABLE IF NOT EXISTS logged_model_tags (
    model_id  text COLLATE "C" NOT NULL,
    tag_key   text COLLATE "C" NOT NULL,
    tag_value text COLLATE "C" NOT NULL,
    PRIMARY KEY (model_id, tag_key)
);
CREATE TABLE IF NOT EXISTS logged_model_params (
    model_id    text COLLATE "C" NOT NULL,
    param_key   text COLLATE "C" NOT NULL,
    param_value text COLLATE "C" NOT NULL,
    PRIMARY KEY (model_id, param_key)
);
CREATE TABLE IF NOT EXISTS logged_model_metrics (
    model_id            text COLLATE "C" NOT NULL,
    metric_name         text COLLATE "C" NOT NULL,
    metric_timestamp_ms bigint NOT NULL,
    metric_step         bigint NOT NULL,
    metric_value        double precision,
    experiment_id       bigint NOT NULL,
    run_id              text COLLATE "C" NOT NULL,
    dataset_name        text COLLATE "C",
    dataset_digest      text COLLATE "C",
    PRIMARY KEY (model_id, metric_name, metric_timestamp_ms, metric_step, run_id)
);
"""

_COLUMNS = (
    "model_id, experiment_id, name, artifact_location, creation_timestamp_ms, last_updated_timestamp_ms, "
    "status, model_type, source_run_id, status_message"
)


def _experiment_key(experiment_id: str) -> int:
    try:
        key = int(experiment_id)
    except (TypeError, ValueError):
        key = -1
    if not INT64_MIN <= key <= INT64_MAX or key < 0:
        raise MlflowException(
            f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
        )
    return key


async def create(
    conn: asyncpg.Connection,
    experiment_id: str,
    name: str | None,
    source_run_id: str | None,
    tags: Sequence[tuple[str, str]],
    params: Sequence[tuple[str, str]],
    model_type: str | None,
) -> LoggedModel:
    check_model_name(name)
    key = _experiment_key(experiment_id)
    row = await conn.fetchrow(
        "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = $1", key
    )
    if row is None:
        raise MlflowException(
            f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
        )
    if row[1] != "active":
        raise MlflowException(
            f"The experiment {experiment_id} must be in the 'active' state. Current state is {row[1]}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    model_id = new_model_id()
    now = now_ms()
    await conn.execute(
        f"INSERT INTO logged_models ({_COLUMNS}, lifecycle_stage) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, 'active')",
        model_id,
        key,
        name or generate_run_name(),
        artifact_location(str(row[0]), model_id),
        now,
        now,
        LoggedModelStatus.PENDING.to_int(),
        model_type,
        source_run_id,
    )
    await _insert_params(conn, model_id, params)
    await _upsert_tags(conn, model_id, tags)
    return await get(conn, model_id)


async def _insert_params(conn: asyncpg.Connection, model_id: str, params: Sequence[tuple[str, str]]) -> None:
    for k, v in params:
        inserted = await conn.fetchval(
            "INSERT INTO logged_model_params (model_id, param_key, param_value) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            model_id,
            k,
            v,
        )
        if inserted is None:
            raise MlflowException(
                f"The param {k!r} of logged model {model_id} is set already (a logged model's params are "
                "written once)",
                error_code=BAD_REQUEST,
            )


async def _upsert_tags(conn: asyncpg.Connection, model_id: str, tags: Sequence[tuple[str, str]]) -> None:
    if tags:
        await conn.executemany(
            "INSERT INTO logged_model_tags (model_id, tag_key, tag_value) VALUES ($1, $2, $3) "
            "ON CONFLICT (model_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
            [(model_id, k, v) for k, v in tags],
        )


async def _live(conn: asyncpg.Connection, model_id: str) -> None:
    found = await conn.fetchval(
        "SELECT 1 FROM logged_models WHERE model_id = $1 AND lifecycle_stage <> 'deleted' FOR UPDATE",
        model_id,
    )
    if found is None:
        raise not_found(model_id)


async def delete(conn: asyncpg.Connection, model_id: str) -> None:
    await _live(conn, model_id)
    await conn.execute(
        "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp_ms = $1 "
        "WHERE model_id = $2",
        now_ms(),
        model_id,
    )


async def finalize(conn: asyncpg.Connection, model_id: str, status: LoggedModelStatus) -> LoggedModel:
    await _live(conn, model_id)
    await conn.execute(
        "UPDATE logged_models SET status = $1, last_updated_timestamp_ms = $2 WHERE model_id = $3",
        status.to_int(),
        now_ms(),
        model_id,
    )
    return await get(conn, model_id)


async def set_tags(conn: asyncpg.Connection, model_id: str, tags: Sequence[tuple[str, str]]) -> None:
    await _live(conn, model_id)
    await _upsert_tags(conn, model_id, tags)


async def delete_tag(conn: asyncpg.Connection, model_id: str, key: str) -> None:
    await _live(conn, model_id)
    gone = await conn.fetchval(
        "DELETE FROM logged_model_tags WHERE model_id = $1 AND tag_key = $2 RETURNING 1", model_id, key
    )
    if gone is None:
        raise MlflowException(
            f"No tag with key {key!r} found for model with ID {model_id!r}.",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )


async def log_params(conn: asyncpg.Connection, model_id: str, params: Sequence[tuple[str, str]]) -> None:
    await _live(conn, model_id)
    await _insert_params(conn, model_id, params)


async def link_metrics(conn: asyncpg.Connection, run_id: str, metrics: Sequence[Metric]) -> None:
    experiment_id = await conn.fetchval("SELECT experiment_id FROM runs WHERE run_id = $1", run_id)
    if experiment_id is None:
        raise MlflowException(f"Run with id={run_id} not found", error_code=RESOURCE_DOES_NOT_EXIST)
    rows = []
    for m in metrics:
        if m.model_id is None:
            continue
        if await conn.fetchval("SELECT 1 FROM logged_models WHERE model_id = $1", m.model_id) is None:
            raise not_found(m.model_id)
        value = None if math.isnan(m.value) else m.value
        rows.append(
            (
                m.model_id,
                m.key,
                m.timestamp,
                m.step,
                value,
                experiment_id,
                run_id,
                m.dataset_name,
                m.dataset_digest,
            )
        )
    if rows:
        await conn.executemany(
            "INSERT INTO logged_model_metrics (model_id, metric_name, metric_timestamp_ms, metric_step, "
            "metric_value, experiment_id, run_id, dataset_name, dataset_digest) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            rows,
        )


async def _entity(conn: asyncpg.Connection, row: Sequence[Any]) -> LoggedModel:
    model_id = str(row[0])
    tags = {
        r[0]: r[1]
        for r in await conn.fetch(
            "SELECT tag_key, tag_value FROM logged_model_tags WHERE model_id = $1 ORDER BY tag_key", model_id
        )
    }
    params = {
        r[0]: r[1]
        for r in await conn.fetch(
            "SELECT param_key, param_value FROM logged_model_params WHERE model_id = $1 ORDER BY param_key",
            model_id,
        )
    }
    metrics = [
        Metric(
            key=r[0],
            value=math.nan if r[1] is None else float(r[1]),
            timestamp=int(r[2]),
            step=int(r[3]),
            run_id=r[4],
            dataset_name=r[5],
            dataset_digest=r[6],
            model_id=model_id,
        )
        for r in await conn.fetch(
            "SELECT metric_name, metric_value, metric_timestamp_ms, metric_step, run_id, dataset_name, "
            "dataset_digest FROM logged_model_metrics WHERE model_id = $1 "
            "ORDER BY metric_name, metric_timestamp_ms, metric_step, run_id",
            model_id,
        )
    ]
    return LoggedModel(
        model_id=model_id,
        experiment_id=str(row[1]),
        name=row[2],
        artifact_location=row[3],
        creation_timestamp=int(row[4]),
        last_updated_timestamp=int(row[5]),
        status=LoggedModelStatus.from_int(int(row[6])),
        model_type=row[7],
        source_run_id=row[8],
        status_message=row[9],
        tags=tags,
        params=params,
        metrics=metrics or None,
    )


async def get(conn: asyncpg.Connection, model_id: str, allow_deleted: bool = False) -> LoggedModel:
    sql = f"SELECT {_COLUMNS} FROM logged_models WHERE model_id = $1"
    if not allow_deleted:
        sql += " AND lifecycle_stage <> 'deleted'"
    row = await conn.fetchrow(sql, model_id)
    if row is None:
        raise not_found(model_id)
    return await _entity(conn, row)


class _PgDialect:
    def __init__(self) -> None:
        self.params: list[object] = []

    def bind(self, value: object) -> str:
        self.params.append(value)
        cast = "::bigint" if isinstance(value, int) else "::float8" if isinstance(value, float) else "::text"
        return f"${len(self.params)}{cast}"

    def like(self, column: str, pattern: str) -> str:
        return f"{column} LIKE {self.bind(pattern)} COLLATE \"C\" ESCAPE ''"

    def ilike(self, column: str, pattern: str) -> str:
        return f"lower({column}) LIKE lower({self.bind(pattern)} COLLATE \"C\") ESCAPE ''"


async def search(
    conn: asyncpg.Connection,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    datasets: Sequence[Mapping[str, Any]] | None,
    max_results: int | None,
    order_by: Sequence[Mapping[str, Any]] | None,
    page_token: str | None,
) -> tuple[list[LoggedModel], str | None]:
    keys, comparisons, order, limit, offset = prepare_search(
        experiment_ids, filter_string, datasets, max_results, order_by, page_token
    )
    keys = [k for k in keys if INT64_MIN <= k <= INT64_MAX]
    d = _PgDialect()
    sql = compile_search(d, keys, comparisons, datasets, order, limit + 1, offset)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        ids = [r[0] for r in await conn.fetch(sql, *d.params)]
        seen: set[str] = set()
        models = []
        for model_id in ids[:limit]:
            if model_id not in seen:
                seen.add(model_id)
                models.append(await get(conn, model_id, allow_deleted=True))
    token = (
        encode_page_token(experiment_ids, filter_string, order or None, offset + limit)
        if len(ids) > limit
        else None
    )
    return models, token
