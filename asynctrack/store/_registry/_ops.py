"""The registry's operations (generators of :mod:`._steps` steps; writes run inside one transaction).

MLflow's SQL registry semantics: versions numbered from 1 per model (the largest ever used plus one, so
a deleted version's number is not reused), the model's ``last_updated_time`` moved by version creation,
stage transitions, version deletion, renames and description updates (not by tags or aliases), and a
deleted version redacted and kept under stage ``Deleted_Internal``. Writes that number or rewrite a
model's versions lock its row first (``Dialect.lock``), so concurrent PostgreSQL writers queue.
"""

from __future__ import annotations

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
from asynctrack.store._registry import _rows as rows
from asynctrack.store._registry._steps import (
    DELETED_STAGE,
    Conflict,
    Dialect,
    SqlOp,
    execute,
    execute_many,
    fetch_one,
)

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

_MODEL_TAG_UPSERT = (
    "INSERT INTO registered_model_tags (model_key, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (model_key, key) DO UPDATE SET value = excluded.value"
)
_VERSION_TAG_UPSERT = (
    "INSERT INTO model_version_tags (model_key, version, key, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (model_key, version, key) DO UPDATE SET value = excluded.value"
)


def _exists(name: str) -> MlflowException:
    return MlflowException(
        f"Registered Model (name={name}) already exists.", error_code=RESOURCE_ALREADY_EXISTS
    )


def create_registered_model(
    d: Dialect, name: str, tags: Sequence[tuple[str, str]], description: str | None, now: int
) -> SqlOp[RegisteredModel]:
    row = yield fetch_one(
        "INSERT INTO registered_models (name, creation_time, last_updated_time, description) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING model_key",
        name,
        now,
        now,
        description,
    )
    if row is None:
        raise _exists(name)
    if tags:
        yield execute_many(_MODEL_TAG_UPSERT, [(row[0], k, v) for k, v in tags])
    return (yield from rows.registered_model(name))


def rename_registered_model(d: Dialect, name: str, new_name: str, now: int) -> SqlOp[RegisteredModel]:
    key = yield from rows.model_key(name, d)
    try:
        yield execute(
            "UPDATE registered_models SET name = ?, last_updated_time = ? WHERE model_key = ?",
            new_name,
            now,
            key,
        )
    except Conflict:
        raise _exists(new_name) from None
    yield execute("UPDATE model_versions SET last_updated_time = ? WHERE model_key = ?", now, key)
    return (yield from rows.registered_model(new_name))


def update_registered_model(
    d: Dialect, name: str, description: str | None, now: int
) -> SqlOp[RegisteredModel]:
    key = yield from rows.model_key(name, d)
    yield execute(
        "UPDATE registered_models SET description = ?, last_updated_time = ? WHERE model_key = ?",
        description,
        now,
        key,
    )
    return (yield from rows.registered_model(name))


def delete_registered_model(d: Dialect, name: str) -> SqlOp[None]:
    key = yield from rows.model_key(name, d)
    for table in (
        "registered_model_aliases",
        "model_version_tags",
        "model_versions",
        "registered_model_tags",
        "registered_models",
    ):
        yield execute(f"DELETE FROM {table} WHERE model_key = ?", key)


def set_registered_model_tag(d: Dialect, name: str, key: str, value: str) -> SqlOp[None]:
    mk = yield from rows.model_key(name, d)
    yield execute(_MODEL_TAG_UPSERT, mk, key, value)


def delete_registered_model_tag(d: Dialect, name: str, key: str) -> SqlOp[None]:
    mk = yield from rows.model_key(name, d)
    yield execute("DELETE FROM registered_model_tags WHERE model_key = ? AND key = ?", mk, key)


def latest_versions_of(name: str, stages: Sequence[str]) -> SqlOp[list[ModelVersion]]:
    """MLflow's get_latest_versions: the newest version per requested stage (all stages when none),
    each with its aliases."""
    mk = yield from rows.model_key(name)
    wanted = {canonical_stage(s) for s in stages} if stages else set(ALL_STAGES)
    latest = yield from rows.latest_versions([mk], by_first_version=True)
    found = [mv for mv in latest[mk] if mv.current_stage in wanted]
    for mv in found:
        mv.aliases = yield from rows.aliases_of_version(mk, int(mv.version))
    return found


def download_uri(name: str, version: int) -> SqlOp[str]:
    row = yield fetch_one(
        "SELECT v.storage_location, v.source FROM model_versions AS v JOIN registered_models AS m "
        "ON m.model_key = v.model_key WHERE m.name = ? AND v.version = ? AND v.current_stage != ?",
        name,
        version,
        DELETED_STAGE,
    )
    if row is None:
        raise rows.version_not_found(name, version)
    return str(row[0] or row[1])


def _version_for(name: str, version: str | None, stage: str | None, alias: str | None) -> SqlOp[int]:
    """The version a ``models:/`` URI names (by number, alias, stage or latest)."""
    if version is not None:
        return int(version)
    if alias is not None:
        mv = yield from model_version_by_alias(name, alias)
        return int(mv.version)
    latest = yield from latest_versions_of(name, [stage] if stage is not None else [])
    if not latest:
        where = "" if stage is None else f" and stage '{stage}'"
        raise MlflowException(
            f"No versions of model with name '{name}'{where} found", error_code=RESOURCE_DOES_NOT_EXIST
        )
    return max(int(mv.version) for mv in latest)


def _logged_model(source: str, model_id: str) -> SqlOp[tuple[str, str | None]]:
    """A live logged model's (artifact location, source run id), or MLflow's error naming the source."""
    row = yield fetch_one(
        "SELECT artifact_location, source_run_id FROM logged_models "
        "WHERE model_id = ? AND lifecycle_stage <> 'deleted'",
        model_id,
    )
    if row is None:
        raise MlflowException(
            f"Unable to fetch model from model URI source artifact location '{source}'."
            f"Error: Logged model with ID '{model_id}' not found.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return str(row[0]), (None if row[1] is None else str(row[1]))


def create_model_version(
    d: Dialect,
    name: str,
    source: str,
    run_id: str | None,
    tags: Sequence[tuple[str, str]],
    run_link: str | None,
    description: str | None,
    model_id: str | None,
    now: int,
) -> SqlOp[ModelVersion]:
    """A new version; a ``models:/<name>/...`` source is pinned to the version it names (source
    ``models:/<name>/<n>``, stored location that version's, run id inherited when none is given). A
    ``models:/<model_id>`` source (an MLflow 3 logged model of the same database) is kept as given, stored
    at the model's artifact location, the run id the model's source run when none is given, as a ``model_id``
    given without a run id also gives it (MLflow's SQL store)."""
    storage = source
    if is_models_uri(source):
        parsed = parse_model_uri(source)
        if parsed.model_id is not None:
            location, source_run = yield from _logged_model(source, parsed.model_id)
            storage = location
            run_id = run_id or source_run
        else:
            assert parsed.name is not None
            try:
                number = yield from _version_for(parsed.name, parsed.version, parsed.stage, parsed.alias)
                storage = yield from download_uri(parsed.name, number)
                src = yield from rows.version_row(parsed.name, number)
            except MlflowException as exc:
                raise MlflowException(
                    f"Unable to fetch model from model URI source artifact location '{source}'."
                    f"Error: {exc.message}",
                    error_code=INVALID_PARAMETER_VALUE,
                ) from None
            source = f"models:/{parsed.name}/{number}"
            run_id = run_id or (str(src[7]) if src[7] is not None else None)
    if not run_id and model_id:
        row = yield fetch_one("SELECT source_run_id FROM logged_models WHERE model_id = ?", model_id)
        run_id = None if row is None or row[0] is None else str(row[0])
    mk = yield from rows.model_key(name, d)  # locked: the next number is ours until commit
    (top,) = yield fetch_one("SELECT MAX(version) FROM model_versions WHERE model_key = ?", mk)
    version = int(top or 0) + 1
    yield execute(
        "INSERT INTO model_versions (model_key, version, creation_time, last_updated_time, description, "
        "current_stage, source, storage_location, run_id, run_link, status, status_message, model_id) "
        "VALUES (?, ?, ?, ?, ?, 'None', ?, ?, ?, ?, 'READY', NULL, ?)",
        mk,
        version,
        now,
        now,
        description,
        source,
        storage,
        run_id or None,
        run_link,
        model_id,
    )
    if tags:
        yield execute_many(_VERSION_TAG_UPSERT, [(mk, version, k, v) for k, v in tags])
    yield execute("UPDATE registered_models SET last_updated_time = ? WHERE model_key = ?", now, mk)
    return (yield from rows.model_version(name, version))


def update_model_version(
    d: Dialect, name: str, version: int, description: str | None, now: int
) -> SqlOp[ModelVersion]:
    row = yield from rows.version_row(name, version)
    yield execute(
        "UPDATE model_versions SET description = ?, last_updated_time = ? "
        "WHERE model_key = ? AND version = ?",
        description,
        now,
        row[12],
        version,
    )
    return (yield from rows.model_version(name, version))


def transition_stage(
    d: Dialect, name: str, version: int, stage: str, archive: bool, now: int
) -> SqlOp[ModelVersion]:
    target = canonical_stage(stage)
    if archive and target not in ACTIVE_STAGES:
        raise MlflowException(
            "Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are {list(ACTIVE_STAGES)}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    mk = yield from rows.model_key(name, d)
    if archive:
        yield execute(
            "UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
            "WHERE model_key = ? AND version != ? AND current_stage = ?",
            STAGE_ARCHIVED,
            now,
            mk,
            version,
            target,
        )
    yield from rows.version_row(name, version)
    yield execute(
        "UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
        "WHERE model_key = ? AND version = ?",
        target,
        now,
        mk,
        version,
    )
    yield execute("UPDATE registered_models SET last_updated_time = ? WHERE model_key = ?", now, mk)
    return (yield from rows.model_version(name, version))


def delete_model_version(d: Dialect, name: str, version: int, now: int) -> SqlOp[None]:
    mk = (yield from rows.version_row(name, version))[12]
    yield execute("DELETE FROM registered_model_aliases WHERE model_key = ? AND version = ?", mk, version)
    yield execute(
        "UPDATE model_versions SET current_stage = ?, last_updated_time = ?, description = NULL, "
        "source = 'REDACTED-SOURCE-PATH', storage_location = NULL, run_id = 'REDACTED-RUN-ID', "
        "run_link = 'REDACTED-RUN-LINK', status_message = NULL WHERE model_key = ? AND version = ?",
        DELETED_STAGE,
        now,
        mk,
        version,
    )
    yield execute("UPDATE registered_models SET last_updated_time = ? WHERE model_key = ?", now, mk)


def set_model_version_tag(d: Dialect, name: str, version: int, key: str, value: str) -> SqlOp[None]:
    row = yield from rows.version_row(name, version)
    yield execute(_VERSION_TAG_UPSERT, row[12], version, key, value)


def delete_model_version_tag(d: Dialect, name: str, version: int, key: str) -> SqlOp[None]:
    row = yield from rows.version_row(name, version)
    yield execute(
        "DELETE FROM model_version_tags WHERE model_key = ? AND version = ? AND key = ?",
        row[12],
        version,
        key,
    )


def set_registered_model_alias(d: Dialect, name: str, alias: str, version: int) -> SqlOp[None]:
    mk = (yield from rows.version_row(name, version))[12]
    yield execute(
        "INSERT INTO registered_model_aliases (model_key, alias, version) VALUES (?, ?, ?) "
        "ON CONFLICT (model_key, alias) DO UPDATE SET version = excluded.version",
        mk,
        alias,
        version,
    )


def delete_registered_model_alias(d: Dialect, name: str, alias: str) -> SqlOp[None]:
    mk = yield from rows.model_key(name, d)
    yield execute("DELETE FROM registered_model_aliases WHERE model_key = ? AND alias = ?", mk, alias)


def model_version_by_alias(name: str, alias: str) -> SqlOp[ModelVersion]:
    if alias.lower() == "latest":
        latest = yield from latest_versions_of(name, [])
        if not latest:
            raise MlflowException(
                f"Latest version not found for model {name}.", error_code=RESOURCE_DOES_NOT_EXIST
            )
        return max(latest, key=lambda mv: int(mv.version))
    mk = yield from rows.model_key(name)
    row = yield fetch_one(
        "SELECT version FROM registered_model_aliases WHERE model_key = ? AND alias = ?", mk, alias
    )
    if row is None:
        raise rows.alias_not_found(alias)
    return (yield from rows.model_version(name, int(row[0])))
