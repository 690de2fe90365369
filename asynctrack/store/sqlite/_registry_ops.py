"""The SQLite registry's operations, each run in the connection thread (writes inside one transaction).

MLflow's SQL registry semantics: versions numbered from 1 per model (the largest ever used plus one, so
a deleted version's number is not reused), the model's ``last_updated_time`` moved by version creation,
stage transitions, version deletion, renames and description updates (not by tags or aliases), and a
deleted version redacted and kept under stage ``Deleted_Internal``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from asynctrack._model_uri import is_models_uri, parse_model_uri
from asynctrack.entities import ModelVersion, RegisteredModel
from asynctrack.entities._registry import ACTIVE_STAGES, ALL_STAGES, STAGE_ARCHIVED, canonical_stage
from asynctrack.exceptions import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    MlflowException,
)
from asynctrack.store.sqlite import _registry_rows as rows
from asynctrack.store.sqlite._registry_schema import DELETED_STAGE

__all__ = [
    "create_model_version",
    "create_registered_model",
    "delete_model_version",
    "delete_model_version_tag",
    "delete_registered_model",
    "delete_registered_model_alias",
    "delete_registered_model_tag",
    "download_uri",
    "latest_versions_of",
    "model_version_by_alias",
    "rename_registered_model",
    "set_model_version_tag",
    "set_registered_model_alias",
    "set_registered_model_tag",
    "transition_stage",
    "update_model_version",
    "update_registered_model",
]


def _exists(name: str) -> MlflowException:
    return MlflowException(
        f"Registered Model (name={name}) already exists.", error_code=RESOURCE_ALREADY_EXISTS
    )


def create_registered_model(
    conn: sqlite3.Connection, name: str, tags: Sequence[tuple[str, str]], description: str | None, now: int
) -> RegisteredModel:
    try:
        cur = conn.execute(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description) "
            "VALUES (?, ?, ?, ?)",
            (name, now, now, description),
        )
    except sqlite3.IntegrityError:
        raise _exists(name) from None
    conn.executemany(
        "INSERT OR REPLACE INTO registered_model_tags (model_key, key, value) VALUES (?, ?, ?)",
        [(cur.lastrowid, k, v) for k, v in tags],
    )
    return rows.registered_model(conn, name)


def rename_registered_model(conn: sqlite3.Connection, name: str, new_name: str, now: int) -> RegisteredModel:
    key = rows.model_key(conn, name)
    try:
        conn.execute(
            "UPDATE registered_models SET name = ?, last_updated_time = ? WHERE model_key = ?",
            (new_name, now, key),
        )
    except sqlite3.IntegrityError:
        raise MlflowException(
            f"Registered Model (name={new_name}) already exists.", error_code=RESOURCE_ALREADY_EXISTS
        ) from None
    conn.execute("UPDATE model_versions SET last_updated_time = ? WHERE model_key = ?", (now, key))
    return rows.registered_model(conn, new_name)


def update_registered_model(
    conn: sqlite3.Connection, name: str, description: str | None, now: int
) -> RegisteredModel:
    key = rows.model_key(conn, name)
    conn.execute(
        "UPDATE registered_models SET description = ?, last_updated_time = ? WHERE model_key = ?",
        (description, now, key),
    )
    return rows.registered_model(conn, name)


def delete_registered_model(conn: sqlite3.Connection, name: str) -> None:
    key = rows.model_key(conn, name)
    for table in (
        "registered_model_aliases",
        "model_version_tags",
        "model_versions",
        "registered_model_tags",
        "registered_models",
    ):
        conn.execute(f"DELETE FROM {table} WHERE model_key = ?", (key,))


def set_registered_model_tag(conn: sqlite3.Connection, name: str, key: str, value: str) -> None:
    mk = rows.model_key(conn, name)
    conn.execute(
        "INSERT OR REPLACE INTO registered_model_tags (model_key, key, value) VALUES (?, ?, ?)",
        (mk, key, value),
    )


def delete_registered_model_tag(conn: sqlite3.Connection, name: str, key: str) -> None:
    mk = rows.model_key(conn, name)
    conn.execute("DELETE FROM registered_model_tags WHERE model_key = ? AND key = ?", (mk, key))


def latest_versions_of(conn: sqlite3.Connection, name: str, stages: Sequence[str]) -> list[ModelVersion]:
    """MLflow's get_latest_versions: the newest version per requested stage (all stages when none),
    each with its aliases."""
    mk = rows.model_key(conn, name)
    wanted = {canonical_stage(s) for s in stages} if stages else set(ALL_STAGES)
    found = [
        mv for mv in rows.latest_versions(conn, [mk], by_first_version=True)[mk] if mv.current_stage in wanted
    ]
    for mv in found:
        mv.aliases = rows.aliases_of_version(conn, mk, int(mv.version))
    return found


def download_uri(conn: sqlite3.Connection, name: str, version: int) -> str:
    row = conn.execute(
        "SELECT v.storage_location, v.source FROM model_versions AS v JOIN registered_models AS m "
        "ON m.model_key = v.model_key WHERE m.name = ? AND v.version = ? AND v.current_stage != ?",
        (name, version, DELETED_STAGE),
    ).fetchone()
    if row is None:
        raise rows.version_not_found(name, version)
    return str(row[0] or row[1])


def _version_for(
    conn: sqlite3.Connection, name: str, version: str | None, stage: str | None, alias: str | None
) -> int:
    """The version a ``models:/`` URI names (by number, alias, stage or latest)."""
    if version is not None:
        return int(version)
    if alias is not None:
        return int(model_version_by_alias(conn, name, alias).version)
    latest = latest_versions_of(conn, name, [stage] if stage is not None else [])
    if not latest:
        where = "" if stage is None else f" and stage '{stage}'"
        raise MlflowException(
            f"No versions of model with name '{name}'{where} found", error_code=RESOURCE_DOES_NOT_EXIST
        )
    return max(int(mv.version) for mv in latest)


def create_model_version(
    conn: sqlite3.Connection,
    name: str,
    source: str,
    run_id: str | None,
    tags: Sequence[tuple[str, str]],
    run_link: str | None,
    description: str | None,
    model_id: str | None,
    now: int,
) -> ModelVersion:
    """A new version; a ``models:/<name>/...`` source is pinned to the version it names (source
    ``models:/<name>/<n>``, stored location that version's, run id inherited when none is given)."""
    storage = source
    if is_models_uri(source):
        parsed = parse_model_uri(source)
        if parsed.model_id is not None:
            raise MlflowException(
                f"Unable to fetch model from model URI source artifact location '{source}'. Logged models "
                "(models:/<model_id>) are not kept by this store.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        assert parsed.name is not None
        try:
            number = _version_for(conn, parsed.name, parsed.version, parsed.stage, parsed.alias)
            storage = download_uri(conn, parsed.name, number)
            src = rows.version_row(conn, parsed.name, number)
        except MlflowException as exc:
            raise MlflowException(
                f"Unable to fetch model from model URI source artifact location '{source}'."
                f"Error: {exc.message}",
                error_code=INVALID_PARAMETER_VALUE,
            ) from None
        source = f"models:/{parsed.name}/{number}"
        run_id = run_id or (str(src[7]) if src[7] is not None else None)
    mk = rows.model_key(conn, name)
    (top,) = conn.execute("SELECT MAX(version) FROM model_versions WHERE model_key = ?", (mk,)).fetchone()
    version = int(top or 0) + 1
    conn.execute(
        "INSERT INTO model_versions (model_key, version, creation_time, last_updated_time, description, "
        "current_stage, source, storage_location, run_id, run_link, status, status_message, model_id) "
        "VALUES (?, ?, ?, ?, ?, 'None', ?, ?, ?, ?, 'READY', NULL, ?)",
        (mk, version, now, now, description, source, storage, run_id or None, run_link, model_id),
    )
    conn.executemany(
        "INSERT OR REPLACE INTO model_version_tags (model_key, version, key, value) VALUES (?, ?, ?, ?)",
        [(mk, version, k, v) for k, v in tags],
    )
    conn.execute("UPDATE registered_models SET last_updated_time = ? WHERE model_key = ?", (now, mk))
    return rows.model_version(conn, name, version)


def update_model_version(
    conn: sqlite3.Connection, name: str, version: int, description: str | None, now: int
) -> ModelVersion:
    row = rows.version_row(conn, name, version)
    conn.execute(
        "UPDATE model_versions SET description = ?, last_updated_time = ? "
        "WHERE model_key = ? AND version = ?",
        (description, now, row[12], version),
    )
    return rows.model_version(conn, name, version)


def transition_stage(
    conn: sqlite3.Connection, name: str, version: int, stage: str, archive: bool, now: int
) -> ModelVersion:
    target = canonical_stage(stage)
    if archive and target not in ACTIVE_STAGES:
        raise MlflowException(
            "Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are {list(ACTIVE_STAGES)}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    mk = rows.model_key(conn, name)
    if archive:
        conn.execute(
            "UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
            "WHERE model_key = ? AND version != ? AND current_stage = ?",
            (STAGE_ARCHIVED, now, mk, version, target),
        )
    rows.version_row(conn, name, version)
    conn.execute(
        "UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
        "WHERE model_key = ? AND version = ?",
        (target, now, mk, version),
    )
    conn.execute("UPDATE registered_models SET last_updated_time = ? WHERE model_key = ?", (now, mk))
    return rows.model_version(conn, name, version)


def delete_model_version(conn: sqlite3.Connection, name: str, version: int, now: int) -> None:
    row = rows.version_row(conn, name, version)
    mk = row[12]
    conn.execute("DELETE FROM registered_model_aliases WHERE model_key = ? AND version = ?", (mk, version))
    conn.execute(
        "UPDATE model_versions SET current_stage = ?, last_updated_time = ?, description = NULL, "
        "source = 'REDACTED-SOURCE-PATH', storage_location = NULL, run_id = 'REDACTED-RUN-ID', "
        "run_link = 'REDACTED-RUN-LINK', status_message = NULL WHERE model_key = ? AND version = ?",
        (DELETED_STAGE, now, mk, version),
    )
    conn.execute("UPDATE registered_models SET last_updated_time = ? WHERE model_key = ?", (now, mk))


def set_model_version_tag(conn: sqlite3.Connection, name: str, version: int, key: str, value: str) -> None:
    row = rows.version_row(conn, name, version)
    conn.execute(
        "INSERT OR REPLACE INTO model_version_tags (model_key, version, key, value) VALUES (?, ?, ?, ?)",
        (row[12], version, key, value),
    )


def delete_model_version_tag(conn: sqlite3.Connection, name: str, version: int, key: str) -> None:
    row = rows.version_row(conn, name, version)
    conn.execute(
        "DELETE FROM model_version_tags WHERE model_key = ? AND version = ? AND key = ?",
        (row[12], version, key),
    )


def set_registered_model_alias(conn: sqlite3.Connection, name: str, alias: str, version: int) -> None:
    row = rows.version_row(conn, name, version)
    conn.execute(
        "INSERT OR REPLACE INTO registered_model_aliases (model_key, alias, version) VALUES (?, ?, ?)",
        (row[12], alias, version),
    )


def delete_registered_model_alias(conn: sqlite3.Connection, name: str, alias: str) -> None:
    mk = rows.model_key(conn, name)
    conn.execute("DELETE FROM registered_model_aliases WHERE model_key = ? AND alias = ?", (mk, alias))


def model_version_by_alias(conn: sqlite3.Connection, name: str, alias: str) -> ModelVersion:
    if alias.lower() == "latest":
        latest = latest_versions_of(conn, name, [])
        if not latest:
            raise MlflowException(
                f"Latest version not found for model {name}.", error_code=RESOURCE_DOES_NOT_EXIST
            )
        return max(latest, key=lambda mv: int(mv.version))
    mk = rows.model_key(conn, name)
    row = conn.execute(
        "SELECT version FROM registered_model_aliases WHERE model_key = ? AND alias = ?", (mk, alias)
    ).fetchone()
    if row is None:
        raise rows.alias_not_found(alias)
    return rows.model_version(conn, name, int(row[0]))
