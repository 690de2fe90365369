"""Experiment and run management through MlflowClient and the fluent API, with MLflow's errors."""

from __future__ import annotations

import numpy as np
import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient, MlflowException
from asynctrack.store._sampling import sample_steps


def error_code(call) -> str:
    with pytest.raises(MlflowException) as info:
        call()
    return info.value.error_code


def test_delete_and_restore_experiment_take_its_runs_along(tmp_tracking: str) -> None:
    """Deleting an experiment deletes its runs; restoring brings both back, as in MLflow."""
    client = MlflowClient()
    exp = client.create_experiment("e")
    rid = client.create_run(exp).info.run_id
    client.delete_experiment(exp)
    assert client.get_experiment(exp).lifecycle_stage == "deleted"
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    assert error_code(lambda: client.delete_experiment(exp)) == "RESOURCE_DOES_NOT_EXIST"
    assert error_code(lambda: client.create_run(exp)) == "INVALID_PARAMETER_VALUE"
    client.restore_experiment(exp)
    assert client.get_experiment(exp).lifecycle_stage == "active"
    assert client.get_run(rid).info.lifecycle_stage == "active"
    assert error_code(lambda: client.restore_experiment(exp)) == "RESOURCE_DOES_NOT_EXIST"


def test_rename_experiment(tmp_tracking: str) -> None:
    """Renaming works for active experiments; a taken name or a deleted experiment is refused."""
    client = MlflowClient()
    a = client.create_experiment("a")
    client.create_experiment("b")
    client.rename_experiment(a, "a2")
    assert client.get_experiment(a).name == "a2"
    assert client.get_experiment_by_name("a") is None
    assert error_code(lambda: client.rename_experiment(a, "b")) == "RESOURCE_ALREADY_EXISTS"
    assert error_code(lambda: client.rename_experiment(a, "")) == "INVALID_PARAMETER_VALUE"
    client.delete_experiment(a)
    with pytest.raises(MlflowException, match="Cannot rename a non-active experiment") as info:
        client.rename_experiment(a, "c")
    assert info.value.error_code == "INVALID_STATE"


def test_experiment_tags(tmp_tracking: str) -> None:
    """Experiment tags are set (last write wins), deleted, and refused on a deleted experiment."""
    client = MlflowClient()
    exp = client.create_experiment("e", tags={"team": "x"})
    client.set_experiment_tag(exp, "team", "y")
    client.set_experiment_tag(exp, "n", 3)
    assert client.get_experiment(exp).tags == {"team": "y", "n": "3"}
    client.delete_experiment_tag(exp, "n")
    assert client.get_experiment(exp).tags == {"team": "y"}
    with pytest.raises(MlflowException, match="No tag with name: n") as info:
        client.delete_experiment_tag(exp, "n")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.delete_experiment(exp)
    assert error_code(lambda: client.set_experiment_tag(exp, "k", "v")) == "INVALID_PARAMETER_VALUE"


def test_fluent_experiment_tags_apply_to_the_active_experiment(tmp_tracking: str) -> None:
    """set_experiment_tag(s) and delete_experiment_tag act on the experiment set_experiment chose."""
    exp = mlflow.set_experiment("fluent")
    mlflow.set_experiment_tags({"a": 1, "b": 2})
    mlflow.delete_experiment_tag("a")
    assert mlflow.get_experiment(exp.experiment_id).tags == {"b": "2"}


def test_delete_and_restore_run(tmp_tracking: str) -> None:
    """A deleted run keeps its data, refuses logging, and comes back with restore_run."""
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0, synchronous=False)
    rid = run.info.run_id
    mlflow.delete_run(rid)
    got = mlflow.get_run(rid)
    assert got.info.lifecycle_stage == "deleted" and got.data.metrics == {"m": 1.0}
    assert error_code(lambda: MlflowClient().log_metric(rid, "m", 2.0)) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="deleted state"):
        mlflow.start_run(run_id=rid)
    mlflow.restore_run(rid)
    MlflowClient().log_metric(rid, "m", 2.0)
    assert mlflow.get_run(rid).info.lifecycle_stage == "active"
    assert error_code(lambda: mlflow.delete_run("f" * 32)) == "RESOURCE_DOES_NOT_EXIST"


def test_delete_run_waits_for_the_callers_queued_writes(tmp_tracking: str) -> None:
    """Points queued before delete_run are written, not failed against the deleted run."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    ops = [client.log_metric(rid, "m", float(i), step=i, synchronous=False) for i in range(5000)]
    client.delete_run(rid)
    mlflow.RunOperations.combine(ops).wait()  # type: ignore[union-attr]
    assert len(client.get_metric_history(rid, "m")) == 5000


def test_get_parent_run(tmp_tracking: str) -> None:
    """get_parent_run follows mlflow.parentRunId; a top-level run has none."""
    with mlflow.start_run() as parent, mlflow.start_run(nested=True) as child:
        pass
    got = mlflow.get_parent_run(child.info.run_id)
    assert got is not None and got.info.run_id == parent.info.run_id
    assert mlflow.get_parent_run(parent.info.run_id) is None


def test_metric_history_bulk_interval_samples_evenly(tmp_tracking: str) -> None:
    """At most max_results points per run, spread over the step range, first and last kept."""
    client = MlflowClient()
    runs = [client.create_run("0").info.run_id for _ in range(2)]
    for rid in runs:
        client.log_metric_array(rid, "loss", np.linspace(1, 0, 10_000), steps=np.arange(10_000) * 2)
    got = client.get_metric_history_bulk_interval(runs, "loss", max_results=50)
    for rid in runs:
        steps = [m.step for m in got if m.run_id == rid]
        assert 40 <= len(steps) <= 50
        assert steps[0] == 0 and steps[-1] == 19_998 and steps == sorted(steps)
    window = client.get_metric_history_bulk_interval(runs[:1], "loss", 10, start_step=100, end_step=300)
    assert [m.step for m in window][0] == 100 and window[-1].step == 300 and len(window) <= 10


@pytest.mark.parametrize(
    ("steps", "n", "start", "end", "expected"),
    [
        ([0, 1, 2, 3], 10, None, None, [0, 1, 2, 3]),
        ([0, 1, 2, 3], 1, None, None, [3]),
        ([0, 1, 2, 3, 4], 2, None, None, [0, 4]),
        ([0, 10, 20, 30, 40], 3, 10, 30, [1, 2, 3]),
        ([5, 5, 5, 9], 2, None, None, [0, 3]),
        # MLflow 3.17.2 (NTILE buckets' first rows, the last row in place of the last): checked against
        # the real server in tests/interop/test_history_sampling.py.
        (list(range(10)), 5, None, None, [0, 2, 4, 6, 9]),
        (list(range(11)), 5, None, None, [0, 3, 5, 7, 10]),
        (list(range(7)), 3, None, None, [0, 3, 6]),
        (list(range(12)), 5, 2, 9, [2, 4, 6, 8, 9]),
    ],
)
def test_sample_steps(steps, n, start, end, expected) -> None:
    """sample_steps picks MLflow's rows within the window, keeping its first and last."""
    assert sample_steps(np.array(steps), n, start, end).tolist() == expected
