"""The registry's client tests run on both SQL stores: ``tmp_tracking`` here is the root fixture's (a
clean environment in ``tmp_path``) pointed at a SQLite file or at a new PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from postgres_db import STORE_BACKENDS, backend_uri

import asynctrack
from asynctrack.pipeline import close_pipelines


@pytest.fixture(params=STORE_BACKENDS)
def tmp_tracking(request: pytest.FixtureRequest, tmp_tracking: str, tmp_path: object) -> Iterator[str]:
    with backend_uri(request.param, str(tmp_path)) as uri:
        asynctrack.set_tracking_uri(uri)
        try:
            yield uri
        finally:
            while asynctrack.active_run() is not None:
                asynctrack.end_run()
            # Before the database is dropped: every pipeline flushed and its connections closed.
            assert close_pipelines(timeout=10) == []
