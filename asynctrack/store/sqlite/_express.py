"""The embedded store's express writer: a plain ``sqlite3`` connection written from the caller's thread.

The pipeline's express lane (``pipeline/_express.py``) hands a synchronous call's batch here when nothing of
its pipeline is queued or in flight, and holds its gate for the whole call, so this connection is used by
one thread at a time and never while the worker writes (``check_same_thread`` is off for that reason: the
calling thread changes from call to call). The transaction is the worker's: the same ``write_batch`` inside
the same ``BEGIN IMMEDIATE`` ... ``COMMIT``, under the same fork guard, with the same error mapping; only
the thread differs. A locked database waits at most the busy timeout (``ASYNCTRACK_SQLITE_BUSY_TIMEOUT``)
in SQLite's own busy handler and is then reported as transient, and the pipeline sends the call through the
queue, whose worker retries with back-off.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from asynctrack.store._protocol import BatchWrite
from asynctrack.store.sqlite._connection import configure, guarded, map_error, transaction
from asynctrack.store.sqlite._writes import write_batch

__all__ = ["SqliteExpressWriter"]


def _write_all(conn: sqlite3.Connection, writes: Sequence[BatchWrite]) -> None:
    for w in writes:
        write_batch(conn, w.run_id, w.metrics, w.params, w.tags)


class SqliteExpressWriter:
    """One connection to the store's file, opened on first use (WAL mode, like every other)."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self._busy = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy, check_same_thread=False)
        try:
            configure(conn, "", None)
        except BaseException:
            conn.close()
            raise
        return conn

    def write(self, writes: Sequence[BatchWrite]) -> None:
        """Every write in one IMMEDIATE transaction (all or nothing); driver errors mapped."""
        if self._closed:
            raise RuntimeError("the express writer is closed")
        try:
            conn = self._conn
            if conn is None:
                conn = self._conn = guarded(self._connect)
            guarded(transaction, conn, _write_all, writes)
        except sqlite3.Error as exc:
            raise map_error(exc, self.path) from exc

    def close(self) -> None:
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                guarded(conn.close)
            except sqlite3.Error:
                pass
