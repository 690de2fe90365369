"""asynctrack's own REST store against ``asynctrack server --auth``: it sends ``MLFLOW_TRACKING_USERNAME``/
``MLFLOW_TRACKING_PASSWORD`` as basic auth and ``MLFLOW_TRACKING_TOKEN`` as a bearer token, and a refusal
is a clear, immediate error (401 and 403 are not retried)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from auth_helpers import API, PASSWORD, grant, new_experiment, new_user, users_cli
from servers import ServerProcess

SCRIPT = r"""
import json, sys, time
import asynctrack
from asynctrack import MlflowClient
from asynctrack.exceptions import MlflowException

uri, readonly = sys.argv[1], sys.argv[2]
out = {}
asynctrack.set_tracking_uri(uri)
client = MlflowClient()
own = client.create_experiment(f"own-{time.time_ns()}")
with asynctrack.start_run(experiment_id=own) as run:
    for step in range(50):
        asynctrack.log_metric("loss", 1.0 / (step + 1), step=step)
    asynctrack.log_param("lr", "0.1")
out["history"] = len(client.get_metric_history(run.info.run_id, "loss"))
start = time.monotonic()
try:
    client.create_run(readonly)
except MlflowException as e:
    out["refused"] = [e.error_code, str(e)[:300], time.monotonic() - start < 30]
print(json.dumps(out))
"""


def _run(server: ServerProcess, env: dict[str, str], readonly: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, server.url, readonly],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_rest_store_with_password_and_token(
    server: ServerProcess, admin: httpx.Client, auth_tmp: Path
) -> None:
    name = new_user(admin, "rest")
    readonly = new_experiment(admin)
    grant(admin, name, readonly, "READ")
    done = _run(server, {"MLFLOW_TRACKING_USERNAME": name, "MLFLOW_TRACKING_PASSWORD": PASSWORD}, readonly)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["history"] == 50
    code, message, quick = out["refused"]
    assert quick and "Permission denied" in message and "403" in message, out["refused"]

    token = users_cli(auth_tmp, "tokens", "create", name).stdout.strip()
    done = _run(server, {"MLFLOW_TRACKING_TOKEN": token}, readonly)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["history"] == 50

    wrong = _run(
        server, {"MLFLOW_TRACKING_USERNAME": name, "MLFLOW_TRACKING_PASSWORD": "wrong-password-1"}, readonly
    )
    assert wrong.returncode != 0
    assert "401" in wrong.stderr and "You are not authenticated" in wrong.stderr, wrong.stderr[-2000:]
    assert "wrong-password-1" not in wrong.stderr  # never echoed
    assert admin.get(API + "/users/get", params={"username": name}).status_code == 200
