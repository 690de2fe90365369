"""``asynctrack server`` as a command: defaults follow the client's URI resolution; bad flags fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from server_helpers import call, make_server
from servers import ServerProcess, free_port, running

from asynctrack.client import MlflowClient
from asynctrack.pipeline import close_pipelines


def test_default_backend_store_is_the_clients_tracking_uri(tmp_path: Path) -> None:
    """Without --backend-store-uri the server uses MLFLOW_TRACKING_URI, as the client does: what it
    writes is read back by a client on that URI."""
    uri = f"sqlite:///{tmp_path / 'env.db'}"
    port = free_port()
    argv = make_server(tmp_path).argv
    argv = argv[: argv.index("server") + 1] + ["--port", str(port)]
    env = {"MLFLOW_TRACKING_URI": uri}
    with running(ServerProcess(argv, port, tmp_path / "env.log", env=env)) as srv:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            eid = call(c, "POST", "/experiments/create", {"name": "from-env"})["experiment_id"]
    try:
        assert MlflowClient(tracking_uri=uri).get_experiment_by_name("from-env").experiment_id == eid
    finally:
        assert close_pipelines(timeout=10) == []


@pytest.mark.slow  # a server process per bad argument (~5 s)
def test_bad_arguments_fail_before_serving(tmp_path: Path) -> None:
    """An unusable port or store: the command exits non-zero with a message, without serving."""
    base = [sys.executable, "-m", make_server(tmp_path).argv[2], "server"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
    bad_port = subprocess.run([*base, "--port", "70000"], capture_output=True, text=True, env=env, timeout=60)
    assert bad_port.returncode != 0 and "port number" in bad_port.stderr
    bad_store = subprocess.run(
        [*base, "--port", str(free_port()), "--backend-store-uri", "postgresql://x/y"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad_store.returncode != 0 and "postgresql" in bad_store.stderr
