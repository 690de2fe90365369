"""The embedded store's express writer: a plain ``sqlite3`` connection written from the caller's thread.

The pipeline's express lane (``pipeline/_express.py``) hands a synchronous call's batch here when nothing of
its pipeline is queued or in flight, and holds its gate for the whole call, so this connection is used by
one thread at a time and never while the worker writes (``check_same_thread`` is off for that reason: the
calling thread changes from call to call). The transaction is the worker's: the same ``write_batch`` inside
the same ``BEGIN IMMEDIATE`` ... ``COMMIT``, under the same fork guard, with the same error mapping; only
the thread differs. A locked database waits at most the busy timeout (``ASYNCTRACK_SQLITE_BUSY_TIMEOUT``)
in SQLite's own busy handler and is then reported as transient, and the pipeline sends the call through the
queue, whose worker retries with back-off.

WAL checkpoints are mostly not this connection's job: a checkpoint copies pages into the database file
and fsyncs it, milliseconds that SQLite's automatic checkpoint would charge to whichever synchronous call
crossed the threshold. Every ``CHECKPOINT_EVERY`` writes this writer asks the store to run a PASSIVE
checkpoint in its own writer thread, which does not hold up writers (the fork guard is shared by SQLite
calls, so it does not either). A passive checkpoint cannot restart the WAL while writes keep coming, so
this connection still checkpoints itself past ``FALLBACK_CHECKPOINT_PAGES`` (4 times SQLite's default);
by then the pages are mostly copied already and that checkpoint is short.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from asynctrack.store._protocol import BatchWrite
from asynctrack.store.sqlite._connection import configure, guarded, map_error, transaction
from asynctrack.store.sqlite._writes import write_batch

__all__ = ["CHECKPOINT_EVERY", "SqliteExpressWriter"]

# A one-point write appends about four pages to the WAL: a checkpoint every 256 writes keeps the WAL near
# SQLite's default of 1,000 pages.
CHECKPOINT_EVERY = 256
FALLBACK_CHECKPOINT_PAGES = 4_000


def _write_all(conn: sqlite3.Connection, writes: Sequence[BatchWrite]) -> None:
    for w in writes:
        write_batch(conn, w.run_id, w.metrics, w.params, w.tags)


class SqliteExpressWriter:
    """One connection to the store's file, opened on first use (WAL mode, like every other)."""

    def __init__(
        self, path: str, busy_timeout: float, request_checkpoint: Callable[[], None] | None = None
    ) -> None:
        self.path = path
        self._busy = busy_timeout
        self._request_checkpoint = request_checkpoint
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._writes = 0

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy, check_same_thread=False)
        try:
            configure(conn, "", None)
            if self._request_checkpoint is not None:
                # Checkpoints (a few ms of copying and fsync) are left to the store's writer thread,
                # asked for every CHECKPOINT_EVERY writes; this connection checkpoints itself only past
                # a far larger WAL, should those requests not be served.
                conn.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_CHECKPOINT_PAGES}")
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
        self._writes += 1
        if self._writes % CHECKPOINT_EVERY == 0 and self._request_checkpoint is not None:
            self._request_checkpoint()

    def close(self) -> None:
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                guarded(conn.close)
            except sqlite3.Error:
                pass
