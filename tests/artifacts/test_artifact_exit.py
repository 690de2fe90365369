"""Interpreter exit with artifact uploads pending: what can be written is, what cannot is reported (path,
size, source, run), exit stays bounded by ASYNCTRACK_EXIT_TIMEOUT, and no thread keeps the process alive.

Each test runs a real child Python process against a real SQLite file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from asynctrack import MlflowClient


def run_child(
    code: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
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


@pytest.mark.slow
def test_exit_writes_pending_uploads(tmp_path: Path) -> None:
    """A process that queues 200 uploads and 1,000 metrics asynchronously and just exits loses none, and
    ends its artifact I/O threads on the way out."""
    db = tmp_path / "t.db"
    child = run_child(
        f"""
        import atexit, sys, threading
        import asynctrack as mlflow
        # atexit callbacks run after asynctrack's exit hook (threading._register_atexit)
        def left():
            names = [t.name for t in threading.enumerate() if t.name.startswith("asynctrack-artifact")]
            print("left:", names, file=sys.stderr)
        atexit.register(left)
        mlflow.set_tracking_uri("sqlite:///{db}")
        run = mlflow.start_run()
        print(run.info.run_id)
        for i in range(200):
            mlflow.log_text("x" * 10_000, f"texts/{{i:03d}}.txt", synchronous=False)
            for j in range(5):
                mlflow.log_metric("m", float(i), step=i * 5 + j, synchronous=False)
        """,
        tmp_path,
    )
    assert child.returncode == 0, child.stderr
    assert "NOT written" not in child.stderr
    assert "left: []" in child.stderr
    run_id = child.stdout.strip()
    client = MlflowClient(f"sqlite:///{db}")
    assert len(client.list_artifacts(run_id, "texts")) == 200
    assert len(client.get_metric_history(run_id, "m")) == 1000
    assert client.get_run(run_id).info.status == "FINISHED"


@pytest.mark.slow
def test_exit_reports_uploads_it_could_not_write(tmp_path: Path) -> None:
    """An upload whose source never delivers (a pipe no one writes) cannot finish: the process still exits
    within about ASYNCTRACK_EXIT_TIMEOUT, writes everything else, and names the upload it could not write."""
    db = tmp_path / "t.db"
    fifo = tmp_path / "stuck.bin"
    os.mkfifo(fifo)
    started = time.monotonic()
    child = run_child(
        f"""
        import asynctrack as mlflow
        mlflow.set_tracking_uri("sqlite:///{db}")
        run = mlflow.start_run()
        print(run.info.run_id)
        mlflow.log_artifact({str(fifo)!r}, "weights", synchronous=False)
        mlflow.log_text("fine", "fine.txt", synchronous=False)
        for i in range(1000):
            mlflow.log_metric("m", float(i), step=i, synchronous=False)
        """,
        tmp_path,
        env={"ASYNCTRACK_EXIT_TIMEOUT": "1"},
    )
    elapsed = time.monotonic() - started
    assert child.returncode == 0, child.stderr
    assert elapsed < 30
    run_id = child.stdout.strip()
    report = [line for line in child.stderr.splitlines() if "artifact uploads were NOT written" in line]
    assert len(report) == 1, child.stderr
    assert "1 artifact uploads were NOT written (0 queued, 1 in flight" in report[0]
    assert "'weights/stuck.bin'" in report[0] and str(fifo) in report[0] and run_id in report[0]
    client = MlflowClient(f"sqlite:///{db}")
    assert [f.path for f in client.list_artifacts(run_id)] == ["fine.txt", "weights"]
    assert (
        os.listdir(Path(client.get_run(run_id).info.artifact_uri or "") / "weights") == []
    )  # no partial file
    assert len(client.get_metric_history(run_id, "m")) == 1000
    assert client.get_run(run_id).info.status == "FINISHED"
