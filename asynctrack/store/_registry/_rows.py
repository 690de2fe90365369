"""Registry reads shared by the writes and the searches: rows to entities, lookups with MLflow's
not-found errors, and the latest version per stage (generators of :mod:`._steps` steps)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asynctrack.entities import ModelVersion, RegisteredModel
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.store._registry._steps import DELETED_STAGE, Dialect, Row, SqlOp, fetch_all, fetch_one

__all__ = [
    "VERSION_COLUMNS",
    "alias_not_found",
    "aliases_of_version",
    "latest_versions",
    "model_key",
    "model_version",
    "models_from_rows",
    "not_found",
    "registered_model",
    "version_not_found",
    "version_row",
    "versions_from_rows",
]

#: model_versions columns as selected by every read (``v`` is model_versions, ``m`` registered_models).
VERSION_COLUMNS = (
    "m.name, v.version, v.creation_time, v.last_updated_time, v.description, v.current_stage, v.source, "
    "v.run_id, v.status, v.status_message, v.run_link, v.model_id, v.model_key"
)
_CHUNK = 500  # bound parameters per IN (...) list


def not_found(name: str) -> MlflowException:
    return MlflowException(f"Registered Model with name={name} not found", error_code=RESOURCE_DOES_NOT_EXIST)


def version_not_found(name: str, version: int | str) -> MlflowException:
    return MlflowException(
        f"Model Version (name={name}, version={version}) not found", error_code=RESOURCE_DOES_NOT_EXIST
    )


def alias_not_found(alias: str) -> MlflowException:
    return MlflowException(f"Registered model alias {alias} not found.", error_code=INVALID_PARAMETER_VALUE)


def model_key(name: str, d: Dialect | None = None) -> SqlOp[int]:
    """The model's key; with a dialect, its row locked for the rest of the write (PostgreSQL)."""
    lock = d.lock if d is not None else ""
    row = yield fetch_one(f"SELECT model_key FROM registered_models WHERE name = ?{lock}", name)
    if row is None:
        raise not_found(name)
    return int(row[0])


def version_row(name: str, version: int) -> SqlOp[Row]:
    row = yield fetch_one(
        f"SELECT {VERSION_COLUMNS} FROM model_versions AS v JOIN registered_models AS m "
        "ON m.model_key = v.model_key WHERE m.name = ? AND v.version = ? AND v.current_stage != ?",
        name,
        version,
        DELETED_STAGE,
    )
    if row is None:
        raise version_not_found(name, version)
    return tuple(row)


def _version_tags(keys: Sequence[tuple[int, int]]) -> SqlOp[dict[tuple[int, int], dict[str, str]]]:
    """The tags of each (model key, version): one query per 500 versions, whatever models they are of."""
    out: dict[tuple[int, int], dict[str, str]] = {}
    unique = list(dict.fromkeys(keys))
    for i in range(0, len(unique), _CHUNK):
        part = unique[i : i + _CHUNK]
        pairs = ",".join("(CAST(? AS BIGINT), CAST(? AS BIGINT))" for _ in part)
        found = yield fetch_all(
            # A join from the pairs, so each is a primary-key range (a row-value IN list is scanned).
            f"SELECT t.model_key, t.version, t.key, t.value FROM (VALUES {pairs}) AS k "
            "JOIN model_version_tags AS t ON t.model_key = k.column1 AND t.version = k.column2",
            *(n for pair in part for n in pair),
        )
        for mk, ver, key, value in found:
            out.setdefault((int(mk), int(ver)), {})[key] = value
    return out


def versions_from_rows(rows: Sequence[Row], with_aliases: bool) -> SqlOp[list[ModelVersion]]:
    """Entities for ``VERSION_COLUMNS`` rows, with their tags, and their aliases when ``with_aliases``
    (MLflow leaves them out of search results and of ``latest_versions``)."""
    keys = [(int(r[12]), int(r[1])) for r in rows]
    tags = yield from _version_tags(keys)
    aliases: dict[tuple[int, int], list[str]] = {}
    if with_aliases:
        for mk in sorted({k[0] for k in keys}):
            found = yield fetch_all(
                "SELECT alias, version FROM registered_model_aliases WHERE model_key = ? ORDER BY alias", mk
            )
            for alias, ver in found:
                aliases.setdefault((mk, int(ver)), []).append(alias)
    return [
        ModelVersion(
            name=str(r[0]),
            version=str(r[1]),
            creation_timestamp=r[2],
            last_updated_timestamp=r[3],
            description=r[4],
            current_stage=str(r[5]),
            source=r[6],
            run_id=r[7],
            status=str(r[8]),
            status_message=r[9],
            tags=tags.get(k, {}),
            run_link=r[10],
            aliases=aliases.get(k, []),
            model_id=r[11],
        )
        for r, k in zip(rows, keys, strict=True)
    ]


def model_version(name: str, version: int) -> SqlOp[ModelVersion]:
    row = yield from version_row(name, version)
    found = yield from versions_from_rows([row], with_aliases=True)
    return found[0]


def aliases_of_version(key: int, version: int) -> SqlOp[list[str]]:
    found = yield fetch_all(
        "SELECT alias FROM registered_model_aliases WHERE model_key = ? AND version = ? ORDER BY alias",
        key,
        version,
    )
    return [str(r[0]) for r in found]


def latest_versions(keys: Sequence[int], by_first_version: bool) -> SqlOp[dict[int, list[ModelVersion]]]:
    """Per model key, the newest live version in each stage. Ordered as MLflow's answers are: by the
    oldest version in each stage for a single model (``by_first_version``), by stage name in a search."""
    out: dict[int, list[ModelVersion]] = {k: [] for k in keys}
    for i in range(0, len(keys), _CHUNK):
        part = list(keys[i : i + _CHUNK])
        marks = ",".join("?" * len(part))
        rows: list[Any] = yield fetch_all(
            f"SELECT {VERSION_COLUMNS}, s.first_version FROM (SELECT model_key, current_stage, "
            "MAX(version) AS newest, MIN(version) AS first_version FROM model_versions "
            f"WHERE model_key IN ({marks}) AND current_stage != ? GROUP BY model_key, current_stage) AS s "
            "JOIN model_versions AS v ON v.model_key = s.model_key AND v.version = s.newest "
            "JOIN registered_models AS m ON m.model_key = v.model_key "
            f"ORDER BY v.model_key, {'s.first_version' if by_first_version else 'v.current_stage'}",
            *part,
            DELETED_STAGE,
        )
        versions = yield from versions_from_rows([tuple(r)[:13] for r in rows], False)
        for mv, row in zip(versions, rows, strict=True):
            out[int(row[12])].append(mv)
    return out


def models_from_rows(rows: Sequence[Row], by_first_version: bool) -> SqlOp[list[RegisteredModel]]:
    """Entities for ``(model_key, name, creation_time, last_updated_time, description)`` rows."""
    keys = [int(r[0]) for r in rows]
    latest = yield from latest_versions(keys, by_first_version)
    tags: dict[int, dict[str, str]] = {k: {} for k in keys}
    aliases: dict[int, dict[str, str]] = {k: {} for k in keys}
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        marks = ",".join("?" * len(part))
        found = yield fetch_all(
            f"SELECT model_key, key, value FROM registered_model_tags WHERE model_key IN ({marks})", *part
        )
        for mk, key, value in found:
            tags[int(mk)][key] = value
        found = yield fetch_all(
            f"SELECT model_key, alias, version FROM registered_model_aliases WHERE model_key IN ({marks}) "
            "ORDER BY model_key, alias",
            *part,
        )
        for mk, alias, ver in found:
            aliases[int(mk)][alias] = str(ver)
    return [
        RegisteredModel(
            name=str(r[1]),
            creation_timestamp=r[2],
            last_updated_timestamp=r[3],
            description=r[4],
            latest_versions=latest[k],
            tags=tags[k],
            aliases=aliases[k],
        )
        for r, k in zip(rows, keys, strict=True)
    ]


def registered_model(name: str) -> SqlOp[RegisteredModel]:
    row = yield fetch_one(
        "SELECT model_key, name, creation_time, last_updated_time, description FROM registered_models "
        "WHERE name = ?",
        name,
    )
    if row is None:
        raise not_found(name)
    found = yield from models_from_rows([tuple(row)], by_first_version=True)
    return found[0]
