"""Fixtures for the store methods behind the web UI: a fresh SQLite store per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asynctrack.store.sqlite import SqliteStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[SqliteStore]:  # type: ignore[no-untyped-def]
    s = await SqliteStore.open(str(tmp_path / "store.db"), str(tmp_path / "artifacts"))
    try:
        yield s
    finally:
        await s.aclose()
