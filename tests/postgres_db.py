"""PostgreSQL for the tests: the local server at 127.0.0.1:5432 (trust auth, user postgres).

Two kinds of database, both with unique names so that parallel sessions never meet:

- :func:`temporary_database`: a new *empty* database, dropped afterwards, for tests of what the store does
  to an empty or foreign database (schema creation, migrations, copies, refusals).
- :func:`backend_uri` (``"postgres"``): a *fresh store's* database, with the current schema (made by the
  store's own ``ensure_schema``) and no rows. Creating a database and its schema costs ~0.3 s, several
  hundred times per session, so this session keeps a few such databases and resets one between tests
  (:class:`_Pool`) instead: every row deleted, ``asynctrack_meta`` as the store wrote it, the identity
  sequences restarted and every other connection to it ended (what ``DROP DATABASE ... WITH (FORCE)`` did).
  A database whose schema a test changed is dropped, not reused. :func:`drop_pooled_databases` drops them
  all at the end of the session (``tests/conftest.py``). Their commits do not wait for the WAL to reach
  the disk (``synchronous_commit = off``): what the tests read is the same, a commit costs ~0.6 ms not ~5.

``STORE_BACKENDS`` parametrizes a store fixture over the embedded store and PostgreSQL; the PostgreSQL
case is skipped, with one line saying why, when the server is not reachable (``.ci/run`` starts it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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


# The schema as the catalogue describes it: a database whose fingerprint changed is not handed out again.
_FINGERPRINT_SQL = """
SELECT 'column', c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
       || a.attnotnull || ' ' || a.attidentity::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
       || ' ' || coalesce(co.collname, '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = current_schema()
UNION ALL
SELECT 'constraint', conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
UNION ALL
SELECT 'trigger', tgrelid::regclass::text || ' ' || tgname FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = current_schema()::regnamespace
UNION ALL
SELECT 'sequence', relname FROM pg_class WHERE relkind = 'S' AND relnamespace = current_schema()::regnamespace
UNION ALL
SELECT 'routine', proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class _Schema:
    """What a fresh store's database holds, read once from the first one made: its fingerprint, its tables,
    its sequences with their start values and ``asynctrack_meta``'s rows."""

    fingerprint: list[tuple[str, str]]
    tables: list[str]
    sequences: list[tuple[str, int]]
    meta: list[tuple[str, str]]


async def _read_schema(conn) -> _Schema:  # type: ignore[no-untyped-def]
    here = "WHERE schemaname = current_schema() ORDER BY 1"
    return _Schema(
        fingerprint=[(r[0], r[1]) for r in await conn.fetch(_FINGERPRINT_SQL)],
        tables=[r[0] for r in await conn.fetch(f"SELECT tablename FROM pg_tables {here}")],
        sequences=[
            (r[0], r[1])
            for r in await conn.fetch(f"SELECT sequencename, start_value FROM pg_sequences {here}")
        ],
        meta=[(r[0], r[1]) for r in await conn.fetch("SELECT key, value FROM asynctrack_meta ORDER BY 1")],
    )


async def _end_other_connections(conn, name: str) -> None:  # type: ignore[no-untyped-def]
    """End every other session on database ``name`` (a test's leftover pool, a killed worker's)."""
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"  # standard_conforming_strings is on (PostgreSQL's default)


async def _empty(dsn: str, name: str, schema: _Schema | None) -> _Schema | None:
    """Delete every row of database ``name`` and restart its sequences, leaving ``asynctrack_meta`` as the
    store wrote it; returns the schema read (first call) or None when the schema is not ``schema`` any
    more (the database must then be dropped)."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await _end_other_connections(conn, name)
        if schema is None:
            schema = await _read_schema(conn)
        elif [(r[0], r[1]) for r in await conn.fetch(_FINGERPRINT_SQL)] != schema.fingerprint:
            return None
        # One round trip; foreign keys are not checked while replication_role is replica, so tables empty
        # in any order.
        statements = ["BEGIN", "SET LOCAL session_replication_role = replica"]
        statements += [f'DELETE FROM "{table}"' for table in schema.tables]
        statements += [
            f"INSERT INTO asynctrack_meta (key, value) VALUES ({_literal(k)}, {_literal(v)})"
            for k, v in schema.meta
        ]
        # setval(..., false): nextval gives the start value, as after ALTER SEQUENCE ... RESTART (8x faster).
        statements += [
            f"SELECT setval('\"{sequence}\"', {start}, false)" for sequence, start in schema.sequences
        ]
        statements.append("COMMIT")
        await conn.execute(";\n".join(statements))
        return schema
    finally:
        await conn.close()


async def _create_schema(dsn: str) -> None:
    """The store's own schema code run on a new database (then closed: the Default experiment it inserted
    goes with the first reset, so each test's store inserts its own with the test's artifact root)."""
    from asynctrack.store.postgres import PostgresStore

    with tempfile.TemporaryDirectory() as artifacts:
        store = await PostgresStore.open(dsn, artifacts)
        await store.aclose()


class _Pool:
    """Fresh stores' databases of this session on one server: made on demand, reset and reused."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.prefix = f"asynctrack_test_{uuid.uuid4().hex[:12]}_"
        self.made = 0
        self.idle: list[str] = []
        self.schema: _Schema | None = None

    def take(self) -> str:
        if self.idle:
            return self.idle.pop()
        self.made += 1
        name = f"{self.prefix}{self.made}"
        _run(_admin, f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'", self.host, self.port)
        try:
            # A commit returns before its WAL reaches the disk (0.6 ms instead of 4-5 ms here): only a crash
            # of the PostgreSQL server could lose one, and these tests never crash it (test_faults.py
            # does, on a cluster and database of its own). What every session sees is unchanged.
            _run(_admin, f'ALTER DATABASE "{name}" SET synchronous_commit = off', self.host, self.port)
            _run(_create_schema, uri(name, self.host, self.port))
            self._reset(name)
        except BaseException:
            self._drop(name)
            raise
        return name

    def give_back(self, name: str) -> None:
        try:
            reusable = self._reset(name)
        except Exception:
            reusable = False
        if reusable:
            self.idle.append(name)
        else:
            self._drop(name)

    def _reset(self, name: str) -> bool:
        schema = _run(_empty, uri(name, self.host, self.port), name, self.schema)
        if schema is None:
            return False
        self.schema = schema
        return True

    def _drop(self, name: str) -> None:
        _run(_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', self.host, self.port)

    def close(self) -> None:
        while self.idle:
            self._drop(self.idle.pop())


_pools: dict[tuple[str, int], _Pool] = {}


def drop_pooled_databases() -> None:
    """Drop the databases :func:`backend_uri` kept for reuse (at the end of the session)."""
    while _pools:
        _pools.popitem()[1].close()


@contextmanager
def fresh_store_database(host: str = HOST, port: int = PORT) -> Iterator[str]:
    """The URI of a database with the store's current schema and no rows, for the block (see the module
    docstring: reset and reused, not made anew)."""
    pool = _pools.get((host, port))
    if pool is None:
        pool = _pools[(host, port)] = _Pool(host, port)
    name = pool.take()
    try:
        yield uri(name, host, port)
    finally:
        pool.give_back(name)


@contextmanager
def backend_uri(backend: str, directory: str) -> Iterator[str]:
    """A tracking URI of a fresh store of ``backend``: a SQLite file in ``directory``, or a database with
    the current schema and no rows (:func:`fresh_store_database`)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory}/store.db"
        return
    require()
    with fresh_store_database() as u:
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
