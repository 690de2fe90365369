"""``TrainingRun.log_metrics``, the one pass over a step's dict that every integration calls in its training
step: what it stores when keys repeat, clean to the same name, change value type or are dropped; a dict
with the keys of the last one (the repeated-keys path) in another order, with an int, a string or an int
past float's range among its values; a step out of range refused with MLflow's error and nothing queued;
and its cache following the pipeline after the pipelines are closed and made again (as after fork)."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

import asynctrack
from asynctrack.exceptions import MlflowException
from asynctrack.integrations._run import TrainingRun
from asynctrack.pipeline import close_pipelines


def _history(run_id: str) -> dict[str, list[tuple[int, float]]]:
    client = asynctrack.MlflowClient()
    keys = client.get_run(run_id).data.metrics
    return {k: [(m.step, m.value) for m in client.get_metric_history(run_id, k)] for k in sorted(keys)}


def test_every_value_as_given_across_steps(tmp_tracking: str, caplog: pytest.LogCaptureFixture) -> None:
    run = TrainingRun(run_name="direct")
    with caplog.at_level(logging.WARNING, logger="asynctrack"):
        run.log_metrics({"loss": 1.0, "acc@1": 0.5, "n": 3, "note": "x"}, 0)
        run.log_metrics({"loss": 0.5, "acc@1": np.float32(0.75), "acc1": 0.7, "n": 4.5, "note": "y"}, 1)
        run.log_metrics({"loss": 2, "acc@1": 0.25, "n": True}, 2)  # int and bool values of cached keys
        run.log_metrics({"loss": 0.25}, 3, prefix="val/")  # the same raw key under a prefix
        run.log_metrics({}, 4)
    run.finish("FINISHED")
    assert _history(run.run_id) == {
        # acc@1 cleans to acc1: both raw keys' points are kept, in the order given
        "acc1": [(0, 0.5), (1, 0.75), (1, 0.7), (2, 0.25)],
        "loss": [(0, 1.0), (1, 0.5), (2, 2.0)],
        "n": [(0, 3.0), (1, 4.5), (2, 1.0)],
        "val/loss": [(3, 0.25)],
    }
    assert caplog.text.count("'acc@1'") == 1  # the cleaning is said once
    assert caplog.text.count("'note'='x' is not a number") == 1 and "'y'" not in caplog.text


def test_a_dict_with_the_last_dicts_keys(tmp_tracking: str, caplog: pytest.LogCaptureFixture) -> None:
    run = TrainingRun()
    with caplog.at_level(logging.WARNING, logger="asynctrack"):
        for step in range(3):  # Lightning's dict: floats and an int epoch, the same keys every step
            run.log_metrics({"loss": 1.0 + step, "acc": 0.5, "epoch": step}, step)
        run.log_metrics({"epoch": 7, "acc": 0.25, "loss": 9.0}, 3)  # the same keys in another order
        run.log_metrics({"epoch": 7, "acc": 0.25, "loss": 9.0}, 4)
        run.log_metrics({"epoch": 2**1100, "acc": 0.75, "loss": 8.0}, 5)  # an int float() cannot hold
        run.log_metrics({"epoch": 8, "acc": 0.5, "loss": 7.0}, 6)  # epoch stays dropped
        run.log_metrics({"epoch": 8, "acc": "n/a", "loss": 6.0}, 7)  # a string where a number was
        run.log_metrics({"epoch": 9, "acc": 0.125, "loss": 5.0}, 8)  # the int stays dropped, a float is kept
        run.log_metrics({"loss": 4.0, "lr": 0.5}, 9)
        run.log_metrics({"loss": 3.0, "lr": np.float64(0.25)}, 10)  # a float subclass
        run.log_metrics({"loss": 2.0}, 11)  # fewer keys
    run.finish("FINISHED")
    assert _history(run.run_id) == {
        "acc": [(0, 0.5), (1, 0.5), (2, 0.5), (3, 0.25), (4, 0.25), (5, 0.75), (6, 0.5), (8, 0.125)],
        "epoch": [(0, 0.0), (1, 1.0), (2, 2.0), (3, 7.0), (4, 7.0)],
        "loss": [(0, 1.0), (1, 2.0), (2, 3.0), (3, 9.0), (4, 9.0), (5, 8.0), (6, 7.0), (7, 6.0), (8, 5.0),
                 (9, 4.0), (10, 3.0), (11, 2.0)],
        "lr": [(9, 0.5), (10, 0.25)],
    }  # fmt: skip
    # a value that is not a number drops its key from then on, with one warning (MLflow's integrations)
    assert "'epoch'=" in caplog.text and "'acc'='n/a' is not a number" in caplog.text


def test_a_step_out_of_range_is_refused_and_queues_nothing(tmp_tracking: str) -> None:
    run = TrainingRun()
    run.log_metrics({"loss": 1.0}, 0)
    for metrics in ({"loss": 2.0}, {"loss": 2.0, "new": 1.0}):  # keys all seen before, and a new one
        with pytest.raises(MlflowException) as ei:
            run.log_metrics(metrics, 2**63)
        assert ei.value.error_code == "INVALID_PARAMETER_VALUE" and str(2**63) in ei.value.message
    run.log_metrics({"loss": 3.0}, 1)
    run.finish("FINISHED")
    assert _history(run.run_id) == {"loss": [(0, 1.0), (1, 3.0)]}


def test_the_cache_follows_a_new_pipeline(tmp_tracking: str) -> None:
    run = TrainingRun()
    run.log_metrics({"loss": 1.0}, 0)
    asynctrack.flush_async_logging()
    close_pipelines()  # what exit and fork() do: the next call gets a new pipeline and queue
    run.log_metrics({"loss": 2.0}, 1)
    run.finish("FINISHED")
    assert _history(run.run_id) == {"loss": [(0, 1.0), (1, 2.0)]}


def test_threads_taking_turns_each_log_through_their_own_producer(tmp_tracking: str) -> None:
    """The repeated-keys path keeps the last calling thread's producer: threads taking turns (a
    DataLoader's or a callback's thread beside the training loop) each get their own, and every point
    lands; a thread started after another ended may reuse its id and so its producer, which no thread
    uses any more."""
    run = TrainingRun()
    run.log_metrics({"loss": 0.0, "acc": 0.0}, 0)
    turns = [threading.Event(), threading.Event()]
    producers = []

    def other() -> None:
        for step in range(1, 40, 2):
            assert turns[1].wait(30)
            turns[1].clear()
            run.log_metrics({"loss": float(step), "acc": 1.0}, step)
            producers.append(run._step_top_of[3] if run._step_top_of else None)
            turns[0].set()

    thread = threading.Thread(target=other)
    thread.start()
    for step in range(2, 41, 2):
        run.log_metrics({"loss": float(step), "acc": 0.0}, step)
        producers.append(run._step_top_of[3] if run._step_top_of else None)
        turns[1].set()
        assert turns[0].wait(30)
        turns[0].clear()
    thread.join(60)
    for step in (41, 42):  # a thread that starts after the other ended
        later = threading.Thread(target=run.log_metrics, args=({"loss": float(step), "acc": 2.0}, step))
        later.start()
        later.join(60)
    run.finish("FINISHED")
    assert len({id(p) for p in producers[0::2]}) == 1 and len({id(p) for p in producers[1::2]}) == 1
    assert producers[0] is not producers[1]
    history = _history(run.run_id)
    assert history["loss"] == [(step, float(step)) for step in range(43)]
    assert [v for _s, v in history["acc"]] == [0.0] + [1.0, 0.0] * 20 + [2.0, 2.0]


@pytest.mark.parametrize("via_fluent", [True, False])
def test_finish_queues_the_end_and_the_worker_writes_it_at_once(
    tmp_tracking: str, via_fluent: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``finish`` does not wait for the store: the status change is queued behind the data and the worker
    nudged. With a linger of a minute, only that nudge can make another thread (with no operations of its
    own to wait for) see every point and the ended run within the test's wait; this thread sees them at
    once (a read waits for the reader's own operations)."""
    import concurrent.futures

    monkeypatch.setenv("ASYNCTRACK_LINGER_MS", "60000")
    monkeypatch.setenv("ASYNCTRACK_MAX_LINGER_MS", "60000")
    close_pipelines()  # the next call makes a pipeline with these lingers
    if not via_fluent:
        asynctrack.start_run(run_name="the user's own run")  # the integration then makes a run of its own
        run = TrainingRun(run_name="beside", use_active=False)
    else:
        run = TrainingRun(run_name="fluent")
    try:
        for step in range(3000):
            run.log_metrics({"loss": float(step), "acc": step / 3000}, step)
        run.finish("FAILED")
        if via_fluent:
            assert asynctrack.active_run() is None  # the integration's run is off the stack at once

        def read() -> tuple[str, list[int], list[int]]:
            client = asynctrack.MlflowClient()
            info = client.get_run(run.run_id).info
            steps = [m.step for m in client.get_metric_history(run.run_id, "loss")]
            return info.status, steps, [m.step for m in client.get_metric_history(run.run_id, "acc")]

        every = (list(range(3000)), list(range(3000)))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            deadline = time.monotonic() + 30.0  # generous; without the nudge: a minute
            while True:
                status, loss, acc = pool.submit(read).result()
                if status != "RUNNING" or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        assert status == "FAILED"
        assert (loss, acc) == every  # the status is written with or after the data, never before
        status, loss, acc = read()
        assert status == "FAILED" and (loss, acc) == every
    finally:
        asynctrack.end_run()


def test_a_read_right_after_finish_sees_the_end(tmp_tracking: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the thread that trained, reading right after ``finish`` gives the ended run with all its points
    (the read waits for that thread's queued operations), and so does any thread after a flush."""
    import concurrent.futures

    monkeypatch.setenv("ASYNCTRACK_LINGER_MS", "60000")
    monkeypatch.setenv("ASYNCTRACK_MAX_LINGER_MS", "60000")
    close_pipelines()
    run = TrainingRun(run_name="fluent")
    for step in range(500):
        run.log_metrics({"loss": float(step)}, step)
    run.finish("KILLED")
    assert asynctrack.MlflowClient().get_run(run.run_id).info.status == "KILLED"
    assert asynctrack.last_active_run().info.status == "KILLED"  # type: ignore[union-attr]
    asynctrack.flush_async_logging()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        other = pool.submit(lambda: asynctrack.MlflowClient().get_run(run.run_id)).result()
    assert other.info.status == "KILLED" and other.info.end_time is not None
    assert _history(run.run_id)["loss"] == [(s, float(s)) for s in range(500)]
