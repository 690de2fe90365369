"""The express lane: synchronous calls written from the caller's thread while the pipeline is idle.

Real SQLite files, real threads and processes. Each test also checks, through the lane's counter, that the
path it means to exercise was taken (an express write, or a fall-back to the queue), so none can pass by
never reaching the code it is about.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient
from asynctrack.entities import Metric, Param, RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.pipeline._express import Express
from asynctrack.pipeline._registry import get_pipeline


def _express() -> Express:
    express = get_pipeline().queue.express
    assert express is not None, "the embedded store's pipeline has an express lane"
    return express


def test_idle_synchronous_calls_take_the_express_lane(db: Path) -> None:
    """One thread's synchronous metric, param and tag calls are written from its thread, and read back."""
    express = _express()
    with mlflow.start_run() as run:
        before = express.written
        for i in range(100):
            mlflow.log_metric("m", float(i), step=i, synchronous=True)
        mlflow.log_param("p", "v", synchronous=True)
        mlflow.set_tag("t", "x", synchronous=True)
        mlflow.log_metrics({"a": 1.0, "b": 2.0}, step=3, synchronous=True)
        assert express.written - before == 103
        rid = run.info.run_id
    got = MlflowClient().get_run(rid)
    assert got.data.params == {"p": "v"}
    assert got.data.tags["t"] == "x"
    assert got.data.metrics == {"m": 99.0, "a": 1.0, "b": 2.0}
    steps, values, _ = MlflowClient().get_metric_history_arrays(rid, "m")
    assert steps.tolist() == list(range(100)) and values.tolist() == [float(i) for i in range(100)]


def _table_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


_STATE_QUERIES = (
    "SELECT r.run_id, c.key, c.n, c.min_step, c.max_step, c.steps, c.vals FROM metric_chunks c "
    "JOIN runs r USING (run_key) ORDER BY r.run_id, c.key, c.chunk_id",
    "SELECT r.run_id, s.key, s.n, s.min_step, s.max_step, s.flags, s.summary, s.groups, s.blocks "
    "FROM metric_summaries s JOIN runs r USING (run_key) ORDER BY r.run_id, s.key, s.chunk_id",
    "SELECT r.run_id, t.key, t.points, t.small, t.medium FROM metric_tails t JOIN runs r USING (run_key) "
    "ORDER BY r.run_id, t.key",
    "SELECT r.run_id, l.key, l.value, l.is_nan, l.step FROM latest_metrics l JOIN runs r USING (run_key) "
    "ORDER BY r.run_id, l.key",
    "SELECT r.run_id, p.key, p.value FROM params p JOIN runs r USING (run_key) ORDER BY 1, 2",
    "SELECT r.run_id, t.key, t.value FROM tags t JOIN runs r USING (run_key) WHERE t.key NOT LIKE 'mlflow.%' "
    "ORDER BY 1, 2",
)


def _log_workload(client: MlflowClient, rid: str) -> list[str]:
    """Synchronous calls of every kind, bad ones included; returns the error codes met, in order."""
    codes: list[str] = []

    def attempt(fn: object, *args: object, **kwargs: object) -> None:
        try:
            fn(*args, **kwargs)  # type: ignore[operator]
        except MlflowException as exc:
            codes.append(exc.error_code)

    for i in range(150):  # enough one-point writes for the small chunks to be merged, twice
        attempt(client.log_metric, rid, "loss", 1.0 / (i + 1), timestamp=1_000 + i, step=i, synchronous=True)
    attempt(client.log_metric, rid, "nan", float("nan"), timestamp=5, step=0, synchronous=True)
    attempt(client.log_metric, rid, "loss", float("inf"), timestamp=6, step=7, synchronous=True)
    attempt(client.log_param, rid, "lr", "0.1", synchronous=True)
    attempt(client.log_param, rid, "lr", "0.1", synchronous=True)  # same value: fine
    attempt(client.log_param, rid, "lr", "0.2", synchronous=True)  # changed: INVALID_PARAMETER_VALUE
    attempt(client.set_tag, rid, "t", "one", synchronous=True)
    attempt(client.set_tag, rid, "t", "two", synchronous=True)
    # A batch with one bad param: its other operations are written, only that one fails.
    attempt(
        client.log_batch,
        rid,
        metrics=[Metric("b", 1.0, 10, 0), Metric("b", 2.0, 11, 1)],
        params=[Param("ok", "1"), Param("lr", "0.3")],
        tags=[RunTag("bt", "x")],
        synchronous=True,
    )
    attempt(client.log_metric, "0" * 32, "m", 1.0, synchronous=True)  # no such run
    return codes


def test_express_and_queue_leave_the_same_database(tmp_path: Path) -> None:
    """The same synchronous workload through the express lane and through the queue (lane switched off)
    leaves identical chunks, summaries, tail counts, latest metrics, params and tags, and raises the same
    errors: the lane writes with the worker's code and hands every failure to the queue."""
    outcomes = []
    for name, express_on in (("express", True), ("queued", False)):
        uri = f"sqlite:///{tmp_path / name}.db"
        client = MlflowClient(uri)
        pipeline = get_pipeline(uri)
        lane = pipeline.queue.express
        assert lane is not None
        if not express_on:
            pipeline.queue.set_express(None)
        rid = client.create_run("0").info.run_id
        before = lane.written
        codes = _log_workload(client, rid)
        assert (lane.written > before) == express_on
        # run ids differ between the two databases: compare with the id blanked out
        state = [
            [(None, *row[1:]) for row in _table_rows(tmp_path / f"{name}.db", sql)] for sql in _STATE_QUERIES
        ]
        outcomes.append((codes, state))
        if not express_on:
            pipeline.queue.set_express(lane)  # closed with the pipeline
    (express_codes, express_state), (queued_codes, queued_state) = outcomes
    assert (
        express_codes
        == queued_codes
        == [
            "INVALID_PARAMETER_VALUE",
            "INVALID_PARAMETER_VALUE",
            "RESOURCE_DOES_NOT_EXIST",
        ]
    )
    for sql, a, b in zip(_STATE_QUERIES, express_state, queued_state, strict=True):
        assert a == b, sql


def test_deleted_run_gives_the_same_error(db: Path) -> None:
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    client.delete_run(rid)
    with pytest.raises(MlflowException) as err:
        client.log_metric(rid, "m", 1.0, synchronous=True)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "must be in the 'active' state" in err.value.message


def test_synchronous_call_after_queued_ones_is_ordered_after_them(db: Path) -> None:
    """A thread's asynchronous write followed by its synchronous write of the same tag: after the
    synchronous call returns the store holds the synchronous value (the lane must not overtake the
    queue), and the metric history keeps logging order."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    express = _express()
    before = express.written
    for i in range(200):
        client.set_tag(rid, "t", f"async-{i}", synchronous=False)
        client.log_metric(rid, "m", float(2 * i), step=2 * i, synchronous=False)
        client.set_tag(rid, "t", f"sync-{i}", synchronous=True)
        client.log_metric(rid, "m", float(2 * i + 1), step=2 * i + 1, synchronous=True)
        assert client.get_run(rid).data.tags["t"] == f"sync-{i}"
    assert express.written > before  # some synchronous calls found the pipeline idle
    steps, values, _ = client.get_metric_history_arrays(rid, "m")
    assert steps.tolist() == list(range(400)) and values.tolist() == [float(s) for s in range(400)]


def test_threads_mixing_synchronous_and_asynchronous_calls(db: Path) -> None:
    """Six threads log to one run, alternating synchronous and asynchronous calls: every value is
    present exactly once, each thread's points keep its order, each thread's last tag write wins, and
    a write handed over between threads (happens-before) is applied after the one before it."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    express = _express()
    before = express.written
    n_threads, n = 6, 400
    errors: list[BaseException] = []
    handoff = [threading.Event() for _ in range(n)]

    def worker(t: int) -> None:
        try:
            for i in range(n):
                sync = (i + t) % 2 == 0
                client.log_metric(rid, f"k{t}", float(i), timestamp=1_000 + i, step=i, synchronous=sync)
                client.set_tag(rid, f"tag{t}", str(i), synchronous=not sync)
                if t == 0:  # thread 0 writes the shared tag, then lets thread 1 overwrite it
                    client.set_tag(rid, f"shared{i}", "first", synchronous=sync)
                    handoff[i].set()
                elif t == 1:
                    handoff[i].wait()
                    client.set_tag(rid, f"shared{i}", "second", synchronous=not sync)
            mlflow.flush_async_logging()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert express.written > before
    run = client.get_run(rid)
    for t in range(n_threads):
        steps, values, stamps = client.get_metric_history_arrays(rid, f"k{t}")
        assert sorted(values.tolist()) == [float(i) for i in range(n)]  # each exactly once
        assert steps.tolist() == list(range(n)) and stamps.tolist() == [1_000 + i for i in range(n)]
        assert run.data.tags[f"tag{t}"] == str(n - 1)
        assert run.data.metrics[f"k{t}"] == float(n - 1)
    assert all(run.data.tags[f"shared{i}"] == "second" for i in range(n))


def test_another_process_holding_the_write_lock(db: Path) -> None:
    """While another process holds the database's write lock, a synchronous call cannot be written
    from its thread (SQLite's busy timeout runs out): it goes through the queue, whose worker retries
    with back-off, and returns once the lock is released, written exactly once."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    client.log_metric(rid, "m", 0.0, step=0, synchronous=True)
    express = _express()
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sqlite3, sys
                conn = sqlite3.connect({str(db)!r}, isolation_level=None)
                conn.execute("BEGIN IMMEDIATE")
                print("locked", flush=True)
                sys.stdin.readline()
                conn.execute("COMMIT")
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"
        before = express.written
        done = threading.Event()
        errors: list[BaseException] = []

        def log() -> None:
            try:
                client.log_metric(rid, "m", 1.0, step=1, synchronous=True)
                client.set_tag(rid, "after", "lock", synchronous=True)
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        caller = threading.Thread(target=log)
        caller.start()
        # The call cannot finish while the lock is held (each attempt waits the 0.1 s busy timeout and
        # backs off); give it time to try the lane and fall back, then release the lock.
        assert not done.wait(0.5)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        caller.join(60)
        assert done.is_set() and not errors, errors
    assert express.written == before + 1  # the metric fell back to the queue; the tag found it idle again
    steps, values, _ = client.get_metric_history_arrays(rid, "m")
    assert steps.tolist() == [0, 1] and values.tolist() == [0.0, 1.0]
    assert client.get_run(rid).data.tags["after"] == "lock"


def test_exit_right_after_express_calls(tmp_path: Path) -> None:
    """A process that logs synchronously (the express lane) and exits at once: everything is there, the
    run is ended by the exit hook, nothing is reported unwritten, and the exit code is 0."""
    db = tmp_path / "t.db"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import asynctrack as mlflow
                from asynctrack.pipeline._registry import get_pipeline
                mlflow.set_tracking_uri("sqlite:///{db}")
                run = mlflow.start_run()
                print(run.info.run_id)
                for i in range(500):
                    mlflow.log_metric("m", float(i), step=i, synchronous=True)
                mlflow.log_param("p", "1", synchronous=True)
                mlflow.set_tag("last", "yes", synchronous=True)
                print(get_pipeline().queue.express.written)
                """
            ),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert "NOT written" not in child.stderr and "Traceback" not in child.stderr
    rid, written = child.stdout.split()
    assert int(written) == 502
    client = MlflowClient(f"sqlite:///{db}")
    run = client.get_run(rid)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"p": "1"} and run.data.tags["last"] == "yes"
    steps, values, _ = client.get_metric_history_arrays(rid, "m")
    assert steps.tolist() == list(range(500)) and values.tolist() == [float(i) for i in range(500)]
