"""Which :class:`~asynctrack.transfer._source.Source` a URI names, and the target store.

A source may be an MLflow database (``sqlite:///mlflow.db`` or a path to the file, or MLflow's schema in
PostgreSQL), read directly and read-only; an asynctrack database (SQLite or PostgreSQL); or any
MLflow-compatible tracking server (``http(s)://``, read through
the REST store, so ``mlflow server`` in front of any backend MLflow supports). The target is any asynctrack
store; a target database of an older schema must be upgraded first (``asynctrack db upgrade``).
"""

from __future__ import annotations

import os
import urllib.parse

import anyio

from asynctrack._redact import redact
from asynctrack._tracking_uri import StoreLocation, resolve
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store._open import open_store
from asynctrack.store._protocol import AbstractStore
from asynctrack.store.sqlite._ownership import check_file
from asynctrack.transfer._mlflow_sql import (
    MlflowPostgresSource,
    MlflowSqliteSource,
    is_mlflow_sqlite,
    is_mlflow_tables,
    postgres_tables,
)
from asynctrack.transfer._source import Source, StoreSource

__all__ = ["locate", "open_source", "open_target", "source_name"]


def locate(uri: str) -> StoreLocation:
    """Resolve a copy endpoint: a tracking URI, or the path of an existing database file."""
    if "://" not in uri and os.path.isfile(uri):
        uri = "sqlite:///" + urllib.parse.quote(os.path.abspath(uri))
    return resolve(uri)


#: PostgreSQL URI spellings, SQLAlchemy's driver suffixes included (MLflow's --backend-store-uri has them).
_POSTGRES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg2", "postgresql+psycopg")


def _postgres_dsn(uri: str) -> str | None:
    """The libpq-style DSN of a PostgreSQL URI (driver suffix dropped), None for other URIs."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme.lower() not in _POSTGRES:
        return None
    return urllib.parse.urlunparse(parsed._replace(scheme="postgresql"))


def source_name(uri: str) -> str:
    """The source's canonical URI, password hidden (names the resume file; is written in it)."""
    dsn = _postgres_dsn(uri)
    return redact(dsn) if dsn is not None else locate(uri).uri


async def open_source(uri: str) -> Source:
    """Open the copy's source: an MLflow database read directly, or any asynctrack store.

    Its file checks (is the URI a path, is the file a database, is it MLflow's) run in a worker thread, so
    this is safe on any event loop.
    """
    dsn = _postgres_dsn(uri)
    if dsn is not None and is_mlflow_tables(await postgres_tables(dsn)):
        return await MlflowPostgresSource.open(dsn, f"MLflow database {redact(dsn)} (read only)")
    location = await anyio.to_thread.run_sync(locate, uri)
    if location.is_remote or location.is_postgres:
        return StoreSource(await open_store(location, upgrade=False), redact(location.uri))
    path = location.db_path
    if not await anyio.to_thread.run_sync(check_file, path):
        raise MlflowException(
            f"no database at {path} to copy from (check the source URI {uri!r})",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if await anyio.to_thread.run_sync(is_mlflow_sqlite, path):
        return await MlflowSqliteSource.open(path)
    return StoreSource(await open_store(location, upgrade=False), location.uri)


async def open_target(uri: str) -> tuple[AbstractStore, StoreLocation]:
    """Open the copy's target store (never upgraded here); ``locate``'s file check runs in a thread."""
    location = await anyio.to_thread.run_sync(locate, uri)
    return await open_store(location, upgrade=False), location
