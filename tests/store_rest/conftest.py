"""Fixtures for REST store tests: one official ``mlflow server`` for the session, short retries, clean
HTTP settings, and a fresh ``RestStore`` per test.

Each test makes its own experiments and runs (unique names), so tests sharing the server do not see each
other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from loops import PRODUCTION_LOOP
from servers import ServerProcess, mlflow_server

import asynctrack
from asynctrack import fluent
from asynctrack.pipeline import close_pipelines
from asynctrack.store.rest import RestStore

# Everything that changes where or how a REST store connects; none may leak in from the shell.
HTTP_VARS = (
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER",
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "MLFLOW_ENABLE_ASYNC_LOGGING",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
)


@pytest.fixture(autouse=True)
def http_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No inherited HTTP settings; retries short (2 retries, no back-off beyond 20 ms of jitter)."""
    for name in HTTP_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.02")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP  # asyncio on uvloop, in debug mode: the loop asynctrack runs (tests/loops.py)


@pytest.fixture(scope="session")
def mlflow_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The official mlflow==3.17.2 server on SQLite, for the whole session."""
    server = mlflow_server(tmp_path_factory.mktemp("mlflow-server")).start()
    try:
        yield server
    finally:
        server.kill()  # its data is thrown away; a graceful stop takes mlflow about 10 s


@pytest.fixture
def mlflow_url(mlflow_srv: ServerProcess) -> str:
    return mlflow_srv.url


@pytest.fixture
async def store(mlflow_url: str) -> AsyncIterator[RestStore]:
    s = await RestStore.open(mlflow_url)
    try:
        yield s
    finally:
        await s.aclose()


@pytest.fixture
def unique() -> str:
    """A fresh suffix for experiment names on the shared server."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def rest_tracking(mlflow_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[str]:
    """The fluent API logs to the mlflow server through ``MLFLOW_TRACKING_URI``; pipelines are flushed,
    closed and checked (nothing left unwritten) afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    monkeypatch.setattr(fluent, "_last_active_run_id", None)
    monkeypatch.setattr(fluent, "_last_active_client", None)
    asynctrack.set_tracking_uri(None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_url)
    try:
        yield mlflow_url
    finally:
        while asynctrack.active_run() is not None:
            asynctrack.end_run()
        assert close_pipelines(timeout=20) == []
