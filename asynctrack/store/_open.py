"""Open the store a :class:`~asynctrack._tracking_uri.StoreLocation` names."""

from __future__ import annotations

from asynctrack._tracking_uri import StoreLocation
from asynctrack.store._protocol import AbstractStore
from asynctrack.store.sqlite import SqliteStore

__all__ = ["open_store"]


async def open_store(location: StoreLocation) -> AbstractStore:
    """A connected store for ``location`` (only the embedded SQLite store exists so far)."""
    return await SqliteStore.open(location.db_path, location.artifact_root)
