"""Helpers for the UI API tests: MLflow REST calls to seed data, UI calls, MLflow's error JSON."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

API = "/api/2.0/mlflow"
UI = "/ajax-api/asynctrack/ui"
HOSTILE = "<img src=x onerror=alert(1)>"


def api(client: httpx.Client, endpoint: str, body: Any = None, **params: Any) -> Any:
    """An MLflow REST call that must succeed (POST with a body, else GET)."""
    if body is None:
        response = client.get(API + endpoint, params=params)
    else:
        response = client.post(API + endpoint, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def ui(client: httpx.Client, endpoint: str, body: Any = None, **params: Any) -> Any:
    """A UI API call that must succeed; checks the UI's security headers."""
    if body is None:
        response = client.get(UI + endpoint, params=params)
    else:
        response = client.post(UI + endpoint, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    return response.json()


def ui_fails(
    client: httpx.Client, endpoint: str, body: Any = None, **params: Any
) -> tuple[int, dict[str, Any]]:
    if body is None:
        response = client.get(UI + endpoint, params=params)
    else:
        response = client.post(UI + endpoint, json=body)
    assert response.status_code >= 400, response.text
    data = response.json()
    assert set(data) >= {"error_code", "message"}, data
    return response.status_code, data


def new_experiment(client: httpx.Client, name: str | None = None) -> str:
    name = name or f"exp-{uuid.uuid4().hex}"
    return str(api(client, "/experiments/create", {"name": name})["experiment_id"])


def new_run(
    client: httpx.Client,
    experiment_id: str,
    *,
    name: str | None = None,
    start_time: int = 1000,
    tags: Any = (),
) -> str:
    body: dict[str, Any] = {"experiment_id": experiment_id, "start_time": start_time, "tags": list(tags)}
    if name:
        body["run_name"] = name
    return str(api(client, "/runs/create", body)["run"]["info"]["run_id"])


def log(client: httpx.Client, run_id: str, *, metrics: Any = (), params: Any = (), tags: Any = ()) -> None:
    api(
        client,
        "/runs/log-batch",
        {"run_id": run_id, "metrics": list(metrics), "params": list(params), "tags": list(tags)},
    )
