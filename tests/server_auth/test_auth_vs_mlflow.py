"""``asynctrack server --auth`` next to MLflow 3.17.2's own basic-auth app (``mlflow server --app-name
basic-auth``): the same requests get the same statuses, bodies and challenge headers, for refusals (401,
403), user management and grants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_helpers import ADMIN, ADMIN_PASSWORD, API, auth_server, basic
from servers import ServerProcess, free_port, mlflow_auth_python, running

BOB, BOB_PASSWORD = "bob", "bob-password-1234"


def _mlflow_auth_server(tmp: Path) -> ServerProcess:
    ini = tmp / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{tmp / 'basic_auth.db'}\nadmin_username = {ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    port = free_port()
    argv = [
        str(mlflow_auth_python()),
        "-m",
        "mlflow",
        "server",
        "--app-name",
        "basic-auth",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
        "--default-artifact-root",
        "mlflow-artifacts:/",
        "--artifacts-destination",
        str(tmp / "dest"),
    ]
    server = ServerProcess(argv, port, tmp / "mlflow-auth.log")
    server.env.update(
        {
            "MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
        }
    )
    return server


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    ours_tmp, theirs_tmp = tmp_path_factory.mktemp("ours"), tmp_path_factory.mktemp("theirs")
    with running(auth_server(ours_tmp)) as ours, running(_mlflow_auth_server(theirs_tmp)) as theirs:
        yield {"asynctrack": ours, "mlflow": theirs}


ANON: dict[str, str] = {}
ADMIN_H = basic(ADMIN, ADMIN_PASSWORD)
BOB_H = basic(BOB, BOB_PASSWORD)
J = "json"

#: (what, headers, method, path, body or params, compare): compare "all" = status, body and challenge;
#: "code" = status and error_code only (the message differs on purpose; see docs/security.md).
STEPS: list[tuple[str, dict[str, str], str, str, Any, str]] = [
    ("anonymous", ANON, "GET", API + "/experiments/get", {"experiment_id": "0"}, "all"),
    (
        "bearer garbage",
        {"Authorization": "Bearer nonsense"},
        "GET",
        API + "/experiments/get",
        {"experiment_id": "0"},
        "all",
    ),
    (
        "create bob",
        ADMIN_H,
        "POST",
        API + "/users/create",
        {"username": BOB, "password": BOB_PASSWORD},
        "all",
    ),
    ("create experiment", ADMIN_H, "POST", API + "/experiments/create", {"name": "e1"}, "json"),
    (
        "wrong password",
        basic(BOB, "not-bobs-password"),
        "GET",
        API + "/experiments/get",
        {"experiment_id": "1"},
        "all",
    ),
    ("bob reads", BOB_H, "GET", API + "/experiments/get", {"experiment_id": "1"}, "status"),
    ("bob deletes", BOB_H, "POST", API + "/experiments/delete", {"experiment_id": "1"}, "all"),
    (
        "bob renames",
        BOB_H,
        "POST",
        API + "/experiments/update",
        {"experiment_id": "1", "new_name": "x"},
        "all",
    ),
    ("bob creates a run", BOB_H, "POST", API + "/runs/create", {"experiment_id": "1"}, "all"),
    ("bob reads a missing run", BOB_H, "GET", API + "/runs/get", {"run_id": "0" * 32}, "all"),
    ("bob searches runs", BOB_H, "POST", API + "/runs/search", {"experiment_ids": ["1"]}, "all"),
    (
        "bob creates a user",
        BOB_H,
        "POST",
        API + "/users/create",
        {"username": "eve", "password": BOB_PASSWORD},
        "all",
    ),
    ("bob reads admin", BOB_H, "GET", API + "/users/get", {"username": ADMIN}, "all"),
    ("bob reads himself", BOB_H, "GET", API + "/users/get", {"username": BOB}, "all"),
    ("bob's current", BOB_H, "GET", API + "/users/current", {}, "all"),
    (
        "bob sets admin's password",
        BOB_H,
        "PATCH",
        API + "/users/update-password",
        {"username": ADMIN, "password": "x" * 12},
        "all",
    ),
    (
        "bob makes himself admin",
        BOB_H,
        "PATCH",
        API + "/users/update-admin",
        {"username": BOB, "is_admin": True},
        "all",
    ),
    ("bob deletes admin", BOB_H, "DELETE", API + "/users/delete", {"username": ADMIN}, "all"),
    (
        "bob's password without current",
        BOB_H,
        "PATCH",
        API + "/users/update-password",
        {"username": BOB, "password": "y" * 12},
        "all",
    ),
    ("admin deletes himself", ADMIN_H, "DELETE", API + "/users/delete", {"username": ADMIN}, "all"),
    ("missing user", ADMIN_H, "GET", API + "/users/get", {"username": "zz"}, "all"),
    ("short password", ADMIN_H, "POST", API + "/users/create", {"username": "c", "password": "short"}, "all"),
    (
        "duplicate user",
        ADMIN_H,
        "POST",
        API + "/users/create",
        {"username": BOB, "password": BOB_PASSWORD},
        "code",
    ),
    (
        "bob grants himself",
        BOB_H,
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        {"username": BOB, "resource_type": "experiment", "resource_id": "1", "permission": "MANAGE"},
        "all",
    ),
    (
        "admin grants bob EDIT",
        ADMIN_H,
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        {"username": BOB, "resource_type": "experiment", "resource_id": "1", "permission": "EDIT"},
        "all",
    ),
    (
        "grant again",
        ADMIN_H,
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        {"username": BOB, "resource_type": "experiment", "resource_id": "1", "permission": "READ"},
        "all",
    ),
    (
        "bad permission",
        ADMIN_H,
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        {"username": BOB, "resource_type": "experiment", "resource_id": "2", "permission": "BOGUS"},
        "code",
    ),
    (
        "bob's permission",
        BOB_H,
        "GET",
        "/api/3.0/mlflow/users/permissions/get",
        {"username": BOB, "resource_type": "experiment", "resource_id": "1"},
        "all",
    ),
    (
        "bob renames now",
        BOB_H,
        "POST",
        API + "/experiments/update",
        {"experiment_id": "1", "new_name": "e2"},
        "all",
    ),
    ("bob deletes still not", BOB_H, "POST", API + "/experiments/delete", {"experiment_id": "1"}, "all"),
    ("bob creates an experiment", BOB_H, "POST", API + "/experiments/create", {"name": "bobs"}, "json"),
    ("bob deletes his own", BOB_H, "POST", API + "/experiments/delete", {"experiment_id": "2"}, "all"),
    ("bob lists artifacts", BOB_H, "GET", "/api/2.0/mlflow-artifacts/artifacts", {"path": "1"}, "status"),
    ("bob uploads to 0", BOB_H, "PUT", "/api/2.0/mlflow-artifacts/artifacts/0/x.txt", b"x", "all"),
    ("bob deletes in 1", BOB_H, "DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/x.txt", None, "all"),
    (
        "revoke",
        ADMIN_H,
        "POST",
        "/api/3.0/mlflow/users/permissions/revoke",
        {"username": BOB, "resource_type": "experiment", "resource_id": "1"},
        "all",
    ),
    (
        "revoke again",
        ADMIN_H,
        "POST",
        "/api/3.0/mlflow/users/permissions/revoke",
        {"username": BOB, "resource_type": "experiment", "resource_id": "1"},
        "all",
    ),
    ("version", BOB_H, "GET", "/version", {}, "status"),
    ("admin deletes bob", ADMIN_H, "DELETE", API + "/users/delete", {"username": BOB}, "all"),
    ("deleted bob", BOB_H, "GET", API + "/experiments/get", {"experiment_id": "1"}, "all"),
]


def _call(c: httpx.Client, headers: dict[str, str], method: str, path: str, data: Any) -> httpx.Response:
    if method == "GET":
        return c.get(path, params=data, headers=headers)
    if isinstance(data, bytes) or data is None:
        return c.request(method, path, content=data, headers=headers)
    return c.request(method, path, json=data, headers=headers)


def _view(response: httpx.Response, compare: str) -> Any:
    kind = response.headers.get("content-type", "")
    if compare == "status":
        return response.status_code
    body: Any
    if "json" in kind:
        body = response.json()
        if isinstance(body, dict) and "error_code" in body:
            body = body["error_code"] if compare == "code" else (body["error_code"], body["message"])
        elif compare == "json":
            body = sorted(body)
    else:
        body = response.text
    return response.status_code, body, response.headers.get("www-authenticate")


@pytest.mark.slow  # an official mlflow server with basic-auth (~40 s)
def test_same_answers_as_mlflow_basic_auth(servers: dict[str, ServerProcess]) -> None:
    answers: dict[str, list[Any]] = {}
    for name, server in servers.items():
        with httpx.Client(base_url=server.url, timeout=60) as c:
            answers[name] = [_view(_call(c, h, m, p, d), cmp) for _, h, m, p, d, cmp in STEPS]
    for i, step in enumerate(STEPS):
        assert answers["asynctrack"][i] == answers["mlflow"][i], step[0]
