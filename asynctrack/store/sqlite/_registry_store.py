"""The model registry of the embedded SQLite store: the shared SQL registry (``store/_registry``) driven in
the store's connection threads, over the same database file as the tracking data."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, TypeVarTuple, cast

from asynctrack.store._registry import SQLITE, Conflict, Fetch, SqlOp, SqlRegistry
from asynctrack.store.sqlite._search import snapshot

__all__ = ["SqliteRegistry", "drive"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def drive(conn: sqlite3.Connection, op: Callable[[*Ts], SqlOp[T]], *args: *Ts) -> T:
    """Run a registry operation on ``conn`` (in its thread): each step executed, its rows sent back, a
    unique-key violation thrown in as :class:`Conflict`."""
    gen = op(*args)
    try:
        step = next(gen)
        while True:
            try:
                if step.fetch is Fetch.MANY:
                    conn.executemany(step.sql, step.params)
                    result: object = None
                else:
                    cur = conn.execute(step.sql, step.params)
                    if step.fetch is Fetch.ONE:
                        result = cur.fetchone()
                    elif step.fetch is Fetch.ALL:
                        result = cur.fetchall()
                    else:
                        result = None
            except sqlite3.IntegrityError:
                step = gen.throw(Conflict())
                continue
            step = gen.send(result)
    except StopIteration as stop:
        return cast(T, stop.value)


def _drive_in_snapshot(conn: sqlite3.Connection, op: Callable[[*Ts], SqlOp[T]], *args: *Ts) -> T:
    with snapshot(conn):
        return drive(conn, op, *args)


class SqliteRegistry(SqlRegistry):
    """Mixed into :class:`~asynctrack.store.sqlite.SqliteStore`, which provides ``_write`` (one retried
    IMMEDIATE transaction) and ``_read`` (the reader connection)."""

    registry_dialect = SQLITE

    if TYPE_CHECKING:  # provided by the store

        async def _write(self, what: str, fn: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> T: ...

        async def _read(self, fn: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> T: ...

    async def _registry_write(self, what: str, op: Callable[[*Ts], SqlOp[T]], *args: *Ts) -> T:
        return await self._write(what, drive, op, *args)

    async def _registry_read(self, op: Callable[[*Ts], SqlOp[T]], *args: *Ts, snapshot: bool = False) -> T:
        return await self._read(_drive_in_snapshot if snapshot else drive, op, *args)
