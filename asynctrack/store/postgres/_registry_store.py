"""The model registry of the PostgreSQL store: the shared SQL registry (``store/_registry``) driven over
asyncpg, in the store's pooled connections and retried transactions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar, TypeVarTuple, cast

import asyncpg

from asynctrack.store._registry import POSTGRES, Conflict, Fetch, SqlOp, SqlRegistry
from asynctrack.store._registry._steps import dollar_placeholders

__all__ = ["PostgresRegistry", "drive"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


async def drive(conn: asyncpg.Connection, op: Callable[[*Ts], SqlOp[T]], *args: *Ts) -> T:
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


async def _drive_in_snapshot(conn: asyncpg.Connection, op: Callable[[*Ts], SqlOp[T]], *args: *Ts) -> T:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await drive(conn, op, *args)


class PostgresRegistry(SqlRegistry):
    """Mixed into :class:`~asynctrack.store.postgres.PostgresStore`, which provides ``_write`` (one
    retried transaction on a pooled connection) and ``_read``."""

    registry_dialect = POSTGRES

    if TYPE_CHECKING:  # provided by the store

        async def _write(
            self, what: str, fn: Callable[[asyncpg.Connection, *Ts], Awaitable[T]], *args: *Ts
        ) -> T: ...

        async def _read(self, fn: Callable[[asyncpg.Connection, *Ts], Awaitable[T]], *args: *Ts) -> T: ...

    async def _registry_write(self, what: str, op: Callable[[*Ts], SqlOp[T]], *args: *Ts) -> T:
        return await self._write(what, drive, op, *args)

    async def _registry_read(self, op: Callable[[*Ts], SqlOp[T]], *args: *Ts, snapshot: bool = False) -> T:
        return await self._read(_drive_in_snapshot if snapshot else drive, op, *args)
