"""The official ``mlflow==3.17.2`` client against ``asynctrack server --auth``: MLflow's basic-auth app
client (``mlflow.server.get_app_client("basic-auth", ...)``) manages users and grants, and the tracking
client logs with ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` or ``MLFLOW_TRACKING_TOKEN``,
and meets MLflow's 401 and 403."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from auth_helpers import ADMIN_PASSWORD, users_cli
from servers import ServerProcess, mlflow_auth_python

SCRIPT = r"""
import json, os, sys
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server import get_app_client

uri, admin_password, token = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}

def as_user(name, password):
    os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    os.environ["MLFLOW_TRACKING_USERNAME"] = name
    os.environ["MLFLOW_TRACKING_PASSWORD"] = password

def failure(fn):
    try:
        fn()
    except MlflowException as e:
        return [getattr(e, "error_code", None), str(e)]
    return None

as_user("admin", admin_password)
auth = get_app_client("basic-auth", tracking_uri=uri)
user = auth.create_user("alice", "alice-password-12")
out["created"] = [user.username, user.is_admin]
out["get"] = [auth.get_user("alice").username, auth.get_user("alice").is_admin]
auth.update_user_admin("alice", True)
out["admin_after_update"] = auth.get_user("alice").is_admin
auth.update_user_admin("alice", False)
auth.update_user_password("alice", "alice-password-34")
out["duplicate"] = failure(lambda: auth.create_user("alice", "another-password-1"))
out["missing"] = failure(lambda: auth.get_user("nobody"))
out["short_password"] = failure(lambda: auth.create_user("bob", "short"))

client = MlflowClient(uri)
shared = client.create_experiment("shared-by-admin")
auth.grant_user_permission("alice", "experiment", shared, "READ")
result = auth.get_user_permission("alice", "experiment", shared)
out["permission"] = [result.permission, result.allowed]
out["grant_again"] = failure(lambda: auth.grant_user_permission("alice", "experiment", shared, "EDIT"))
out["grant_model"] = failure(lambda: auth.grant_user_permission("alice", "registered_model", "m", "READ"))
secret = client.create_experiment("secret-of-admin")
auth.grant_user_permission("alice", "experiment", secret, "READ")
auth.revoke_user_permission("alice", "experiment", secret)
out["revoked_again"] = failure(lambda: auth.revoke_user_permission("alice", "experiment", secret))
hidden = client.create_experiment("hidden-from-alice")
auth._request(
    "/api/2.0/mlflow/experiments/permissions/create",
    "POST",
    json={"experiment_id": hidden, "username": "alice", "permission": "NO_PERMISSIONS"},
)

as_user("alice", "alice-password-34")
out["alice_reads_shared"] = client.get_experiment(shared).name
out["alice_creates_run_in_shared"] = failure(lambda: client.create_run(shared))
out["alice_deletes_shared"] = failure(lambda: client.delete_experiment(shared))
out["alice_manages_users"] = failure(lambda: auth.create_user("mallory", "mallory-password-1"))
out["alice_reads_admin"] = failure(lambda: auth.get_user("admin"))
out["alice_reads_herself"] = auth.get_user("alice").username
mlflow.set_tracking_uri(uri)
own = mlflow.create_experiment("alice-own")
with mlflow.start_run(experiment_id=own) as run:
    mlflow.log_metric("loss", 0.5, step=1)
    mlflow.log_param("lr", "0.1")
    mlflow.log_text("hello", "notes/hello.txt")
out["alice_history"] = [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
out["alice_artifacts"] = [f.path for f in client.list_artifacts(run.info.run_id, "notes")]
visible = {e.name for e in client.search_experiments()}
names = ("shared-by-admin", "secret-of-admin", "hidden-from-alice", "alice-own", "Default")
out["alice_sees"] = sorted(n for n in visible if n in names)
out["alice_searches_runs_in_secret"] = failure(lambda: client.search_runs([secret]))
out["alice_searches_runs_in_hidden"] = failure(lambda: client.search_runs([hidden]))
out["alice_reads_hidden"] = failure(lambda: client.get_experiment(hidden))

as_user("alice", "wrong-password-123")
out["wrong_password"] = failure(lambda: client.get_experiment(shared))

os.environ.pop("MLFLOW_TRACKING_USERNAME")
os.environ.pop("MLFLOW_TRACKING_PASSWORD")
os.environ["MLFLOW_TRACKING_TOKEN"] = token
ci_own = mlflow.create_experiment("ci-own")
out["ci_logs_into_alices"] = failure(lambda: client.create_run(own))
with mlflow.start_run(experiment_id=ci_own) as run:
    mlflow.log_metric("acc", 0.9)
out["token_run"] = client.get_run(run.info.run_id).data.metrics
os.environ["MLFLOW_TRACKING_TOKEN"] = token[:-2] + "xx"
out["bad_token"] = failure(lambda: client.get_experiment(own))

as_user("admin", admin_password)
auth.delete_user("alice")
out["deleted"] = failure(lambda: auth.get_user("alice"))
print(json.dumps(out))
"""


@pytest.mark.slow  # mlflow's client in a subprocess (~8 s)
def test_mlflow_auth_client_and_tracking(server: ServerProcess, auth_tmp: Path) -> None:
    # A machine user and its API token, made with the CLI on the server's auth database.
    created = users_cli(auth_tmp, "create", "alice-ci", "--password-stdin", stdin="ci-password-12345\n")
    assert created.returncode == 0, created.stderr
    token = users_cli(auth_tmp, "tokens", "create", "alice-ci", "--name", "ci")
    assert token.returncode == 0, token.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run(
        [str(mlflow_auth_python()), "-c", SCRIPT, server.url, ADMIN_PASSWORD, token.stdout.strip()],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["created"] == ["alice", False]
    assert out["get"] == ["alice", False]
    assert out["admin_after_update"] is True
    assert (
        out["duplicate"][0] == "RESOURCE_ALREADY_EXISTS"
        and "User (username=alice) already exists" in out["duplicate"][1]
    )
    assert (
        out["missing"][0] == "RESOURCE_DOES_NOT_EXIST"
        and "User with username=nobody not found" in out["missing"][1]
    )
    assert out["short_password"][0] == "INVALID_PARAMETER_VALUE"
    assert out["permission"] == ["READ", False]  # MLflow: allowed mirrors can_use
    assert out["grant_again"][0] == "RESOURCE_ALREADY_EXISTS"
    assert out["grant_model"][0] == "INVALID_PARAMETER_VALUE"
    assert out["revoked_again"][0] == "RESOURCE_DOES_NOT_EXIST"
    assert out["alice_reads_shared"] == "shared-by-admin"
    for refused in (
        "alice_creates_run_in_shared",
        "alice_deletes_shared",
        "alice_manages_users",
        "alice_reads_admin",
        "alice_searches_runs_in_hidden",
        "alice_reads_hidden",
        "ci_logs_into_alices",
    ):
        assert "403" in out[refused][1] and "Permission denied" in out[refused][1], (refused, out[refused])
    assert out["alice_reads_herself"] == "alice"
    assert out["alice_history"] == [0.5]
    assert out["alice_artifacts"] == ["notes/hello.txt"]
    # The default permission is READ (a revoked grant falls back to it, as in MLflow); NO_PERMISSIONS hides.
    assert out["alice_sees"] == ["Default", "alice-own", "secret-of-admin", "shared-by-admin"]
    assert out["alice_searches_runs_in_secret"] is None
    assert "401" in out["wrong_password"][1] and "You are not authenticated" in out["wrong_password"][1]
    assert "401" in out["bad_token"][1]
    assert out["token_run"] == {"acc": 0.9}
    assert out["deleted"][0] == "RESOURCE_DOES_NOT_EXIST"
