"""Fixtures for the web UI's data API: one real ``asynctrack server`` on loopback over a SQLite file (with
artifacts served), shared by the module's tests (each makes its own experiments), and an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from servers import ServerProcess, asynctrack_server, running


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("ui-server")
    server = asynctrack_server(tmp, extra=["--serve-artifacts", "--artifacts-destination", str(tmp / "dest")])
    with running(server) as srv:
        yield srv


@pytest.fixture
def client(ui_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui_server.url, timeout=60) as c:
        yield c
