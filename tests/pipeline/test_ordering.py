"""Per-run ordering: operations of a run apply in the order they were enqueued, across threads too."""

from __future__ import annotations

import threading
from pathlib import Path

import asynctrack as mlflow
from asynctrack import MlflowClient


def test_last_tag_write_wins_in_a_burst(db: Path) -> None:
    """5,000 asynchronous writes of one tag leave the last value."""
    with mlflow.start_run() as run:
        for i in range(5000):
            mlflow.set_tag("t", i, synchronous=False)
    assert mlflow.get_run(run.info.run_id).data.tags["t"] == "4999"


def test_handoff_between_threads_is_ordered(db: Path) -> None:
    """A write made after another thread's write (happens-before) is applied after it."""
    client = MlflowClient()
    run = client.create_run("0")
    rid = run.info.run_id
    for round_ in range(30):
        first_done = threading.Event()

        def writer_a(key: str = f"k{round_}", first_done: threading.Event = first_done) -> None:
            client.set_tag(rid, key, "from-a", synchronous=False)
            first_done.set()

        def writer_b(key: str = f"k{round_}", first_done: threading.Event = first_done) -> None:
            first_done.wait()
            client.set_tag(rid, key, "from-b", synchronous=False)

        threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    mlflow.flush_async_logging()
    tags = client.get_run(rid).data.tags
    assert all(tags[f"k{i}"] == "from-b" for i in range(30))


def test_many_threads_logging_to_one_run(db: Path) -> None:
    """Eight threads logging 5,000 points each to one run: every point lands, in step order."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            ops = [
                client.log_metric(rid, f"thread{n}", float(i), step=i, synchronous=False) for i in range(5000)
            ]
            mlflow.RunOperations.combine(ops).wait()  # type: ignore[union-attr]
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n in range(8):
        history = client.get_metric_history(rid, f"thread{n}")
        assert [m.step for m in history] == list(range(5000))
        assert [m.value for m in history] == [float(i) for i in range(5000)]


def test_end_run_is_ordered_after_the_runs_data(db: Path) -> None:
    """end_run() marks the run finished only after everything queued for it is written."""
    with mlflow.start_run() as run:
        for i in range(20_000):
            mlflow.log_metric("m", float(i), step=i, synchronous=False)
    info = mlflow.get_run(run.info.run_id)
    assert info.info.status == "FINISHED"
    assert info.info.end_time is not None
    assert len(MlflowClient().get_metric_history(run.info.run_id, "m")) == 20_000


def test_delete_tag_and_set_again_in_order(db: Path) -> None:
    """set, delete, set of one tag in a burst ends with the last value; set then delete ends without it."""
    with mlflow.start_run() as run:
        mlflow.set_tag("a", "1", synchronous=False)
        mlflow.delete_tag("a")
        mlflow.set_tag("a", "2", synchronous=False)
        mlflow.set_tag("b", "1", synchronous=False)
        mlflow.delete_tag("b")
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags["a"] == "2"
    assert "b" not in tags


def test_read_your_writes_without_flush(db: Path) -> None:
    """A read by the logging thread sees everything that thread logged before it, unflushed."""
    with mlflow.start_run() as run:
        for i in range(3000):
            mlflow.log_metric("m", float(i), step=i, synchronous=False)
        mlflow.set_tag("t", "x", synchronous=False)
        got = mlflow.get_run(run.info.run_id)
        history = MlflowClient().get_metric_history(run.info.run_id, "m")
    assert got.data.metrics["m"] == 2999.0 and got.data.tags["t"] == "x"
    assert len(history) == 3000
