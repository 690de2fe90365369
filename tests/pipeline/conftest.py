"""Fixtures for pipeline tests: a fresh SQLite store per test, closed (and checked) afterwards."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import asynctrack as mlflow
from asynctrack.pipeline import close_pipelines


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A tracking URI on a new SQLite file; every pipeline is flushed and closed after the test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_ENABLE_ASYNC_LOGGING", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = tmp_path / "track.db"
    mlflow.set_tracking_uri(f"sqlite:///{path}")
    yield path
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    reports = close_pipelines(timeout=10)
    assert reports == [], reports


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
