"""The PostgreSQL store (asyncpg): ``postgresql://user:password@host:port/database`` as a tracking URI or
as ``asynctrack server --backend-store-uri``. See ``_schema.py`` for the layout."""

from asynctrack.store.postgres._schema import SCHEMA_VERSION
from asynctrack.store.postgres._store import PostgresStore

__all__ = ["SCHEMA_VERSION", "PostgresStore"]
