"""MLflow 3's logged models in the embedded SQLite store: their tables, writes, reads and search.

Tables and columns mirror MLflow's (``logged_models``, ``logged_model_tags``, ``logged_model_params``,
``logged_model_metrics``), so the semantics carry over one to one: params and tags keyed by
(model, key), metric points keyed by (model, name, timestamp, step, run) — a point logged twice is kept
once. A deleted model keeps its rows with ``lifecycle_stage = 'deleted'``.
"""

from __future__ import annotations

import math
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from asynctrack._names import generate_run_name
from asynctrack.entities import LoggedModel, LoggedModelStatus, Metric
from asynctrack.exceptions import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    MlflowException,
)
from asynctrack.store._experiment_ids import experiment_key
from asynctrack.store.search._logged_models import (
    LOGGED_MODEL_MAX_RESULTS_DEFAULT,
    check_order_by,
    compile_search,
    decode_page_token,
    encode_page_token,
    parse_logged_model_filter,
)
from asynctrack.store.sqlite._search import snapshot

__all__ = [
    "LOGGED_MODEL_DDL",
    "artifact_location",
    "check_model_name",
    "create",
    "delete",
    "delete_tag",
    "finalize",
    "get",
    "log_metrics",
    "log_params",
    "new_model_id",
    "now_ms",
    "prepare_search",
    "not_found",
    "search",
    "set_tags",
]

LOGGED_MODEL_DDL = """
CREATE TABLE IF NOT EXISTS logged_models (
    model_id                  TEXT PRIMARY KEY,
    experiment_id             INTEGER NOT NULL,
    name                      TEXT NOT NULL,
    artifact_location         TEXT NOT NULL,
    creation_timestamp_ms     INTEGER NOT NULL,
    last_updated_timestamp_ms INTEGER NOT NULL,
    status                    INTEGER NOT NULL,
    lifecycle_stage           TEXT NOT NULL DEFAULT 'active',
    model_type                TEXT,
    source_run_id             TEXT,
    status_message            TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logged_models_by_experiment
    ON logged_models (experiment_id, creation_timestamp_ms);

CREATE TABLE IF NOT EXISTS logged_model_tags (
    model_id  TEXT NOT NULL,
    tag_key   TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (model_id, tag_key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS logged_model_params (
    model_id    TEXT NOT NULL,
    param_key   TEXT NOT NULL,
    param_value TEXT NOT NULL,
    PRIMARY KEY (model_id, param_key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS logged_model_metrics (
    model_id            TEXT NOT NULL,
    metric_name         TEXT NOT NULL,
    metric_timestamp_ms INTEGER NOT NULL,
    metric_step         INTEGER NOT NULL,
    metric_value        REAL,
    experiment_id       INTEGER NOT NULL,
    run_id              TEXT NOT NULL,
    dataset_name        TEXT,
    dataset_digest      TEXT,
    PRIMARY KEY (model_id, metric_name, metric_timestamp_ms, metric_step, run_id)
) WITHOUT ROWID;
"""

_BAD_NAME_CHARS = ("/", ":", ".", "%", '"', "'")
_COLUMNS = (
    "model_id, experiment_id, name, artifact_location, creation_timestamp_ms, last_updated_timestamp_ms, "
    "status, model_type, source_run_id, status_message"
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def artifact_location(experiment_location: str, model_id: str) -> str:
    """MLflow's ``<experiment artifact location>/models/<model_id>/artifacts`` (the run's rule, too)."""
    return f"{experiment_location.rstrip('/')}/models/{model_id}/artifacts"


def new_model_id() -> str:
    return "m-" + uuid.uuid4().hex


def check_model_name(name: str | None) -> None:
    """MLflow's ``_validate_logged_model_name``."""
    if name is None:
        return
    if not name or any(c in name for c in _BAD_NAME_CHARS):
        raise MlflowException(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string "
            f"and cannot contain the following characters: {_BAD_NAME_CHARS}",
            error_code=INVALID_PARAMETER_VALUE,
        )


def not_found(model_id: str) -> MlflowException:
    return MlflowException(
        f"Logged model with ID '{model_id}' not found.", error_code=RESOURCE_DOES_NOT_EXIST
    )


def _experiment_key(experiment_id: str) -> int:
    """The store's experiment-id parser, with the logged-model API's error: an id that is not an int64
    names no experiment."""
    try:
        return experiment_key(experiment_id)
    except MlflowException:
        raise MlflowException(
            f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
        ) from None


def _duplicate(what: str, model_id: str, key: str) -> MlflowException:
    return MlflowException(
        f"The {what} {key!r} of logged model {model_id} is set already (a logged model's {what}s are "
        "written once)",
        error_code=BAD_REQUEST,
    )


# -- writes


def create(
    conn: sqlite3.Connection,
    experiment_id: str,
    name: str | None,
    source_run_id: str | None,
    tags: Sequence[tuple[str, str]],
    params: Sequence[tuple[str, str]],
    model_type: str | None,
) -> LoggedModel:
    check_model_name(name)
    key = _experiment_key(experiment_id)
    row = conn.execute(
        "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = ?", (key,)
    ).fetchone()
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
    conn.execute(
        f"INSERT INTO logged_models ({_COLUMNS}, lifecycle_stage) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 'active')",
        (
            model_id,
            key,
            name or generate_run_name(),
            artifact_location(str(row[0]), model_id),
            now,
            now,
            LoggedModelStatus.PENDING.to_int(),
            model_type,
            source_run_id,
        ),
    )
    _insert_params(conn, model_id, params)
    _upsert_tags(conn, model_id, tags)
    return get(conn, model_id)


def _insert_params(conn: sqlite3.Connection, model_id: str, params: Sequence[tuple[str, str]]) -> None:
    for k, v in params:
        try:
            conn.execute(
                "INSERT INTO logged_model_params (model_id, param_key, param_value) VALUES (?, ?, ?)",
                (model_id, k, v),
            )
        except sqlite3.IntegrityError:
            raise _duplicate("param", model_id, k) from None


def _upsert_tags(conn: sqlite3.Connection, model_id: str, tags: Sequence[tuple[str, str]]) -> None:
    conn.executemany(
        "INSERT INTO logged_model_tags (model_id, tag_key, tag_value) VALUES (?, ?, ?) "
        "ON CONFLICT (model_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
        [(model_id, k, v) for k, v in tags],
    )


def _live(conn: sqlite3.Connection, model_id: str) -> int:
    """The model's experiment id, or RESOURCE_DOES_NOT_EXIST for a missing or deleted model."""
    row = conn.execute(
        "SELECT experiment_id FROM logged_models WHERE model_id = ? AND lifecycle_stage <> 'deleted'",
        (model_id,),
    ).fetchone()
    if row is None:
        raise not_found(model_id)
    return int(row[0])


def delete(conn: sqlite3.Connection, model_id: str) -> None:
    _live(conn, model_id)
    conn.execute(
        "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp_ms = ? "
        "WHERE model_id = ?",
        (now_ms(), model_id),
    )


def finalize(conn: sqlite3.Connection, model_id: str, status: LoggedModelStatus) -> LoggedModel:
    _live(conn, model_id)
    conn.execute(
        "UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? WHERE model_id = ?",
        (status.to_int(), now_ms(), model_id),
    )
    return get(conn, model_id)


def set_tags(conn: sqlite3.Connection, model_id: str, tags: Sequence[tuple[str, str]]) -> None:
    _live(conn, model_id)
    _upsert_tags(conn, model_id, tags)


def delete_tag(conn: sqlite3.Connection, model_id: str, key: str) -> None:
    _live(conn, model_id)
    cur = conn.execute("DELETE FROM logged_model_tags WHERE model_id = ? AND tag_key = ?", (model_id, key))
    if cur.rowcount == 0:
        raise MlflowException(
            f"No tag with key {key!r} found for model with ID {model_id!r}.",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )


def log_params(conn: sqlite3.Connection, model_id: str, params: Sequence[tuple[str, str]]) -> None:
    _live(conn, model_id)
    _insert_params(conn, model_id, params)


def log_metrics(conn: sqlite3.Connection, run_id: str, experiment_id: int, metrics: Sequence[Metric]) -> None:
    """Link metric points to their models (points without a ``model_id`` are the run's only). A point
    already linked (same model, name, timestamp, step and run) is kept once, as MLflow does."""
    rows = []
    for m in metrics:
        if m.model_id is None:
            continue
        if conn.execute("SELECT 1 FROM logged_models WHERE model_id = ?", (m.model_id,)).fetchone() is None:
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
    conn.executemany(
        "INSERT OR IGNORE INTO logged_model_metrics (model_id, metric_name, metric_timestamp_ms, "
        "metric_step, metric_value, experiment_id, run_id, dataset_name, dataset_digest) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


# -- reads


def _entity(conn: sqlite3.Connection, row: Sequence[Any]) -> LoggedModel:
    model_id = str(row[0])
    tags = dict(
        conn.execute("SELECT tag_key, tag_value FROM logged_model_tags WHERE model_id = ?", (model_id,))
    )
    params = dict(
        conn.execute("SELECT param_key, param_value FROM logged_model_params WHERE model_id = ?", (model_id,))
    )
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
        for r in conn.execute(
            "SELECT metric_name, metric_value, metric_timestamp_ms, metric_step, run_id, dataset_name, "
            "dataset_digest FROM logged_model_metrics WHERE model_id = ? "
            "ORDER BY metric_name, metric_timestamp_ms, metric_step, run_id",
            (model_id,),
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


def get(conn: sqlite3.Connection, model_id: str, allow_deleted: bool = False) -> LoggedModel:
    sql = f"SELECT {_COLUMNS} FROM logged_models WHERE model_id = ?"
    if not allow_deleted:
        sql += " AND lifecycle_stage <> 'deleted'"
    row = conn.execute(sql, (model_id,)).fetchone()
    if row is None:
        raise not_found(model_id)
    return _entity(conn, row)


class _SqliteDialect:
    def __init__(self) -> None:
        self.params: list[object] = []

    def bind(self, value: object) -> str:
        self.params.append(value)
        return "?"

    def like(self, column: str, pattern: str) -> str:
        glob = "".join({"*": "[*]", "?": "[?]", "[": "[[]", "%": "*", "_": "?"}.get(c, c) for c in pattern)
        return f"{column} GLOB {self.bind(glob)}"

    def ilike(self, column: str, pattern: str) -> str:
        return f"lower({column}) LIKE lower({self.bind(pattern)})"


def prepare_search(
    experiment_ids: Sequence[str],
    filter_string: str | None,
    datasets: Sequence[Mapping[str, Any]] | None,
    max_results: int | None,
    order_by: Sequence[Mapping[str, Any]] | None,
    page_token: str | None,
) -> tuple[list[int], Any, list[dict[str, Any]], int, int]:
    """The checked query (shared with PostgreSQL): experiment keys, comparisons, order, limit, offset."""
    if datasets and not all(d.get("dataset_name") for d in datasets):
        raise MlflowException(
            "`dataset_name` in the `datasets` clause must be specified.", error_code=INVALID_PARAMETER_VALUE
        )
    order = check_order_by(order_by)
    offset = decode_page_token(page_token, experiment_ids, filter_string, order or None) if page_token else 0
    comparisons = parse_logged_model_filter(filter_string)
    limit = max_results or LOGGED_MODEL_MAX_RESULTS_DEFAULT
    if limit < 0:
        raise MlflowException(
            f"Invalid value {limit} for parameter 'max_results': it must be positive",
            error_code=INVALID_PARAMETER_VALUE,
        )
    keys = []
    for e in experiment_ids:
        try:
            keys.append(_experiment_key(e))
        except MlflowException:
            continue  # no experiment has such an id (not an int64): it matches nothing
    return keys, comparisons, order, limit, offset


def search(
    conn: sqlite3.Connection,
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
    d = _SqliteDialect()
    sql = compile_search(d, keys, comparisons, datasets, order, limit + 1, offset)
    with snapshot(conn):
        ids = [r[0] for r in conn.execute(sql, d.params)]
        seen: set[str] = set()
        models = []
        for model_id in ids[:limit]:
            if model_id in seen:
                continue
            seen.add(model_id)
            models.append(get(conn, model_id, allow_deleted=True))
    token = (
        encode_page_token(experiment_ids, filter_string, order or None, offset + limit)
        if len(ids) > limit
        else None
    )
    return models, token
