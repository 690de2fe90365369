"""One ``asynctrack server --auth`` for the module's tests (each test makes its own users and experiments)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from auth_helpers import ADMIN, ADMIN_PASSWORD, auth_server, basic, client
from servers import ServerProcess, running


@pytest.fixture(scope="session")
def auth_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth-server")


@pytest.fixture(scope="session")
def server(auth_tmp: Path) -> Iterator[ServerProcess]:
    with running(auth_server(auth_tmp)) as srv:
        yield srv


@pytest.fixture
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server, basic(ADMIN, ADMIN_PASSWORD)) as c:
        yield c
