"""Helpers for the server security tests: hostile requests, and checks that nothing changed."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
from server_helpers import API, call

ARTIFACTS = "/api/2.0/mlflow-artifacts"
EVIL = "https://evil.example"


def refused(response: httpx.Response, status: int, code: str, starts: str) -> dict[str, Any]:
    """``response`` is MLflow's error JSON with ``status``, ``code`` and a message starting ``starts``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert data["error_code"] == code, data
    assert data["message"].startswith(starts), data
    return dict(data)


def experiment_named(client: httpx.Client, name: str) -> dict[str, Any] | None:
    """The experiment called ``name`` (any lifecycle stage), or None."""
    found = call(
        client,
        "POST",
        "/experiments/search",
        {"filter": f"name = '{name}'", "view_type": "ALL", "max_results": 10},
    )
    experiments = found.get("experiments", [])
    return experiments[0] if experiments else None


def sample_writes(client: httpx.Client) -> list[tuple[str, str, dict[str, Any] | None, bytes | None]]:
    """(method, path, JSON body, raw body) for a sample of state-changing endpoints, each aimed at data the
    caller can check afterwards with :func:`state_of` (new names and ids, fresh each call)."""
    eid = call(client, "POST", "/experiments/create", {"name": f"victim-{uuid.uuid4().hex}"})["experiment_id"]
    run = call(client, "POST", "/runs/create", {"experiment_id": eid, "start_time": 1})["run"]["info"][
        "run_id"
    ]
    name = f"new-{uuid.uuid4().hex}"
    kept = client.put(ARTIFACTS + f"/artifacts/{eid}/keep.txt", content=b"keep")
    assert kept.status_code == 200, kept.text
    return [
        ("POST", API + "/experiments/create", {"name": name}, None),
        ("POST", API + "/experiments/delete", {"experiment_id": eid}, None),
        ("POST", API + "/experiments/update", {"experiment_id": eid, "new_name": name + "-renamed"}, None),
        ("POST", API + "/runs/delete", {"run_id": run}, None),
        ("POST", API + "/runs/set-tag", {"run_id": run, "key": "pwned", "value": "1"}, None),
        (
            "POST",
            API + "/runs/log-batch",
            {"run_id": run, "metrics": [{"key": "pwned", "value": 1, "timestamp": 1, "step": 0}]},
            None,
        ),
        ("POST", "/ajax-api/2.0/mlflow/runs/update", {"run_id": run, "status": "KILLED"}, None),
        ("PUT", ARTIFACTS + f"/artifacts/{name}/file.txt", None, b"pwned"),
        ("DELETE", ARTIFACTS + f"/artifacts/{eid}", None, None),
        ("POST", ARTIFACTS + f"/mpu/create/{name}", {"path": "big.bin", "num_parts": 1}, None),
        ("PATCH", API + "/experiments/update", {"experiment_id": eid, "new_name": name + "-p"}, None),
    ]


def state_of(client: httpx.Client, destination: Path) -> tuple[Any, ...]:
    """Everything the server holds that the sample writes could change: experiments, runs with their data,
    and the files under the artifacts destination."""
    experiments = call(client, "POST", "/experiments/search", {"view_type": "ALL", "max_results": 1000})
    ids = [e["experiment_id"] for e in experiments.get("experiments", [])]
    query = {"experiment_ids": ids, "run_view_type": "ALL", "max_results": 1000}
    runs = call(client, "POST", "/runs/search", query)
    files = sorted(
        (str(p.relative_to(destination)), p.read_bytes() if p.is_file() else b"")
        for p in destination.rglob("*")
    )
    return (experiments, runs, files)


class RawResponse:
    """A response read off a raw socket: status, lower-case headers, body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content = body

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def raw_request(
    port: int, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
) -> RawResponse:
    """One HTTP/1.1 request written byte for byte (header values as latin-1, anything but CR and LF: what
    a hostile client can send, which well-behaved client libraries refuse to), answer read until close."""
    lines = [f"{method} {path} HTTP/1.1".encode()]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers]
    lines += [b"Content-Length: %d" % len(body), b"Connection: close"]
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if fields.get("transfer-encoding") == "chunked":
        rest = _dechunk(rest)
    return RawResponse(int(status_line.split()[1]), fields, rest)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out
