"""Fixtures for artifact tests: a client and a run in a fresh SQLite store (``tmp_tracking``), the run's
artifact directory, and an active run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient


@pytest.fixture
def client(tmp_tracking: str) -> MlflowClient:
    return MlflowClient()


@pytest.fixture
def run_id(client: MlflowClient) -> str:
    return client.create_run("0").info.run_id


@pytest.fixture
def artifact_dir(client: MlflowClient, run_id: str) -> Path:
    """The run's artifact directory (created here, so its creation does not count as a change outside)."""
    uri = client.get_run(run_id).info.artifact_uri
    assert uri is not None
    Path(uri).mkdir(parents=True, exist_ok=True)
    return Path(uri)


@pytest.fixture
def active_run(tmp_tracking: str) -> Iterator[mlflow.ActiveRun]:
    with mlflow.start_run() as run:
        yield run
