"""Interpreter exit: queued operations are flushed, a stuck store cannot hang exit, fork is safe.

Each test runs a real child Python process against a real SQLite file.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from asynctrack import MlflowClient


def run_child(code: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    full_env = {**os.environ, **(env or {})}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_exit_without_flush_writes_everything(tmp_path: Path) -> None:
    """A process that logs 100,000 points asynchronously and just exits loses none of them."""
    db = tmp_path / "t.db"
    child = run_child(
        f"""
        import asynctrack as mlflow
        mlflow.set_tracking_uri("sqlite:///{db}")
        run = mlflow.start_run()
        print(run.info.run_id)
        for i in range(100_000):
            mlflow.log_metric("m", float(i), step=i, synchronous=False)
        mlflow.set_tag("last", "yes", synchronous=False)
        """,
        tmp_path,
    )
    assert child.returncode == 0, child.stderr
    assert "NOT written" not in child.stderr
    rid = child.stdout.strip()
    client = MlflowClient(f"sqlite:///{db}")
    run = client.get_run(rid)
    assert run.data.tags["last"] == "yes"
    assert run.info.status == "FINISHED"  # the active run is ended at exit, after its data
    _, values, _ = client.get_metric_history_arrays(rid, "m")
    assert len(values) == 100_000 and values[-1] == 99_999.0


@pytest.mark.slow
@pytest.mark.parametrize("queue_file", ["1", "0"])
def test_stuck_store_cannot_hang_exit(tmp_path: Path, queue_file: str) -> None:
    """With the database locked by another process for as long as the child lives, exit waits for the
    store until ASYNCTRACK_EXIT_TIMEOUT, then gives up and says exactly what was not written; with the
    queue file (the default) the next process that opens the store writes it all, without it the
    operations are lost and said to be.

    No wall-clock upper bound (a loaded machine stretches any): the lock is never released before the
    child exits, so its exiting at all shows it gave up on the store; the deadline the exit flush was given
    is read in the child, and is ASYNCTRACK_EXIT_TIMEOUT=1 from its start, not the default 10 s."""
    db = tmp_path / "t.db"
    holder = None
    proc: subprocess.Popen[str] | None = None
    try:
        child_code = f"""
            import subprocess, sys, time
            import asynctrack as mlflow
            from asynctrack.pipeline._pipeline import Pipeline

            shutdown = Pipeline.shutdown

            def reporting_shutdown(self, deadline, reason):
                # The exit flush's deadline, as seconds left when this pipeline's shutdown starts.
                sys.stderr.write(f"exit budget left: {{deadline - time.monotonic():.6f}}\\n")
                return shutdown(self, deadline, reason)

            Pipeline.shutdown = reporting_shutdown
            mlflow.set_tracking_uri("sqlite:///{db}")
            run = mlflow.start_run()
            mlflow.log_metric("first", 1.0, synchronous=True)
            print("ready", flush=True)
            sys.stdin.readline()  # the parent now holds the write lock
            for i in range(1000):
                mlflow.log_metric("m", float(i), step=i, synchronous=False)
            mlflow.log_param("p", "v", synchronous=False)
            """
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(child_code)],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "ASYNCTRACK_EXIT_TIMEOUT": "1", "ASYNCTRACK_QUEUE_FILE": queue_file},
        )
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        start = time.monotonic()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        _, stderr = proc.communicate(timeout=120)  # hanging on the lock would outlast this
        elapsed = time.monotonic() - start
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
    assert proc.returncode == 0, stderr
    # ASYNCTRACK_EXIT_TIMEOUT=1 was honoured: the flush at exit got a deadline at most 1 s away (the
    # default would give it 10 s); exact, whatever the load.
    budgets = [float(line.split(": ")[1]) for line in stderr.splitlines() if "exit budget left" in line]
    assert budgets and all(b <= 1.0 for b in budgets), budgets
    # ... and the flush did wait for the locked store until then before giving up (a lower bound: time
    # only adds to it). The deadline was set after "go", so it lies at least 1 s after `start`.
    assert elapsed >= 1.0, f"exit gave up after {elapsed:.2f} s, before its 1 s"
    assert "1000 metric points" in stderr and "1 params" in stderr and "1 run updates" in stderr
    run_id = stderr.split("runs: ")[1].split(")")[0]
    client = MlflowClient(f"sqlite:///{db}")  # the next process to open the store (recovery runs here)
    _, values, _ = client.get_metric_history_arrays(run_id, "m")
    run = client.get_run(run_id)
    if queue_file == "0":
        assert "1002 logging operations were NOT written" in stderr, stderr
        assert len(values) == 0 and run.info.status == "RUNNING"
        return
    assert "1002 logging operations were not yet written" in stderr, stderr
    assert "They are kept in the queue file" in stderr
    assert values.tolist() == [float(i) for i in range(1000)]
    assert run.data.params == {"p": "v"} and run.info.status == "FINISHED"
    kept = stderr.split("kept in the queue file ")[1].split(" and will")[0]
    assert kept.endswith(".queue") and not os.path.exists(kept)  # replayed, then deleted


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_neither_hangs_nor_writes_twice(tmp_path: Path) -> None:
    """A forked child starts with an empty pipeline: it logs its own run, and the parent's queued
    points are written once, by the parent."""
    db = tmp_path / "t.db"
    child = run_child(
        f"""
        import os
        import asynctrack as mlflow
        from asynctrack import MlflowClient
        mlflow.set_tracking_uri("sqlite:///{db}")
        client = MlflowClient()
        parent_run = client.create_run("0").info.run_id
        for i in range(50_000):
            client.log_metric(parent_run, "m", float(i), step=i, synchronous=False)
        pid = os.fork()
        if pid == 0:
            child_run = MlflowClient().create_run("0").info.run_id
            for i in range(1000):
                MlflowClient().log_metric(child_run, "c", float(i), step=i, synchronous=False)
            mlflow.flush_async_logging(timeout=30)
            print("child", child_run, flush=True)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        mlflow.flush_async_logging(timeout=30)
        print("parent", parent_run, os.waitstatus_to_exitcode(status), flush=True)
        """,
        tmp_path,
    )
    assert child.returncode == 0, child.stderr
    lines = dict(line.split(" ", 1) for line in child.stdout.strip().splitlines())
    parent_run, code = lines["parent"].split()
    assert code == "0"
    client = MlflowClient(f"sqlite:///{db}")
    assert len(client.get_metric_history(parent_run, "m")) == 50_000
    assert len(client.get_metric_history(lines["child"], "c")) == 1000


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_keeps_logging_to_the_active_run(tmp_path: Path) -> None:
    """A forked child that logs through the fluent API to the inherited active run is written too
    (its pipeline is looked up again in the child, not the parent's dead one)."""
    db = tmp_path / "t.db"
    child = run_child(
        f"""
        import os
        import asynctrack as mlflow
        mlflow.set_tracking_uri("sqlite:///{db}")
        run = mlflow.start_run()
        mlflow.log_metric("parent", 1.0, synchronous=False)
        pid = os.fork()
        if pid == 0:
            for i in range(500):
                mlflow.log_metric("child", float(i), step=i, synchronous=False)
            mlflow.flush_async_logging(timeout=30)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        mlflow.end_run()
        print(run.info.run_id, os.waitstatus_to_exitcode(status))
        """,
        tmp_path,
    )
    assert child.returncode == 0, child.stderr
    rid, code = child.stdout.split()
    assert code == "0"
    client = MlflowClient(f"sqlite:///{db}")
    assert len(client.get_metric_history(rid, "child")) == 500
    assert client.get_run(rid).data.metrics["parent"] == 1.0
