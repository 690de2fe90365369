"""The PostgreSQL store's connections: the URI's options, one bounded asyncpg pool per store, and
asyncpg's errors mapped to MLflow's.

Options come from the URI's query string (they win) or the environment:

- ``pool_size`` / ``ASYNCTRACK_POSTGRES_POOL_SIZE`` (default 10): connections this process may hold;
- ``statement_cache_size`` / ``ASYNCTRACK_POSTGRES_STATEMENT_CACHE_SIZE`` (default 100): asyncpg's
  prepared statements per connection; ``0`` for pgbouncer in transaction mode (``pgbouncer=true`` is
  the same), where a prepared statement may land on another server connection;
- ``statement_timeout`` / ``ASYNCTRACK_POSTGRES_STATEMENT_TIMEOUT`` (seconds, default 60): the server
  cancels a statement running longer (TEMPORARILY_UNAVAILABLE, never a hang);
- ``acquire_timeout`` / ``ASYNCTRACK_POSTGRES_ACQUIRE_TIMEOUT`` (seconds, default 30): how long a call
  waits for a free pooled connection before it fails with TEMPORARILY_UNAVAILABLE.

Any other query option (``sslmode``, ``application_name``...) goes to asyncpg unchanged.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from asynctrack._redact import redact
from asynctrack.environment import (
    ASYNCTRACK_POSTGRES_ACQUIRE_TIMEOUT,
    ASYNCTRACK_POSTGRES_POOL_SIZE,
    ASYNCTRACK_POSTGRES_STATEMENT_CACHE_SIZE,
    ASYNCTRACK_POSTGRES_STATEMENT_TIMEOUT,
)
from asynctrack.exceptions import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_EXHAUSTED,
    TEMPORARILY_UNAVAILABLE,
    MlflowException,
)
from asynctrack.store._protocol import StoreUnavailable

__all__ = ["PoolConfig", "map_error", "open_pool", "pooled"]


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """How to reach the database and how many connections to hold."""

    dsn: str
    where: str  # the URI with its password redacted, for messages
    pool_size: int
    statement_cache_size: int
    statement_timeout: float
    acquire_timeout: float

    @classmethod
    def from_uri(cls, uri: str) -> PoolConfig:
        parts = urllib.parse.urlsplit(uri)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        ours = {"pool_size", "statement_cache_size", "statement_timeout", "acquire_timeout", "pgbouncer"}
        options = {k: v for k, v in query if k in ours}
        rest = [(k, v) for k, v in query if k not in ours]
        dsn = urllib.parse.urlunsplit(parts._replace(scheme="postgresql", query=urllib.parse.urlencode(rest)))
        where = redact(urllib.parse.urlunsplit(parts._replace(query="")))

        def number(name: str, default: float, integer: bool, minimum: float) -> float:
            raw = options.get(name)
            if raw is None:
                return default
            try:
                value = int(raw) if integer else float(raw)
            except ValueError:
                value = None
            if value is None or not value >= minimum:
                kind = "an integer" if integer else "a number"
                raise MlflowException(
                    f"Invalid PostgreSQL URI option {name}={raw!r} in {where}: "
                    f"expected {kind} >= {minimum:g}",
                    error_code=INVALID_PARAMETER_VALUE,
                )
            return value

        cache = int(number("statement_cache_size", ASYNCTRACK_POSTGRES_STATEMENT_CACHE_SIZE.get(), True, 0))
        if options.get("pgbouncer", "").lower() in ("1", "true", "yes"):
            cache = 0
        return cls(
            dsn=dsn,
            where=where,
            pool_size=int(number("pool_size", ASYNCTRACK_POSTGRES_POOL_SIZE.get(), True, 1)),
            statement_cache_size=cache,
            statement_timeout=number(
                "statement_timeout", ASYNCTRACK_POSTGRES_STATEMENT_TIMEOUT.get(), False, 0
            ),
            acquire_timeout=number("acquire_timeout", ASYNCTRACK_POSTGRES_ACQUIRE_TIMEOUT.get(), False, 0),
        )


# SQLSTATE classes and codes that mean "try again": connection exceptions (08), insufficient resources
# (53: too many connections, out of memory or disk), operator intervention (57: admin shutdown, crash
# shutdown, cannot connect now, query canceled by statement_timeout), and concurrency aborts.
_CONTENTION = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available
_TRANSIENT_CLASSES = ("08", "53", "57", "58")


def map_error(exc: BaseException, where: str) -> MlflowException:
    """An MLflow error for an asyncpg or socket failure: :class:`StoreUnavailable` for what a retry may
    cure (with ``contention`` for concurrency aborts), a permanent error with a clear message otherwise."""
    if isinstance(exc, MlflowException):
        return exc
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        if state in _CONTENTION:
            return StoreUnavailable(f"PostgreSQL at {where}: {exc} (retried)", contention=True)
        if state == "57014":
            # Not retried (not StoreUnavailable): the same statement would run as long again.
            return MlflowException(
                f"PostgreSQL at {where} cancelled a statement that ran past the statement timeout "
                f"(statement_timeout / ASYNCTRACK_POSTGRES_STATEMENT_TIMEOUT): {exc}",
                error_code=TEMPORARILY_UNAVAILABLE,
            )
        if state.startswith(_TRANSIENT_CLASSES):
            return StoreUnavailable(f"PostgreSQL at {where} is unavailable: {exc}")
        if state.startswith("28"):
            return MlflowException(f"PostgreSQL at {where} refused the credentials: {exc}")
        if state == "3D000":
            return MlflowException(
                f"PostgreSQL at {where}: {exc}; create it first (CREATE DATABASE ...)",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if state in ("22021", "22P05"):
            # A text value PostgreSQL cannot store: a NUL character (SQLite stores it; PostgreSQL's text
            # cannot hold one). The client's value, so the client's error, not the server's.
            return MlflowException(
                f"A value holds a character PostgreSQL cannot store (a NUL character, \\x00): {exc}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if state == "54000":  # program limit exceeded (e.g. an index row too large)
            return MlflowException(f"PostgreSQL at {where}: {exc}", error_code=RESOURCE_EXHAUSTED)
        return MlflowException(f"PostgreSQL at {where} failed: {exc}", error_code=INTERNAL_ERROR)
    if isinstance(exc, asyncpg.InterfaceError | OSError | socket.gaierror | asyncio.TimeoutError | EOFError):
        what = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc) or type(exc).__name__
        return StoreUnavailable(f"PostgreSQL at {where} is unreachable: {what}")
    return MlflowException(f"PostgreSQL at {where} failed: {exc!r}", error_code=INTERNAL_ERROR)


async def _reset(conn: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool: nothing, unless a transaction is still open
    (an error cut its block short), which asyncpg's full reset rolls back.

    asyncpg's default reset costs a round trip per use (``RESET ALL``, ``UNLISTEN *``, ``CLOSE ALL``, advisory
    unlocks): this store changes no session state after connecting (its settings are startup parameters),
    listens to nothing, and takes advisory locks and cursors inside transactions only, which end with them.
    """
    if conn.is_in_transaction():
        await conn.reset()


async def open_pool(config: PoolConfig) -> asyncpg.Pool:
    """A pool of at most ``pool_size`` connections, one opened now (so a wrong URI fails here)."""
    # Startup parameters, so that they are the session's defaults (a RESET ALL keeps them): UTC, so that
    # nothing depends on the server's time zone.
    settings = {"application_name": "asynctrack", "TimeZone": "UTC"}
    if config.statement_timeout > 0:
        settings["statement_timeout"] = str(int(config.statement_timeout * 1000))
    try:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            config.dsn,
            min_size=1,
            max_size=config.pool_size,
            statement_cache_size=config.statement_cache_size,
            server_settings=settings,
            timeout=max(config.acquire_timeout, 1.0),
            command_timeout=None,
            max_inactive_connection_lifetime=300.0,
            reset=_reset,
        )
    except Exception as exc:  # asyncpg raises many types; every one is mapped
        raise map_error(exc, config.where) from exc
    return pool


@asynccontextmanager
async def pooled(pool: asyncpg.Pool, config: PoolConfig) -> AsyncIterator[asyncpg.Connection]:
    """A connection from the pool for the block; errors inside are mapped (see :func:`map_error`). A full
    pool for longer than ``acquire_timeout`` is TEMPORARILY_UNAVAILABLE, not a wait for ever."""
    try:
        conn = await pool.acquire(timeout=config.acquire_timeout or None)
    except TimeoutError as exc:
        raise StoreUnavailable(
            f"PostgreSQL at {config.where}: no pooled connection became free within "
            f"{config.acquire_timeout:g} s (pool_size={config.pool_size})"
        ) from exc
    except Exception as exc:
        raise map_error(exc, config.where) from exc
    try:
        try:
            yield conn
        except MlflowException:
            raise
        except Exception as exc:
            raise map_error(exc, config.where) from exc
    finally:
        try:
            await pool.release(conn)
        except Exception:  # a broken connection is discarded by the pool; nothing else to do
            conn.terminate()
