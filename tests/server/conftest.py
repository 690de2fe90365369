"""Fixtures for tracking-server tests: real ``asynctrack server`` processes on loopback, and an HTTP client.

``server`` is one single-worker server per backend store for the whole session (the embedded store, and
PostgreSQL when it is reachable): every test using it runs against both. Each test makes its own
experiments and runs, so tests do not see each other's data; tests that need other settings start their own
with ``server_helpers.make_server``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from postgres_db import STORE_BACKENDS, backend_uri
from server_helpers import make_server
from servers import ServerProcess, running


@pytest.fixture(scope="session", params=STORE_BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("server")
    with backend_uri(request.param, str(tmp)) as uri, running(make_server(tmp, backend_store_uri=uri)) as srv:
        yield srv


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
