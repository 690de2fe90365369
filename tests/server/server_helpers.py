"""Helpers for tracking-server tests: start a real server, call the API, check MLflow's error JSON."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
from servers import ServerProcess, asynctrack_server

API = "/api/2.0/mlflow"


def make_server(tmp: Path, **kwargs: Any) -> ServerProcess:
    """An ``asynctrack server`` (not started) for ``tmp``; see ``servers.asynctrack_server``."""
    return asynctrack_server(tmp, **kwargs)


def call(client: httpx.Client, method: str, endpoint: str, body: Any = None, **params: Any) -> Any:
    """One API call that must succeed; returns the decoded JSON body."""
    if method == "GET":
        response = client.get(API + endpoint, params=params)
    else:
        response = client.post(API + endpoint, json={} if body is None else body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def fails(
    client: httpx.Client, method: str, endpoint: str, body: Any = None, **params: Any
) -> tuple[int, dict[str, Any]]:
    """One API call that must fail with MLflow's error JSON; returns (status, body)."""
    if method == "GET":
        response = client.get(API + endpoint, params=params)
    else:
        response = client.post(API + endpoint, json={} if body is None else body)
    assert response.status_code >= 400, response.text
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert set(data) >= {"error_code", "message"}, data
    return response.status_code, data


def new_experiment(client: httpx.Client) -> str:
    return str(
        call(client, "POST", "/experiments/create", {"name": f"exp-{uuid.uuid4().hex}"})["experiment_id"]
    )


def new_run(client: httpx.Client, experiment_id: str | None = None) -> str:
    eid = experiment_id or new_experiment(client)
    run = call(client, "POST", "/runs/create", {"experiment_id": eid, "start_time": 1000})["run"]
    return str(run["info"]["run_id"])
