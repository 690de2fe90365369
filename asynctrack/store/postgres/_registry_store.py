"""The model registry of the PostgreSQL store: the shared SQL registry (``store/_registry``) driven over
asyncpg, in the store's pooled connections and retried transactions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import asyncpg

from asynctrack.store._registry import POSTGRES, Conflict, Fetch, SqlOp, SqlRegistry
from asynctrack.store._registry._steps import dollar_placeholders

__all__ = ["PostgresRegistry", "drive"]

T = TypeVar("T")


async def drive(conn: asyncpg.Connection, op: Callable[..., SqlOp[T]], *args: Any) -> T:
    """Run a registry operation on ``conn``: each step executed (``?`` as ``$n``), its rows sent back as
    tuples, a unique-key violation thrown in as :class:`Conflict` (PostgreSQL has then aborted the
    transaction: the operation raises, it runs no further statement)."""
    gen = op(*args)
    try:
        step = next(gen)
        while True:
            sql = dollar_placeholders(step.sql)
            try:
                if step.fetch is Fetch.MANY:
                    await conn.executemany(sql, step.params)
                    result: object = None
                elif step.fetch is Fetch.ONE:
                    row = await conn.fetchrow(sql, *step.params)
                    result = None if row is None else tuple(row)
                elif step.fetch is Fetch.ALL:
                    result = [tuple(r) for r in await conn.fetch(sql, *step.params)]
                else:
                    await conn.execute(sql, *step.params)
                    result = None
            except asyncpg.UniqueViolationError:
                step = gen.throw(Conflict())
                continue
            step = gen.send(result)
    except StopIteration as stop:
        return cast(T, stop.value)


async def _drive_in_snapshot(conn: asyncpg.Connection, op: Callable[..., SqlOp[T]], *args: Any) -> T:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await drive(conn, op, *args)


class PostgresRegistry(SqlRegistry):
    """Mixed into :class:`~asynctrack.store.postgres.PostgresStore`, which provides ``_write`` (one
    retried transaction on a pooled connection) and ``_read``."""

    registry_dialect = POSTGRES
    _write: Callable[..., Awaitable[object]]
    _read: Callable[..., Awaitable[object]]

    async def _registry_write(self, what: str, op: Callable[..., SqlOp[T]], *args: Any) -> T:
        return cast(T, await self._write(what, drive, op, *args))

    async def _registry_read(self, op: Callable[..., SqlOp[T]], *args: Any, snapshot: bool = False) -> T:
        return cast(T, await self._read(_drive_in_snapshot if snapshot else drive, op, *args))
