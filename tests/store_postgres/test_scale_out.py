"""Scale-out: three ``asynctrack server`` processes on separate ports behind one PostgreSQL database and
one shared artifact destination. No process holds state another needs: a run made on one is logged to
through another and read through the third; a log-batch retried with its Idempotency-Key on each of the
three servers is applied once (the keys are in the database); a multipart upload created on one server
gets its parts through another and is completed on the third (its state is on the shared destination)."""

from __future__ import annotations

import contextlib
import os
import urllib.parse
import uuid
from collections.abc import Iterator

import httpx
import postgres_db
import pytest
from servers import ServerProcess, asynctrack_server

API = "/api/2.0/mlflow"
MPU = "/api/2.0/mlflow-artifacts/mpu"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    postgres_db.require()
    tmp = tmp_path_factory.mktemp("scale")
    dest = tmp / "shared-artifacts"
    with postgres_db.temporary_database() as uri, contextlib.ExitStack() as stack:
        procs = []
        # The third spells the URI with a password (trust auth ignores it): its log must not show it.
        with_password = uri.replace("postgres@", "postgres:hunter2@", 1)
        for i in range(3):
            srv = asynctrack_server(
                tmp / f"s{i}",
                backend_store_uri=with_password if i == 2 else uri,
                extra=["--serve-artifacts", "--artifacts-destination", str(dest)],
            )
            (tmp / f"s{i}").mkdir()
            srv.start()
            stack.callback(srv.stop)
            procs.append(srv)
        yield procs


def _post(url: str, endpoint: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(url + API + endpoint, json=body, headers=headers, timeout=30)


@pytest.mark.slow  # server processes on one database (~5 s)
def test_runs_and_retries_across_servers(servers: list[ServerProcess]) -> None:
    a, b, c = (s.url for s in servers)
    exp = _post(a, "/experiments/create", {"name": f"e-{uuid.uuid4().hex}"}).json()["experiment_id"]
    run_id = _post(b, "/runs/create", {"experiment_id": exp, "start_time": 1}).json()["run"]["info"]["run_id"]
    batch = {
        "run_id": run_id,
        "metrics": [{"key": "m", "value": float(i), "timestamp": 5, "step": i} for i in range(100)],
        "params": [{"key": "p", "value": "1"}],
    }
    key = uuid.uuid4().hex
    for url in (c, a, b):  # the first attempt's answer "lost"; the retries reach the other servers
        response = _post(url, "/runs/log-batch", batch, **{"Idempotency-Key": key})
        assert response.status_code == 200, response.text
    history = httpx.get(
        a + API + "/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}, timeout=30
    ).json()["metrics"]
    assert [m["step"] for m in history] == list(range(100))  # once, not three times
    run = httpx.get(c + API + "/runs/get", params={"run_id": run_id}, timeout=30).json()["run"]
    assert run["data"]["metrics"] == [{"key": "m", "value": 99.0, "timestamp": 5, "step": 99}]
    # Without a key, a second server applies a second copy (the key is what makes it once).
    assert _post(b, "/runs/log-batch", {"run_id": run_id, "metrics": batch["metrics"][:1]}).status_code == 200
    again = httpx.get(
        c + API + "/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}, timeout=30
    ).json()["metrics"]
    assert len(again) == 101


@pytest.mark.slow
def test_multipart_upload_across_servers(servers: list[ServerProcess]) -> None:
    a, b, c = (s.url for s in servers)
    chunks = [os.urandom(1 << 20), os.urandom(4321)]
    created = httpx.post(
        f"{a}{MPU}/create/scale/models", json={"path": "/home/me/w.bin", "num_parts": 2}, timeout=30
    ).json()
    etags = []
    for cred, chunk in zip(
        sorted(created["credentials"], key=lambda x: x["part_number"]), chunks, strict=True
    ):
        path = urllib.parse.urlsplit(cred["url"]).path
        put = httpx.put(b + path, content=chunk, timeout=30)  # on another server than the one that made it
        assert put.status_code == 200, put.text
        etags.append({"part_number": cred["part_number"], "etag": put.headers["etag"]})
    body = {"path": "w.bin", "upload_id": created["upload_id"], "parts": etags}
    done = httpx.post(f"{c}{MPU}/complete/scale/models", json=body, timeout=30)
    assert done.status_code == 200, done.text
    got = httpx.get(f"{a}/api/2.0/mlflow-artifacts/artifacts/scale/models/w.bin", timeout=30)
    assert got.content == b"".join(chunks)


def test_the_password_is_not_logged(servers: list[ServerProcess]) -> None:
    log = servers[2].log.read_text()
    assert "postgres:***@" in log and "hunter2" not in log
