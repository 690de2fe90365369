"""Reads while another thread logs at full speed see a consistent, growing prefix of its writes."""

from __future__ import annotations

import threading

import numpy as np

from asynctrack import MlflowClient


def test_history_reads_during_logging_are_consistent_prefixes(tmp_tracking: str) -> None:
    """Every history read during 200,000 asynchronous points is steps 0..n-1 with n never shrinking."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    done = threading.Event()

    def writer() -> None:
        w = MlflowClient()
        for i in range(200_000):
            w.log_metric(rid, "m", float(i), step=i, synchronous=False)
        w.flush()
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    while not done.is_set():
        steps, values, _ = client.get_metric_history_arrays(rid, "m")
        n = len(steps)
        assert np.array_equal(steps, np.arange(n)) and np.array_equal(values, np.arange(n, dtype=float))
        if seen:
            assert n >= seen[-1]
        seen.append(n)
    t.join()
    assert len(client.get_metric_history(rid, "m")) == 200_000
    assert len(seen) >= 2


def test_bulk_read_of_several_keys(tmp_tracking: str) -> None:
    """get_metric_histories_arrays returns each requested key's history, empty for unknown keys."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    client.log_metric_array(rid, "a", [1.0, 2.0])
    client.log_metric_array(rid, "b", [3.0], steps=[7])
    got = client.get_metric_histories_arrays(rid, ["a", "b", "missing"])
    assert got["a"][1].tolist() == [1.0, 2.0] and got["b"][0].tolist() == [7]
    assert len(got["missing"][0]) == 0
