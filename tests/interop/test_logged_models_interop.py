"""MLflow 3 logged models against the real MLflow 3.17.2 (its package in its own venv, and ``mlflow server``):
``logged_models_workload.py`` four ways (official client -> mlflow server as the reference, official
client -> asynctrack server, asynctrack -> mlflow server, asynctrack -> asynctrack server), every answer
equal field by field (ids and times aside), bad requests with MLflow's status and error code."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import ServerProcess, asynctrack_server, mlflow_python, mlflow_server, running

# Every test here starts an official mlflow server (~20 s on 2 cores).
pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def mlflow_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = mlflow_server(tmp_path_factory.mktemp("mlflow-lm"))
    server.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def asynctrack_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(asynctrack_server(tmp_path_factory.mktemp("asynctrack-lm"))) as server:
        yield server


def _workload(client: str, url: str, prefix: str, out: Path) -> dict[str, Any]:
    python = str(mlflow_python()) if client == "mlflow" else sys.executable
    done = subprocess.run(
        [python, str(HERE / "logged_models_workload.py"), client, url, prefix, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def test_logged_models_four_ways(
    mlflow_srv: ServerProcess, asynctrack_srv: ServerProcess, tmp_path: Path
) -> None:
    reference = _workload("mlflow", mlflow_srv.url, "ref", tmp_path / "ref.json")
    assert reference["models"]["alpha"]["status"] == "READY" and reference["search"]["metrics.acc > 0.6"]
    for label, client, url in (
        ("official client -> asynctrack server", "mlflow", asynctrack_srv.url),
        ("asynctrack -> mlflow server", "asynctrack", mlflow_srv.url),
        ("asynctrack -> asynctrack server", "asynctrack", asynctrack_srv.url),
    ):
        got = _workload(client, url, label.replace(" ", "-"), tmp_path / f"{client}-{abs(hash(label))}.json")
        for part in ("models", "run_metrics", "search", "order", "datasets", "pages"):
            assert got[part] == reference[part], (label, part)
        for case, (status, code) in reference["errors"].items():
            got_status, got_code = got["errors"][case]
            if status >= 500:  # MLflow fails internally; asynctrack answers a client error instead
                assert got_status < 500 and got_code == "INVALID_PARAMETER_VALUE", (label, case, got)
                continue
            assert (got_status, got_code) == (status, code), (label, case)
