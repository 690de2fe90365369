"""Running ``asynctrack loadtest`` as users do (a subprocess), and reading its runs back independently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from asynctrack import MlflowClient
from asynctrack.pipeline import close_pipelines

# A small workload: 2 workers × 2 runs × 5 metrics × 50 steps = 1,000 points, 40 params, 20 tags.
SMALL = ["--workers", "2", "--runs", "2", "--metrics", "5", "--steps", "50", "--params", "10", "--tags", "5"]


def loadtest_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "200", **extra}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_ENABLE_ASYNC_LOGGING", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(name, None)
    return env


def loadtest(cwd: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m asynctrack loadtest ARGS`` in ``cwd``; never hangs the test run."""
    return subprocess.run(
        [sys.executable, "-m", "asynctrack", "loadtest", *args],
        cwd=cwd,
        env=loadtest_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def results(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The per-target results of a ``--json`` run."""
    assert proc.stdout.strip(), f"no JSON on stdout; stderr:\n{proc.stderr}"
    out: list[dict[str, Any]] = json.loads(proc.stdout)["results"]
    return out


def read_back(uri: str, experiment_id: str, metrics: int) -> dict[str, int]:
    """Count what the target holds for a load test's experiment with the plain client (not the harness's
    own verification): runs, metric points, params and the load test's tags."""
    client = MlflowClient(uri)
    try:
        runs = list(client.search_runs([experiment_id], max_results=1000))
        points = 0
        for run in runs:
            for k in range(metrics):
                points += len(client.get_metric_history(run.info.run_id, f"m{k}"))
        return {
            "runs": len(runs),
            "points": points,
            "params": sum(len(r.data.params) for r in runs),
            "tags": sum(sum(1 for t in r.data.tags if t.startswith("lt.")) for r in runs),
        }
    finally:
        close_pipelines(timeout=10)


def assert_verified(result: dict[str, Any]) -> None:
    """The harness verified every point, param and tag it sent, and nothing else went wrong."""
    v = result["verification"]
    assert v["complete"], v
    assert v["lost"] == 0 and v["unexpected"] == 0 and v["wrong_values"] == 0, v
    assert v["metrics_landed"] == v["metrics_sent"] == result["metrics_sent"] > 0
    assert v["params_landed"] == v["params_sent"] == result["params_sent"]
    assert v["tags_landed"] == v["tags_sent"] == result["tags_sent"]
    assert v["differences"] == []
    assert result["errors"] == {} and result["worker_failures"] == [] and result["unwritten"] == []
