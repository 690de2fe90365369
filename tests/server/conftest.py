"""Fixtures for tracking-server tests: real ``asynctrack server`` processes on loopback, and an HTTP client.

``server`` is one single-worker server for the whole session (each test makes its own experiments and runs,
so tests do not see each other's data); tests that need other settings start their own with
``server_helpers.make_server``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from server_helpers import make_server
from servers import ServerProcess, running


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(make_server(tmp_path_factory.mktemp("server"))) as srv:
        yield srv


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
