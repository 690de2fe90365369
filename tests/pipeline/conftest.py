"""Fixtures for pipeline tests: a fresh SQLite store per test, closed (and checked) afterwards."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def db(tmp_tracking: str) -> Path:
    """The SQLite file behind ``tmp_tracking`` (a new store per test, closed afterwards)."""
    return Path(tmp_tracking.removeprefix("sqlite:///"))


class Locker:
    """Holds SQLite's write lock from another connection, as a second process would."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> Locker:
        self._conn.execute("BEGIN EXCLUSIVE")
        return self

    def release(self) -> None:
        with self._lock:
            if not self._closed and self._conn.in_transaction:
                self._conn.execute("COMMIT")

    def __exit__(self, *exc: object) -> None:
        self.release()
        with self._lock:
            self._closed = True
            self._conn.close()


@pytest.fixture
def locker(db: Path) -> Iterator[type[Locker]]:
    """``with locker(db): ...`` keeps the store's writes waiting."""
    yield Locker
