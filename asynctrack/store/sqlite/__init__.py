"""The embedded SQLite store (aiosqlite)."""

from __future__ import annotations

from asynctrack.store.sqlite._store import SqliteStore

__all__ = ["SqliteStore"]
