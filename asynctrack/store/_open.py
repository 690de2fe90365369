"""Open the store a :class:`~asynctrack._tracking_uri.StoreLocation` names."""

from __future__ import annotations

from asynctrack._redact import redact
from asynctrack._tracking_uri import StoreLocation
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store._protocol import AbstractStore
from asynctrack.store.rest import RestStore
from asynctrack.store.sqlite import SqliteStore

__all__ = ["open_store"]


async def open_store(location: StoreLocation, *, upgrade: bool = True) -> AbstractStore:
    """A ready store for ``location``: the embedded SQLite store, the PostgreSQL store, or the REST store
    for a tracking server (whose HTTP settings are read from MLflow's environment variables now).

    ``upgrade``: whether a database of an older schema may be migrated on open (a client's own embedded
    file); a server passes False and gets the error naming ``asynctrack db upgrade`` instead. A PostgreSQL
    database, shared by design, is never migrated on open (``store/postgres/_migrations.py``)."""
    if location.is_remote:
        return await RestStore.open(location.uri)
    if location.scheme == "sqlite":
        return await SqliteStore.open(location.db_path, location.artifact_root, upgrade=upgrade)
    if location.is_postgres:
        # Imported here: asyncpg is an optional dependency (the ``postgres`` extra).
        try:
            from asynctrack.store.postgres import PostgresStore
        except ImportError as exc:
            raise MlflowException(
                f"The tracking URI {redact(location.uri)!r} needs asyncpg: "
                "pip install 'asynctrack[postgres]'",
                error_code=INVALID_PARAMETER_VALUE,
            ) from exc
        return await PostgresStore.open(location.uri, location.artifact_root)
    raise MlflowException(
        f"No store for tracking URI {location.uri!r} (scheme {location.scheme!r})",
        error_code=INVALID_PARAMETER_VALUE,
    )
