"""Fixtures for search tests: a fresh SqliteStore per test.

``store`` is parametrized with the search indexes (``SEARCH_DDL``, created with the schema) and without
them (dropped, as in a database from before them): the indexes change query plans (the segmented,
index-ordered reads), never results, and both must give MLflow's answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from search_helpers import drop_search_indexes

from asynctrack.store.sqlite import SqliteStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=[True, False], ids=["indexed", "no-search-indexes"])
def with_search_indexes(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
async def store(tmp_path: Path, with_search_indexes: bool) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(str(tmp_path / "search.db"), str(tmp_path / "artifacts"))
    if not with_search_indexes:
        drop_search_indexes(s.path)
    try:
        yield s
    finally:
        await s.aclose()


@pytest.fixture
def portal_store(tmp_path: Path) -> Iterator[tuple[BlockingPortal, SqliteStore]]:
    """A store living in an event loop on another thread, for synchronous (Hypothesis) tests."""
    with start_blocking_portal("asyncio") as portal:
        s = portal.call(SqliteStore.open, str(tmp_path / "prop.db"), str(tmp_path / "artifacts"))
        try:
            yield portal, s
        finally:
            portal.call(s.aclose)
