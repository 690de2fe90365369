"""PostgreSQL for the tests: the local server at 127.0.0.1:5432 (trust auth, user postgres), a database of
each test's own with a unique name, dropped afterwards.

``STORE_BACKENDS`` parametrizes a store fixture over the embedded store and PostgreSQL; the PostgreSQL
case is skipped, with one line saying why, when the server is not reachable (``.ci/run`` starts it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

HOST = os.environ.get("ASYNCTRACK_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("ASYNCTRACK_TEST_PG_PORT", "5432"))
USER = "postgres"
ADMIN_DB = "postgres"
SKIP_REASON = (
    f"PostgreSQL is not reachable at {HOST}:{PORT} as user {USER} (start it: pg_ctlcluster 15 main start)"
)

#: Parameters for a store fixture: ``request.param`` is the backend's name.
STORE_BACKENDS = ["sqlite", "postgres"]


def uri(database: str, host: str = HOST, port: int = PORT) -> str:
    return f"postgresql://{USER}@{host}:{port}/{database}"


def _run(coro_fn, *args):  # type: ignore[no-untyped-def]
    """Run an asyncpg coroutine to completion in a private event loop on a thread of its own (callers may
    be inside a running loop: async fixtures)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro_fn(*args)).result()


async def _admin(sql: str, host: str, port: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=host, port=port, user=USER, database=ADMIN_DB, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@functools.cache
def available() -> bool:
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return False
    try:
        _run(_admin, "SELECT 1", HOST, PORT)
    except Exception:
        return False
    return True


def require() -> None:
    if not available():
        pytest.skip(SKIP_REASON)


@contextmanager
def temporary_database(host: str = HOST, port: int = PORT) -> Iterator[str]:
    """A new empty database (name ``asynctrack_test_<random>``) for the block; yields its URI."""
    name = f"asynctrack_test_{uuid.uuid4().hex[:16]}"
    _run(_admin, f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'", host, port)
    try:
        yield uri(name, host, port)
    finally:
        _run(_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', host, port)


@contextmanager
def backend_uri(backend: str, directory: str) -> Iterator[str]:
    """A tracking URI of a fresh store of ``backend``: a SQLite file in ``directory``, or a new database."""
    if backend == "sqlite":
        yield f"sqlite:///{directory}/store.db"
        return
    require()
    with temporary_database() as u:
        yield u


async def open_test_store(tracking_uri: str, artifact_root: str):  # type: ignore[no-untyped-def]
    """The store at ``tracking_uri`` (``sqlite:///path`` or ``postgresql://...``) with ``artifact_root``."""
    if tracking_uri.startswith("sqlite:///"):
        from asynctrack.store.sqlite import SqliteStore

        return await SqliteStore.open(tracking_uri[len("sqlite:///") :], artifact_root)
    from asynctrack.store.postgres import PostgresStore

    return await PostgresStore.open(tracking_uri, artifact_root)


def _placeholders(sql: str) -> str:
    """SQLite's ``?`` placeholders as PostgreSQL's ``$1, $2...`` (the tests' SQL has no ``?`` in text)."""
    parts = sql.split("?")
    return "".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, start=1))


async def _execute(dsn: str, sql: str, rows: list[tuple[object, ...]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.executemany(_placeholders(sql), rows)
    finally:
        await conn.close()


def execute(dsn: str, sql: str, *rows: tuple[object, ...]) -> None:
    """One statement (SQLite's ``?`` placeholders) once per row of arguments, from a connection of its
    own, as another tool would."""
    _run(_execute, dsn, sql, list(rows))


async def _dump(dsn: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        tables = [
            r[0]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
            )
        ]
        out = []
        for t in tables:
            rows = await conn.fetch(f'SELECT * FROM "{t}"')
            out.append(t + ": " + repr(sorted(repr(tuple(r)) for r in rows)))
        return "\n".join(out)
    finally:
        await conn.close()


def dump(dsn: str) -> str:
    """Every table's rows as text: equal dumps, equal contents."""
    return str(_run(_dump, dsn))
