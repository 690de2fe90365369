"""Registry reads shared by the SQLite registry's writes and searches: rows to entities, lookups with
MLflow's not-found errors, and the latest version per stage.

Every function takes a ``sqlite3.Connection`` and runs in the connection's thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from asynctrack.entities import ModelVersion, RegisteredModel
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.store.sqlite._registry_schema import DELETED_STAGE

__all__ = [
    "VERSION_COLUMNS",
    "aliases_of_version",
    "latest_versions",
    "model_key",
    "model_version",
    "registered_model",
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


def model_key(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT model_key FROM registered_models WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise not_found(name)
    return int(row[0])


def version_row(conn: sqlite3.Connection, name: str, version: int) -> tuple[object, ...]:
    row = conn.execute(
        f"SELECT {VERSION_COLUMNS} FROM model_versions AS v JOIN registered_models AS m "
        "ON m.model_key = v.model_key WHERE m.name = ? AND v.version = ? AND v.current_stage != ?",
        (name, version, DELETED_STAGE),
    ).fetchone()
    if row is None:
        raise version_not_found(name, version)
    return tuple(row)


def _version_tags(
    conn: sqlite3.Connection, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], dict[str, str]]:
    """The tags of each (model key, version): one query per 500 versions, whatever models they are of."""
    out: dict[tuple[int, int], dict[str, str]] = {}
    unique = list(dict.fromkeys(keys))
    for i in range(0, len(unique), _CHUNK):
        part = unique[i : i + _CHUNK]
        pairs = ",".join("(?, ?)" for _ in part)
        for mk, ver, key, value in conn.execute(
            # A join from the pairs, so each is a primary-key range (a row-value IN list is scanned).
            f"SELECT t.model_key, t.version, t.key, t.value FROM (VALUES {pairs}) AS k "
            "JOIN model_version_tags AS t ON t.model_key = k.column1 AND t.version = k.column2",
            [n for pair in part for n in pair],
        ):
            out.setdefault((int(mk), int(ver)), {})[key] = value
    return out


def versions_from_rows(
    conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]], with_aliases: bool
) -> list[ModelVersion]:
    """Entities for ``VERSION_COLUMNS`` rows, with their tags (one query per model), and their aliases
    when ``with_aliases`` (MLflow leaves them out of search results and of ``latest_versions``)."""
    keys = [(int(r[12]), int(r[1])) for r in rows]  # type: ignore[call-overload]
    tags = _version_tags(conn, keys)
    aliases: dict[tuple[int, int], list[str]] = {}
    if with_aliases:
        for mk in {k[0] for k in keys}:
            for alias, ver in conn.execute(
                "SELECT alias, version FROM registered_model_aliases WHERE model_key = ? ORDER BY alias",
                (mk,),
            ):
                aliases.setdefault((mk, int(ver)), []).append(alias)
    out = []
    for r, k in zip(rows, keys, strict=True):
        out.append(
            ModelVersion(
                name=str(r[0]),
                version=str(r[1]),
                creation_timestamp=r[2],  # type: ignore[arg-type]
                last_updated_timestamp=r[3],  # type: ignore[arg-type]
                description=r[4],  # type: ignore[arg-type]
                current_stage=str(r[5]),
                source=r[6],  # type: ignore[arg-type]
                run_id=r[7],  # type: ignore[arg-type]
                status=str(r[8]),
                status_message=r[9],  # type: ignore[arg-type]
                tags=tags.get(k, {}),
                run_link=r[10],  # type: ignore[arg-type]
                aliases=aliases.get(k, []),
                model_id=r[11],  # type: ignore[arg-type]
            )
        )
    return out


def model_version(conn: sqlite3.Connection, name: str, version: int) -> ModelVersion:
    return versions_from_rows(conn, [version_row(conn, name, version)], with_aliases=True)[0]


def aliases_of_version(conn: sqlite3.Connection, key: int, version: int) -> list[str]:
    return [
        str(r[0])
        for r in conn.execute(
            "SELECT alias FROM registered_model_aliases WHERE model_key = ? AND version = ? ORDER BY alias",
            (key, version),
        )
    ]


def latest_versions(
    conn: sqlite3.Connection, keys: Sequence[int], by_first_version: bool
) -> dict[int, list[ModelVersion]]:
    """Per model key, the newest live version in each stage. Ordered as MLflow's answers are: by the
    oldest version in each stage for a single model (``by_first_version``), by stage name in a search."""
    out: dict[int, list[ModelVersion]] = {k: [] for k in keys}
    for i in range(0, len(keys), _CHUNK):
        part = list(keys[i : i + _CHUNK])
        marks = ",".join("?" * len(part))
        rows = conn.execute(
            f"SELECT {VERSION_COLUMNS}, s.first FROM (SELECT model_key, current_stage, "
            "MAX(version) AS newest, "
            f"MIN(version) AS first FROM model_versions WHERE model_key IN ({marks}) AND current_stage != ? "
            "GROUP BY model_key, current_stage) AS s "
            "JOIN model_versions AS v ON v.model_key = s.model_key AND v.version = s.newest "
            "JOIN registered_models AS m ON m.model_key = v.model_key "
            f"ORDER BY v.model_key, {'s.first' if by_first_version else 'v.current_stage'}",
            (*part, DELETED_STAGE),
        ).fetchall()
        for mv, row in zip(versions_from_rows(conn, [tuple(r[:13]) for r in rows], False), rows, strict=True):
            out[int(row[12])].append(mv)
    return out


def models_from_rows(
    conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]], by_first_version: bool
) -> list[RegisteredModel]:
    """Entities for ``(model_key, name, creation_time, last_updated_time, description)`` rows."""
    keys = [int(r[0]) for r in rows]  # type: ignore[call-overload]
    latest = latest_versions(conn, keys, by_first_version)
    tags: dict[int, dict[str, str]] = {k: {} for k in keys}
    aliases: dict[int, dict[str, str]] = {k: {} for k in keys}
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        marks = ",".join("?" * len(part))
        for mk, key, value in conn.execute(
            f"SELECT model_key, key, value FROM registered_model_tags WHERE model_key IN ({marks})", part
        ):
            tags[int(mk)][key] = value
        for mk, alias, ver in conn.execute(
            f"SELECT model_key, alias, version FROM registered_model_aliases WHERE model_key IN ({marks}) "
            "ORDER BY model_key, alias",
            part,
        ):
            aliases[int(mk)][alias] = str(ver)
    return [
        RegisteredModel(
            name=str(r[1]),
            creation_timestamp=r[2],  # type: ignore[arg-type]
            last_updated_timestamp=r[3],  # type: ignore[arg-type]
            description=r[4],  # type: ignore[arg-type]
            latest_versions=latest[k],
            tags=tags[k],
            aliases=aliases[k],
        )
        for r, k in zip(rows, keys, strict=True)
    ]


def registered_model(conn: sqlite3.Connection, name: str) -> RegisteredModel:
    row = conn.execute(
        "SELECT model_key, name, creation_time, last_updated_time, description FROM registered_models "
        "WHERE name = ?",
        (name,),
    ).fetchone()
    if row is None:
        raise not_found(name)
    return models_from_rows(conn, [tuple(row)], by_first_version=True)[0]


def alias_not_found(alias: str) -> MlflowException:
    return MlflowException(f"Registered model alias {alias} not found.", error_code=INVALID_PARAMETER_VALUE)
