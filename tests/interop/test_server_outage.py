"""The server dies (SIGKILL, workers and all) while asynctrack logs with ``synchronous=False``, and comes
back on the same port a few seconds later: once ``flush_async_logging()`` returns, every point is there.

Run against both an asynctrack server and the official ``mlflow server``. A batch whose commit landed just
before the kill but whose response never arrived is sent again, so a point may be stored twice (MLflow's
client behaves the same; the durability journal removes that); none may be missing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from servers import ServerProcess, asynctrack_server, free_port, mlflow_server

from asynctrack import MlflowClient

HERE = Path(__file__).parent
N = 30_000


# Against mlflow server the same 30,000 points take over a minute (its ingestion, not our client): marked
# slow, so the quick loop (`-m "not slow"`) keeps the asynctrack server's run and CI keeps both.
@pytest.mark.slow  # a server down for seconds, then restarted; mlflow's takes ~20 s to start
@pytest.mark.parametrize("kind", ["asynctrack", "mlflow"])
def test_no_point_lost_across_a_server_outage(kind: str, tmp_path: Path) -> None:
    port = free_port()
    make = asynctrack_server if kind == "asynctrack" else mlflow_server
    server: ServerProcess = make(tmp_path, port=port)
    server.start()
    logger = subprocess.Popen(
        [sys.executable, str(HERE / "outage_logger.py"), server.url, str(N)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**server.env, "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"},
    )
    try:
        assert logger.stdout is not None and logger.stdin is not None
        line = logger.stdout.readline()
        assert line.startswith("run "), line + (logger.stderr.read() if logger.stderr else "")
        run_id = line.split()[1]
        line = logger.stdout.readline()  # the first points reached the server: logging is under way
        assert line.strip() == "shipping", line + (logger.stderr.read() if logger.stderr else "")
        server.kill()
        logging_during_outage = logger.poll() is None  # the premise: the outage hits a running logger
        logger.stdin.write("killed\n")  # its second half of the points is logged from now on
        logger.stdin.flush()
        time.sleep(3.0)  # the outage's length (not a wait for anything)
        server.start()  # same port, same database
        out, err = logger.communicate(timeout=180)
        assert logger.returncode == 0, err[-4000:]
        assert "flushed" in out
        assert logging_during_outage, "the logger had finished before the server went down"
    finally:
        if logger.poll() is None:
            logger.kill()
        server.stop()
    server.start()
    try:
        history = MlflowClient(server.url).get_metric_history(run_id, "x")
    finally:
        server.stop()
    steps = Counter(m.step for m in history)
    assert set(steps) == set(range(N)), f"missing: {sorted(set(range(N)) - set(steps))[:20]}"
    assert all(m.value == float(m.step) for m in history)
    duplicated = sum(c - 1 for c in steps.values())
    assert duplicated <= 1000, duplicated  # at most the one batch in flight at the kill
