"""``asynctrack loadtest`` against the embedded SQLite store: what it says it sent is what the store holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from loadtest_helpers import SMALL, assert_verified, loadtest, read_back, results


@pytest.mark.slow  # a load run with reader threads (~5 s); the task-based one stays in the quick loop
def test_threads_with_readers_verify_every_point_sent(tmp_path: Path) -> None:
    """Writers in threads (synchronous=False, awaited every 5 steps) and dashboard readers: the harness
    reports 1,000 points, 40 params and 20 tags sent and verified, and the store holds exactly those."""
    uri = f"sqlite:///{tmp_path}/lt.db"
    proc = loadtest(
        tmp_path, uri, *SMALL, "--await-every", "5", "--readers", "2", "--reader-interval", "0.05",
        "--seed", "7", "--json", "--no-progress",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    (r,) = results(proc)
    assert_verified(r)
    assert r["metrics_sent"] == 2 * 2 * 5 * 50 and r["calls"] == r["metrics_sent"]
    assert r["params_sent"] == 40 and r["tags_sent"] == 20
    assert r["latency"]["caller"]["count"] == 1000
    assert r["latency"]["durability"]["count"] == 2 * 2 * 50  # the last call of every step
    assert r["latency"]["search_runs"]["count"] >= 1
    assert r["durable_per_s"] > 0 and r["workload"]["seed"] == 7
    assert read_back(uri, r["experiment_id"], 5) == {"runs": 4, "points": 1000, "params": 40, "tags": 20}


@pytest.mark.slow
def test_tasks_synchronous_verify_every_point_sent(tmp_path: Path) -> None:
    """Runs as asyncio tasks with synchronous=True: each call is durable when it returns, so the caller
    latency is the durability latency, and again everything sent is in the store."""
    uri = f"sqlite:///{tmp_path}/lt.db"
    proc = loadtest(
        tmp_path, uri, "--workers", "1", "--runs", "3", "--metrics", "2", "--steps", "20",
        "--mode", "tasks", "--synchronous", "--json", "--no-progress",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (r,) = results(proc)
    assert_verified(r)
    assert r["metrics_sent"] == 3 * 2 * 20
    assert r["latency"]["durability"]["count"] == r["latency"]["caller"]["count"] == 120
    assert "wait" not in r["latency"]
    assert read_back(uri, r["experiment_id"], 2) == {"runs": 3, "points": 120, "params": 30, "tags": 15}
