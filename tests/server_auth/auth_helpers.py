"""Helpers for the ``--auth`` tests: a real server with authentication, and clients for its users."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from servers import ServerProcess, asynctrack_server

API = "/api/2.0/mlflow"
ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1234"
PASSWORD = "user-password-1234"

#: MLflow's texts (mlflow/server/auth/__init__.py: make_basic_auth_response, make_forbidden_response).
UNAUTHENTICATED = (
    "You are not authenticated. Please see "
    "https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate."
)
FORBIDDEN = "Permission denied"


def auth_server(tmp: Path, *extra: str) -> ServerProcess:
    """An ``asynctrack server --auth --serve-artifacts`` (not started) whose admin is ``admin``."""
    server = asynctrack_server(
        tmp,
        extra=["--auth", "--serve-artifacts", "--artifacts-destination", str(tmp / "dest"), *extra],
    )
    server.env["ASYNCTRACK_AUTH_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    return server


def basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def client(server: ServerProcess, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, headers=headers or {})


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json() if response.content else {}


def new_user(admin: httpx.Client, prefix: str = "u") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    ok(admin.post(API + "/users/create", json={"username": name, "password": PASSWORD}))
    return name


def new_experiment(c: httpx.Client) -> str:
    created = ok(c.post(API + "/experiments/create", json={"name": f"exp-{uuid.uuid4().hex}"}))
    return str(created["experiment_id"])


def new_run(c: httpx.Client, experiment_id: str) -> str:
    run = ok(c.post(API + "/runs/create", json={"experiment_id": experiment_id, "start_time": 1000}))
    return str(run["run"]["info"]["run_id"])


def grant(admin: httpx.Client, username: str, experiment_id: str, permission: str) -> None:
    ok(
        admin.post(
            API + "/experiments/permissions/create",
            json={"experiment_id": experiment_id, "username": username, "permission": permission},
        )
    )


def users_cli(tmp: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``asynctrack users --backend-store-uri <the server's database> ...``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "asynctrack",
            "users",
            "--backend-store-uri",
            f"sqlite:///{tmp / 'server.db'}",
            *args,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
