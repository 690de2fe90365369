"""Fixtures for search tests: a fresh store per test, on each backend.

``store`` is the embedded store with the search indexes (``SEARCH_DDL``, created with the schema) and
without them (dropped, as in a database from before them): the indexes change query plans (the segmented,
index-ordered reads), never results, and both must give MLflow's answers; and the PostgreSQL store, which
must give the same answers (skipped when PostgreSQL is not reachable).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from loops import PRODUCTION_LOOP
from postgres_db import STORE_BACKENDS, backend_uri, open_test_store
from search_helpers import drop_search_indexes

from asynctrack.store import AbstractStore

# The developer's loop (``pytest -m "not slow"``) runs every case of these tables on SQLite and the first
# few of each test on PostgreSQL; the other PostgreSQL cases (a fresh database each: a fifth of the
# loop's time) are marked slow, so ``pytest`` (CI) still runs them all.
_TABLES_SAMPLED_ON_POSTGRES = {
    "test_search_doc_examples.py",
    "test_search_errors.py",
    "test_search_paging.py",
}
_POSTGRES_CASES_IN_LOOP = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    for item in items:
        if item.path.name not in _TABLES_SAMPLED_ON_POSTGRES or not isinstance(item, pytest.Function):
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("store_variant") != "postgres":
            continue
        test = (item.path.name, item.originalname)
        seen[test] += 1
        if seen[test] > _POSTGRES_CASES_IN_LOOP:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP  # asyncio on uvloop, in debug mode: the loop asynctrack runs (tests/loops.py)


@pytest.fixture(params=["sqlite", "sqlite-no-search-indexes", "postgres"])
def store_variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(tmp_path: Path, store_variant: str) -> AsyncIterator[AbstractStore]:
    backend = "postgres" if store_variant == "postgres" else "sqlite"
    with backend_uri(backend, str(tmp_path)) as uri:
        s = await open_test_store(uri, str(tmp_path / "artifacts"))
        if store_variant == "sqlite-no-search-indexes":
            drop_search_indexes(s.path)
        try:
            yield s
        finally:
            await s.aclose()


@pytest.fixture(params=STORE_BACKENDS)
def portal_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[BlockingPortal, AbstractStore]]:
    """A store living in an event loop on another thread, for synchronous (Hypothesis) tests."""
    with backend_uri(request.param, str(tmp_path)) as uri, start_blocking_portal("asyncio") as portal:
        s = portal.call(open_test_store, uri, str(tmp_path / "artifacts"))
        try:
            yield portal, s
        finally:
            portal.call(s.aclose)
