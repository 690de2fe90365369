"""The embedded store's reads in the caller's thread (see ``store/_here.py``): one plain ``sqlite3``
connection per calling thread, opened on its first read, all closed with the store.

WAL mode lets these readers run beside the store's writer and other processes. A read that meets a
locked or busy database is not retried here: it raises :class:`~asynctrack.store._here.NotHere` and runs
on the loop, where the store's retries apply.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

from asynctrack.store._here import NotHere
from asynctrack.store._protocol import StoreUnavailable
from asynctrack.store.sqlite._connection import configure, guarded, map_error

__all__ = ["HereReaders"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class HereReaders:
    """Per-thread read connections to one database file."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self._busy = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy, check_same_thread=False)
        try:
            configure(conn, "", None)
        except BaseException:
            conn.close()
            raise
        with self._lock:
            if self._closed:
                conn.close()
                raise NotHere
            self._all.append(conn)
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def read(self, fn: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> T:
        """``fn(connection, *args)`` on this thread's connection; driver errors mapped, a busy or
        unavailable database (or a closed store) raising NotHere."""
        if self._closed:
            raise NotHere
        try:
            return guarded(fn, self._connection(), *args)
        except sqlite3.Error as exc:
            error = map_error(exc, self.path)
            if isinstance(error, StoreUnavailable):
                raise NotHere from exc
            raise error from exc

    def close(self) -> None:
        """Close every thread's connection (the store is closing)."""
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
