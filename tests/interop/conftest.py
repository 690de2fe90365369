"""The interop suites' asynctrack servers: one per backend store (the embedded SQLite file and
PostgreSQL), started when a test first asks for it and shared by the module's tests, so every workload the
official client runs against ``asynctrack server`` runs over both stores."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from postgres_db import backend_uri
from servers import ServerProcess, asynctrack_server, running


@pytest.fixture(scope="module")
def asynctrack_on(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], ServerProcess]]:
    """``asynctrack_on("sqlite")`` / ``asynctrack_on("postgres")``: a running ``asynctrack server`` (two
    workers) on a fresh store of that backend, its artifacts under a directory of its own."""
    servers: dict[str, ServerProcess] = {}
    with contextlib.ExitStack() as stack:

        def get(backend: str) -> ServerProcess:
            if backend not in servers:
                tmp = tmp_path_factory.mktemp(f"asynctrack-{backend}")
                uri = stack.enter_context(backend_uri(backend, str(tmp)))
                server = asynctrack_server(
                    tmp,
                    backend_store_uri=uri,
                    workers=2,
                    extra=["--default-artifact-root", str(tmp / "artifacts")],
                )
                servers[backend] = stack.enter_context(running(server))
            return servers[backend]

        yield get
