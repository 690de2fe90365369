"""Fixtures for the logged-model tests: a fresh store of each backend (embedded SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from loops import PRODUCTION_LOOP
from postgres_db import STORE_BACKENDS, backend_uri, open_test_store

from asynctrack.store import AbstractStore


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP


@pytest.fixture(params=STORE_BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[AbstractStore]:  # type: ignore[no-untyped-def]
    with backend_uri(request.param, str(tmp_path)) as uri:
        s = await open_test_store(uri, str(tmp_path / "artifacts"))
        try:
            yield s
        finally:
            await s.aclose()
