"""Several uvicorn workers on one SQLite file: concurrent writers, every point durable and present."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import pytest
from server_helpers import API, call, make_server, new_experiment
from servers import running

CLIENTS = 6
REQUESTS = 25
POINTS = 40


def _client(url: str, run_id: str, index: int) -> int:
    """One client: its own keep-alive connection, REQUESTS log-batch requests; returns points sent."""
    sent = 0
    with httpx.Client(base_url=url, timeout=60) as c:
        for r in range(REQUESTS):
            step0 = r * POINTS
            metrics = [
                {"key": f"m{index}", "value": float(step0 + i), "timestamp": 1 + step0 + i, "step": step0 + i}
                for i in range(POINTS)
            ]
            body = {
                "run_id": run_id,
                "metrics": metrics,
                "params": [{"key": f"p{index}-{r}", "value": str(r)}],
            }
            response = c.post(API + "/runs/log-batch", json=body)
            assert response.status_code == 200, response.text
            sent += POINTS
    return sent


@pytest.mark.slow  # a two-worker server under load (~9 s)
def test_two_workers_share_one_sqlite_database(tmp_path: Path) -> None:
    """2 workers, 6 concurrent clients (3 runs, 2 clients each): every request succeeds, and once its
    response arrived every point, param and latest value is in the database, read through either worker."""
    with running(make_server(tmp_path, workers=2)) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        # Both workers up before the load, so each new connection may land on either process.
        srv.wait_for_workers(2)  # raises, with the server's log, if the second never starts
        eid = new_experiment(c)
        runs = [
            call(c, "POST", "/runs/create", {"experiment_id": eid, "start_time": 1})["run"]["info"]["run_id"]
            for _ in range(3)
        ]
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(_client, srv.url, runs[i % 3], i) for i in range(CLIENTS)]
            assert sum(f.result() for f in futures) == CLIENTS * REQUESTS * POINTS
        for i in range(CLIENTS):
            run_id = runs[i % 3]
            history = call(c, "GET", "/metrics/get-history", run_id=run_id, metric_key=f"m{i}")["metrics"]
            steps = [m["step"] for m in history]
            assert sorted(steps) == list(range(REQUESTS * POINTS)), f"client {i}: {len(steps)} points"
            assert all(m["value"] == float(m["step"]) for m in history)
        for run_id in runs:
            data = call(c, "GET", "/runs/get", run_id=run_id)["run"]["data"]
            assert len(data["params"]) == 2 * REQUESTS
            assert {m["value"] for m in data["metrics"]} == {float(REQUESTS * POINTS - 1)}
