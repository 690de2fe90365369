"""Fixtures of tests/db: the asyncio backend, and MLflow's database as written by the real mlflow."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from loops import PRODUCTION_LOOP
from servers import mlflow_python


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP  # asyncio on uvloop, in debug mode: the loop asynctrack runs (tests/loops.py)


@pytest.fixture(scope="session")
def mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mlflow.db`` written by the real mlflow 3.17.2 (tests/db/mlflow_writer.py in its venv). Shared by
    the session: the tests only read it, and check by its hash that it stays unmodified."""
    directory = tmp_path_factory.mktemp("mlflow-db")
    path = directory / "mlflow.db"
    done = subprocess.run(
        [str(mlflow_python()), str(Path(__file__).parent / "mlflow_writer.py"), f"sqlite:///{path}"],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return path
