"""Fixtures for the artifact API through real servers on loopback: ``asynctrack server --serve-artifacts``
(two workers, so multipart steps and uploads land on different processes), the official ``mlflow server``
with ``--serve-artifacts`` (MLflow 3.17.2), and the source files the workloads log."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from artifact_server_helpers import MiB, serving_args
from servers import ServerProcess, asynctrack_server, mlflow_server, running


@pytest.fixture(scope="session")
def at_dest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The asynctrack server's artifacts destination, inside a directory of its own (its siblings are what
    traversal tests watch)."""
    root = tmp_path_factory.mktemp("at-artifacts")
    (root / "dest").mkdir()
    return root / "dest"


@pytest.fixture(scope="session")
def at_server(tmp_path_factory: pytest.TempPathFactory, at_dest: Path) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("at-server")
    with running(asynctrack_server(tmp, workers=2, extra=serving_args(at_dest))) as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_dest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow-artifacts")


@pytest.fixture(scope="session")
def mlflow_artifacts_server(
    tmp_path_factory: pytest.TempPathFactory, mlflow_dest: Path
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("mlflow-server")
    extra = ["--default-artifact-root", "mlflow-artifacts:/", "--serve-artifacts"]
    server = mlflow_server(tmp, extra=[*extra, "--artifacts-destination", str(mlflow_dest)]).start()
    try:
        yield server
    finally:
        server.kill()  # its data is thrown away; a graceful stop takes mlflow about 10 s


@pytest.fixture
def http(at_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=at_server.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``big.bin`` (6 MiB and 7 bytes: 7 parts of 1 MiB when multipart is on) and a tree with nested,
    unicode and space-holding names and an empty directory."""
    root = tmp_path_factory.mktemp("sources")
    (root / "big.bin").write_bytes(os.urandom(6 * MiB + 7))
    tree = root / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "with space").mkdir()
    (tree / "empty").mkdir()
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    (tree / "sub" / "deeper" / "c.txt").write_text("c" * 100)
    (tree / "with space" / "ünïcödé.txt").write_text("ü")
    return root
