"""Several processes on one SQLite file: nothing lost, and a locked database is waited out, not reported.

Children are small scripts run with ``sys.executable``; they import the same asynctrack as the tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient

N_WORKERS = 4
N_POINTS = 400

_ASYNCTRACK_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(mlflow.__file__)))

LOGGER = textwrap.dedent(
    """
    import sys
    import asynctrack as mlflow

    uri, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("shared")
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_param("worker", name, synchronous=False)
        for i in range(n):
            mlflow.log_metric("loss", float(i), step=i, synchronous=False)
            mlflow.log_metrics({"acc": i / n, "lr": 0.5}, step=i, synchronous=False)
            if i % 50 == 0:
                mlflow.set_tag(f"tag{i}", str(i), synchronous=False)
        mlflow.flush_async_logging()
        for i in range(n // 4):  # many small transactions, to collide with the other writers
            mlflow.log_metric("sync", float(i), step=i, synchronous=True)
    print(run.info.run_id)
    """
)

LOCK_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys, time

    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    if len(sys.argv) > 3:  # another writer's uncommitted work, e.g. an experiment it is creating
        conn.execute(sys.argv[3])
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
    conn.close()
    """
)

# What another asynctrack process's create_experiment("shared") writes inside its transaction.
INSERT_SHARED_EXPERIMENT = (
    "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) "
    "VALUES ('shared', '/elsewhere', 'active', 0, 0)"
)


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ASYNCTRACK_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ASYNCTRACK_ROOT, os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _run_loggers(uri: str, cwd, **env: str) -> list[str]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LOGGER, uri, f"worker-{w}", str(N_POINTS)],
            cwd=cwd,
            env=_child_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(N_WORKERS)
    ]
    run_ids = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "Traceback" not in err and "Error" not in err, err
        # Lock contention may be logged as a warning that is being retried, never reported otherwise.
        for line in err.splitlines():
            if "database is locked" in line:
                assert "retrying with back-off" in line, err
        run_ids.append(out.strip().splitlines()[-1])
    return run_ids


def _check_runs(run_ids: list[str]) -> None:
    client = MlflowClient()
    assert len(set(run_ids)) == N_WORKERS
    experiment_ids = set()
    for run_id in run_ids:
        run = client.get_run(run_id)
        experiment_ids.add(run.info.experiment_id)
        assert run.info.status == "FINISHED"
        assert run.data.params == {"worker": run.info.run_name}
        tag_keys = {k for k in run.data.tags if k.startswith("tag")}
        assert tag_keys == {f"tag{i}" for i in range(0, N_POINTS, 50)}
        loss = client.get_metric_history(run_id, "loss")
        assert [p.step for p in loss] == list(range(N_POINTS))
        assert [p.value for p in loss] == [float(i) for i in range(N_POINTS)]
        assert len(client.get_metric_history(run_id, "acc")) == N_POINTS
        assert len(client.get_metric_history(run_id, "lr")) == N_POINTS
        sync = client.get_metric_history(run_id, "sync")
        assert [p.step for p in sync] == list(range(N_POINTS // 4))
        assert run.data.metrics["loss"] == float(N_POINTS - 1)
    assert len(experiment_ids) == 1
    assert client.get_experiment(experiment_ids.pop()).name == "shared"


@pytest.mark.slow
@pytest.mark.parametrize("busy_timeout", ["0.1", "0"], ids=["default-busy-timeout", "no-busy-timeout"])
def test_concurrent_processes_lose_nothing(tmp_tracking, tmp_path, busy_timeout):
    """Processes logging into one existing database all land every point, error-free.

    With ASYNCTRACK_SQLITE_BUSY_TIMEOUT=0 every lock collision surfaces at once and must be retried by
    asynctrack itself instead of SQLite's busy handler.
    """
    MlflowClient().get_experiment("0")  # the database exists before the workers start
    run_ids = _run_loggers(tmp_tracking, tmp_path, ASYNCTRACK_SQLITE_BUSY_TIMEOUT=busy_timeout)
    _check_runs(run_ids)


@pytest.mark.slow
def test_concurrent_processes_on_fresh_database(tmp_tracking, tmp_path):
    """Processes that create the database and the same experiment at once still land every point."""
    assert not (tmp_path / "t.db").exists()
    run_ids = _run_loggers(tmp_tracking, tmp_path)
    _check_runs(run_ids)


def _hold_lock(db_path, seconds: float, sql: str | None = None) -> subprocess.Popen:
    args = [sys.executable, "-c", LOCK_HOLDER, str(db_path), str(seconds)] + ([sql] if sql else [])
    holder = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _release(holder: subprocess.Popen) -> None:
    _out, err = holder.communicate(timeout=30)
    assert holder.returncode == 0, err


@pytest.mark.slow
@pytest.mark.parametrize("operation", ["log_metric", "log_batch", "create_experiment", "end_run"])
def test_locked_database_is_waited_out(tmp_tracking, tmp_path, operation):
    """A synchronous call made while another process holds BEGIN EXCLUSIVE succeeds after the release."""
    client = MlflowClient()
    run = mlflow.start_run()
    rid = run.info.run_id
    mlflow.log_metric("warmup", 0.0)
    holder = _hold_lock(tmp_path / "t.db", 1.0)
    try:
        start = time.monotonic()
        if operation == "log_metric":
            mlflow.log_metric("m", 1.5, step=7)
        elif operation == "log_batch":
            client.log_batch(rid, metrics=[mlflow.Metric("m", 1.5, 1, 7)], params=[mlflow.Param("p", "v")])
        elif operation == "create_experiment":
            exp_id = mlflow.create_experiment("made-while-locked")
        else:
            mlflow.end_run()
        waited = time.monotonic() - start
    finally:
        _release(holder)
    assert waited >= 0.5, f"the call did not wait for the lock ({waited:.2f}s)"
    if operation in ("log_metric", "log_batch"):
        (point,) = client.get_metric_history(rid, "m")
        assert (point.value, point.step) == (1.5, 7)
    elif operation == "create_experiment":
        assert mlflow.get_experiment(exp_id).name == "made-while-locked"
    else:
        assert client.get_run(rid).info.status == "FINISHED"


@pytest.mark.slow
def test_set_experiment_tolerates_concurrent_creation(tmp_tracking, tmp_path):
    """set_experiment(name) uses the experiment another process created while it was trying to."""
    MlflowClient().get_experiment("0")
    holder = _hold_lock(tmp_path / "t.db", 1.0, INSERT_SHARED_EXPERIMENT)
    try:
        exp = mlflow.set_experiment("shared")
    finally:
        _release(holder)
    assert exp.name == "shared" and exp.artifact_location == "/elsewhere"


@pytest.mark.slow
def test_experiment_name_env_tolerates_concurrent_creation(tmp_tracking, tmp_path, monkeypatch):
    """start_run with MLFLOW_EXPERIMENT_NAME uses the experiment another process created concurrently."""
    MlflowClient().get_experiment("0")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "shared")
    holder = _hold_lock(tmp_path / "t.db", 1.0, INSERT_SHARED_EXPERIMENT)
    try:
        run = mlflow.start_run()
    finally:
        _release(holder)
    assert mlflow.get_experiment(run.info.experiment_id).name == "shared"
