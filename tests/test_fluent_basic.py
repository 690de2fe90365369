"""The fluent API (start_run, log_*, set_experiment, ...) and MlflowClient over a real SQLite file."""

from __future__ import annotations

import contextlib
import math
import os
import re
import sqlite3
import sys

import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient, MlflowException, RunOperations
from asynctrack._context import current_user
from asynctrack.entities import Metric, Param, RunTag


def _error(fn, *args, **kwargs) -> MlflowException:
    with pytest.raises(MlflowException) as ei:
        fn(*args, **kwargs)
    return ei.value


def _mark_run_deleted(tmp_path, run_id):
    with contextlib.closing(sqlite3.connect(tmp_path / "t.db")) as conn:
        conn.execute("UPDATE runs SET lifecycle_stage = 'deleted' WHERE run_id = ?", (run_id,))
        conn.commit()


# -- start_run / end_run / active_run / last_active_run


def test_start_and_end_run(tmp_tracking):
    """start_run makes a RUNNING run active in experiment "0"; end_run marks it FINISHED with an end time."""
    run = mlflow.start_run()
    assert isinstance(run, mlflow.ActiveRun)
    assert mlflow.active_run() is run
    assert run.info.status == "RUNNING" and run.info.experiment_id == "0"
    assert re.fullmatch(r"[0-9a-f]{32}", run.info.run_id)
    mlflow.end_run()
    assert mlflow.active_run() is None
    info = mlflow.get_run(run.info.run_id).info
    assert info.status == "FINISHED" and info.end_time is not None and info.end_time >= info.start_time


def test_end_run_with_status_and_without_run(tmp_tracking):
    """end_run(status) records that status; end_run with no active run is a no-op."""
    mlflow.end_run()
    run = mlflow.start_run()
    mlflow.end_run("KILLED")
    assert mlflow.get_run(run.info.run_id).info.status == "KILLED"


def test_end_run_rejects_unknown_status(tmp_tracking):
    """end_run with an unknown status raises and leaves the run active."""
    run = mlflow.start_run()
    e = _error(mlflow.end_run, "DONE")
    assert "DONE" in e.message
    assert mlflow.active_run() is run


def test_last_active_run(tmp_tracking):
    """last_active_run is None before any run, the active run during one, the re-read run after it."""
    assert mlflow.last_active_run() is None
    run = mlflow.start_run()
    assert mlflow.last_active_run() is run
    mlflow.end_run()
    last = mlflow.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == "FINISHED"


def test_start_run_while_active_raises(tmp_tracking):
    """A second non-nested start_run raises MLflow's message naming the bottom run of the stack."""
    parent = mlflow.start_run()
    mlflow.start_run(nested=True)
    e = _error(mlflow.start_run)
    assert e.message == (
        f"Run with UUID {parent.info.run_id} is already active. To start a new run, first end the "
        "current run with mlflow.end_run(). To start a nested run, call start_run with nested=True"
    )


def test_nested_runs(tmp_tracking):
    """nested=True starts a child tagged mlflow.parentRunId; end_run pops back to the parent."""
    parent = mlflow.start_run()
    child = mlflow.start_run(nested=True)
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "mlflow.parentRunId" not in parent.data.tags
    assert mlflow.active_run() is child
    mlflow.end_run()
    assert mlflow.active_run() is parent
    assert mlflow.get_run(child.info.run_id).info.status == "FINISHED"
    assert mlflow.get_run(parent.info.run_id).info.status == "RUNNING"


def test_parent_run_id_must_match_active_run(tmp_tracking):
    """parent_run_id different from the active run is INVALID_PARAMETER_VALUE naming both ids."""
    parent = mlflow.start_run()
    other = "a" * 32
    e = _error(mlflow.start_run, nested=True, parent_run_id=other)
    assert e.error_code == "INVALID_PARAMETER_VALUE"
    assert parent.info.run_id in e.message and other in e.message


def test_context_manager_finished(tmp_tracking):
    """Leaving a with start_run() block normally ends the run FINISHED."""
    with mlflow.start_run() as run:
        assert mlflow.active_run() is run
    assert mlflow.active_run() is None
    assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"


def test_context_manager_failed_and_reraises(tmp_tracking):
    """An exception in a with start_run() block ends the run FAILED and propagates."""
    with pytest.raises(ZeroDivisionError), mlflow.start_run() as run:
        1 / 0  # noqa: B018
    assert mlflow.active_run() is None
    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"


def test_outer_context_ends_open_nested_runs(tmp_tracking):
    """Exiting an outer with-block also ends a nested run still open inside it."""
    with mlflow.start_run() as outer:
        inner = mlflow.start_run(nested=True)
    assert mlflow.active_run() is None
    assert mlflow.get_run(inner.info.run_id).info.status == "FINISHED"
    assert mlflow.get_run(outer.info.run_id).info.status == "FINISHED"


def test_logging_without_run_starts_one(tmp_tracking):
    """log_metric with no active run starts a run and logs into it."""
    assert mlflow.active_run() is None
    mlflow.log_metric("m", 1.0)
    run = mlflow.active_run()
    assert run is not None
    assert mlflow.get_run(run.info.run_id).data.metrics == {"m": 1.0}


# -- resume


def test_resume_by_run_id(tmp_tracking):
    """start_run(run_id=...) resumes a finished run: same id, RUNNING again, earlier data kept."""
    with mlflow.start_run() as first:
        mlflow.log_param("p", "1")
    with mlflow.start_run(run_id=first.info.run_id, run_name="renamed") as again:
        assert again.info.run_id == first.info.run_id
        assert again.info.status == "RUNNING" and again.info.run_name == "renamed"
        mlflow.log_metric("m", 2.0)
    run = mlflow.get_run(first.info.run_id)
    assert run.data.params == {"p": "1"} and run.data.metrics == {"m": 2.0}
    assert run.info.status == "FINISHED"


def test_resume_unknown_or_malformed_run_id(tmp_tracking):
    """Resuming an unknown id is RESOURCE_DOES_NOT_EXIST; a malformed id is INVALID_PARAMETER_VALUE."""
    e = _error(mlflow.start_run, run_id="b" * 32)
    assert e.error_code == "RESOURCE_DOES_NOT_EXIST" and "b" * 32 in e.message
    e = _error(mlflow.start_run, run_id="not a run id")
    assert e.error_code == "INVALID_PARAMETER_VALUE" and '"not a run id"' in e.message
    assert mlflow.active_run() is None


def test_resume_deleted_run_refused(tmp_tracking, tmp_path):
    """Resuming a deleted run fails with MLflow's message."""
    with mlflow.start_run() as run:
        pass
    _mark_run_deleted(tmp_path, run.info.run_id)
    e = _error(mlflow.start_run, run_id=run.info.run_id)
    assert e.message == f"Cannot start run with ID {run.info.run_id} because it is in the deleted state."


def test_resume_from_mlflow_run_id_env(tmp_tracking, monkeypatch):
    """start_run() resumes MLFLOW_RUN_ID and removes the variable from os.environ."""
    with mlflow.start_run() as first:
        pass
    monkeypatch.setenv("MLFLOW_RUN_ID", first.info.run_id)
    resumed = mlflow.start_run()
    assert resumed.info.run_id == first.info.run_id
    assert "MLFLOW_RUN_ID" not in os.environ
    mlflow.end_run()
    assert mlflow.start_run().info.run_id != first.info.run_id


def test_resume_checks_experiment(tmp_tracking):
    """Resuming a run from another experiment than the one requested fails, naming the run."""
    with mlflow.start_run() as run:
        pass
    exp_id = mlflow.create_experiment("other")
    e = _error(mlflow.start_run, run_id=run.info.run_id, experiment_id=exp_id)
    assert e.message.startswith(f"Cannot start run with ID {run.info.run_id} because active experiment ID")


# -- experiments


def test_set_experiment_by_name_creates_and_reuses(tmp_tracking):
    """set_experiment(name) creates a missing experiment, reuses it later, and new runs go there."""
    exp = mlflow.set_experiment("my-exp")
    assert exp.name == "my-exp" and exp.experiment_id != "0" and exp.lifecycle_stage == "active"
    assert mlflow.set_experiment("my-exp").experiment_id == exp.experiment_id
    with mlflow.start_run() as run:
        assert run.info.experiment_id == exp.experiment_id
    assert mlflow.get_experiment_by_name("my-exp").experiment_id == exp.experiment_id


def test_set_experiment_by_id(tmp_tracking):
    """set_experiment(experiment_id=...) activates an existing experiment; unknown ids fail."""
    exp_id = mlflow.create_experiment("by-id")
    assert mlflow.set_experiment(experiment_id=exp_id).name == "by-id"
    with mlflow.start_run() as run:
        assert run.info.experiment_id == exp_id
    assert _error(mlflow.set_experiment, experiment_id="999").error_code == "RESOURCE_DOES_NOT_EXIST"


def test_set_experiment_needs_exactly_one_argument(tmp_tracking):
    """set_experiment with neither or both of name/id is INVALID_PARAMETER_VALUE."""
    for kwargs in ({}, {"experiment_name": "a", "experiment_id": "0"}):
        e = _error(mlflow.set_experiment, **kwargs)
        assert e.error_code == "INVALID_PARAMETER_VALUE"
        assert e.message == "Must specify exactly one of: `experiment_id` or `experiment_name`."


def test_mlflow_experiment_name_env(tmp_tracking, monkeypatch):
    """MLFLOW_EXPERIMENT_NAME picks (and creates) the experiment for new runs."""
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    with mlflow.start_run() as run:
        pass
    exp = mlflow.get_experiment_by_name("from-env")
    assert exp is not None and run.info.experiment_id == exp.experiment_id


def test_mlflow_experiment_name_and_id_env_mismatch(tmp_tracking, monkeypatch):
    """MLFLOW_EXPERIMENT_ID contradicting MLFLOW_EXPERIMENT_NAME is INVALID_PARAMETER_VALUE naming both."""
    exp_id = mlflow.create_experiment("named")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "named")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "0")
    e = _error(mlflow.start_run)
    assert e.error_code == "INVALID_PARAMETER_VALUE"
    assert e.message == (
        "The provided MLFLOW_EXPERIMENT_ID environment variable value `0` does not match the experiment "
        f"id `{exp_id}` for experiment name `named`"
    )


def test_set_deleted_experiment_refused(tmp_tracking, tmp_path):
    """set_experiment on a deleted experiment is INVALID_PARAMETER_VALUE naming it."""
    exp_id = mlflow.create_experiment("trash")
    with contextlib.closing(sqlite3.connect(tmp_path / "t.db")) as conn:
        conn.execute(
            "UPDATE experiments SET lifecycle_stage = 'deleted' WHERE experiment_id = ?", (int(exp_id),)
        )
        conn.commit()
    for kwargs in ({"experiment_name": "trash"}, {"experiment_id": exp_id}):
        e = _error(mlflow.set_experiment, **kwargs)
        assert e.error_code == "INVALID_PARAMETER_VALUE"
        assert e.message.startswith("Cannot set a deleted experiment 'trash' as the active experiment.")


def test_mlflow_experiment_id_env_missing(tmp_tracking, monkeypatch):
    """An MLFLOW_EXPERIMENT_ID that does not exist is INVALID_PARAMETER_VALUE with MLflow's message."""
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "404")
    e = _error(mlflow.start_run)
    assert e.error_code == "INVALID_PARAMETER_VALUE"
    assert e.message == (
        "The provided MLFLOW_EXPERIMENT_ID environment variable value `404` does not exist in the "
        "tracking server. Provide a valid experiment_id."
    )


def test_start_run_experiment_id_argument(tmp_tracking):
    """start_run(experiment_id=) accepts str or int ids and rejects other types."""
    exp_id = mlflow.create_experiment("arg")
    with mlflow.start_run(experiment_id=int(exp_id)) as run:
        assert run.info.experiment_id == exp_id
    e = _error(mlflow.start_run, experiment_id=[exp_id])
    assert e.error_code == "INVALID_PARAMETER_VALUE"
    assert e.message.startswith(f"Invalid experiment id: {[exp_id]!r} of type <class 'list'>.")


# -- tags set at start


def test_system_tags_and_user(tmp_tracking, monkeypatch):
    """New runs carry mlflow.user, mlflow.source.name/type and mlflow.runName; user_id is the user."""
    # The main script as a user's would be, whatever started this process (an xdist worker's is "-c").
    monkeypatch.setattr(sys, "argv", ["train.py", *sys.argv[1:]])
    with mlflow.start_run(run_name="tagged") as run:
        pass
    stored = mlflow.get_run(run.info.run_id)
    tags = stored.data.tags
    assert tags["mlflow.user"] == current_user() == stored.info.user_id
    assert tags["mlflow.source.name"] == os.path.join(os.getcwd(), "train.py")
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.runName"] == "tagged" == stored.info.run_name


def test_description_becomes_note_tag(tmp_tracking):
    """description= is stored as the mlflow.note.content tag; also giving that tag is an error."""
    with mlflow.start_run(description="my notes", tags={"k": 1}) as run:
        pass
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags["mlflow.note.content"] == "my notes" and tags["k"] == "1"
    e = _error(mlflow.start_run, description="a", tags={"mlflow.note.content": "b"})
    assert e.error_code == "INVALID_PARAMETER_VALUE" and "mlflow.note.content" in e.message


# -- logging


def test_log_param_returns_value_when_synchronous(tmp_tracking):
    """log_param returns the original value (not its string) when synchronous, RunOperations otherwise."""
    with mlflow.start_run() as run:
        assert mlflow.log_param("n", 1) == 1
        ops = mlflow.log_param("m", 2.5, synchronous=False)
        assert isinstance(ops, RunOperations)
        ops.wait()
    assert mlflow.get_run(run.info.run_id).data.params == {"n": "1", "m": "2.5"}


def test_log_metrics_params_tags(tmp_tracking):
    """log_metrics/log_params/set_tags write every entry; synchronous calls return None."""
    with mlflow.start_run() as run:
        assert mlflow.log_metrics({"a": 1.0, "b": 2}, step=3) is None
        assert mlflow.log_params({"lr": 0.1, "opt": "adam"}) is None
        assert mlflow.set_tags({"team": "ml", "n": 5}) is None
        assert mlflow.set_tag("single", None) is None
    data = mlflow.get_run(run.info.run_id).data
    assert data.metrics == {"a": 1.0, "b": 2.0}
    assert data.params == {"lr": "0.1", "opt": "adam"}
    assert data.tags["team"] == "ml" and data.tags["n"] == "5" and data.tags["single"] == "None"
    client = MlflowClient()
    (a,) = client.get_metric_history(run.info.run_id, "a")
    (b,) = client.get_metric_history(run.info.run_id, "b")
    assert a.step == b.step == 3 and a.timestamp == b.timestamp


def test_log_metric_step_and_timestamp(tmp_tracking):
    """log_metric stores the given step and timestamp; integral float steps are accepted, 1.5 is not."""
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 0.5, step=2.0, timestamp=1234)
        e = _error(mlflow.log_metric, "m", 0.5, step=1.5)
        assert e.error_code == "INVALID_PARAMETER_VALUE" and "1.5" in e.message
    (point,) = MlflowClient().get_metric_history(run.info.run_id, "m")
    assert (point.value, point.step, point.timestamp) == (0.5, 2, 1234)


def test_non_finite_metrics_read_back_exactly(tmp_tracking):
    """NaN and +-inf logged through the fluent API read back as NaN and +-inf."""
    with mlflow.start_run() as run:
        mlflow.log_metric("m", float("inf"), step=0)
        mlflow.log_metric("m", float("-inf"), step=1)
        mlflow.log_metric("m", float("nan"), step=2)
    values = [p.value for p in MlflowClient().get_metric_history(run.info.run_id, "m")]
    assert values[0] == math.inf and values[1] == -math.inf and math.isnan(values[2])
    assert math.isnan(mlflow.get_run(run.info.run_id).data.metrics["m"])


def test_bad_key_raises_at_call_site_even_async(tmp_tracking):
    """A bad metric key raises INVALID_PARAMETER_VALUE at the call, also with synchronous=False."""
    with mlflow.start_run():
        e = _error(mlflow.log_metric, "bad$key", 1.0, synchronous=False)
        assert e.error_code == "INVALID_PARAMETER_VALUE" and '"bad$key"' in e.message


def test_changed_param_async_error_keeps_code(tmp_tracking):
    """A changed param logged asynchronously fails on wait() with the store's INVALID_PARAMETER_VALUE."""
    with mlflow.start_run() as run:
        mlflow.log_param("p", 1)
        ops = mlflow.log_param("p", 2, synchronous=False)
        e = _error(ops.wait)
        assert e.error_code == "INVALID_PARAMETER_VALUE"
        assert e.message == (
            f"Changing param values is not allowed. Param with key='p' was already logged with "
            f"value='1' for run ID='{run.info.run_id}'. Attempted logging new value '2'."
        )
        assert _error(mlflow.log_param, "p", 3).error_code == "INVALID_PARAMETER_VALUE"


def test_read_your_writes_after_async_logging(tmp_tracking):
    """get_run and get_metric_history see synchronous=False logging immediately, without a flush."""
    with mlflow.start_run() as run:
        for i in range(300):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False)
        mlflow.log_param("p", "v", synchronous=False)
        mlflow.set_tag("t", "x", synchronous=False)
        data = mlflow.get_run(run.info.run_id).data
        assert data.params == {"p": "v"} and data.tags["t"] == "x"
        assert data.metrics["loss"] == 1.0 / 300
        history = MlflowClient().get_metric_history(run.info.run_id, "loss")
        assert [p.step for p in history] == list(range(300))


def test_delete_tag(tmp_tracking):
    """delete_tag removes a tag of the active run; a missing tag is RESOURCE_DOES_NOT_EXIST."""
    with mlflow.start_run() as run:
        mlflow.set_tag("t", "x")
        mlflow.delete_tag("t")
        assert "t" not in mlflow.get_run(run.info.run_id).data.tags
        e = _error(mlflow.delete_tag, "t")
        assert e.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert e.message == f"No tag with name: t in run with id {run.info.run_id}"


def test_timestamp_beyond_int64_rejected_at_call(tmp_tracking):
    """A timestamp beyond int64 is INVALID_PARAMETER_VALUE at the call site."""
    with mlflow.start_run():
        e = _error(mlflow.log_metric, "m", 1.0, timestamp=2**63)
        assert e.error_code == "INVALID_PARAMETER_VALUE"


# -- MlflowClient


def test_client_experiments(tmp_tracking):
    """MlflowClient creates and reads experiments; duplicates and bad names fail with MLflow's codes."""
    client = MlflowClient()
    assert client.tracking_uri == tmp_tracking
    exp_id = client.create_experiment("c-exp", tags={"k": "v"})
    exp = client.get_experiment(exp_id)
    assert (exp.name, exp.tags) == ("c-exp", {"k": "v"})
    assert client.get_experiment_by_name("c-exp").experiment_id == exp_id
    assert client.get_experiment_by_name("missing") is None
    assert _error(client.create_experiment, "c-exp").error_code == "RESOURCE_ALREADY_EXISTS"
    e = _error(client.create_experiment, "")
    assert e.error_code == "INVALID_PARAMETER_VALUE" and e.message == "Invalid experiment name: ''"
    assert _error(client.get_experiment, "12345").error_code == "RESOURCE_DOES_NOT_EXIST"


def test_client_run_lifecycle(tmp_tracking):
    """MlflowClient.create_run/log_batch/get_metric_history/set_terminated work on an explicit run id."""
    client = MlflowClient()
    exp_id = client.create_experiment("runs")
    run = client.create_run(exp_id, start_time=1000, tags={"k": "v"}, run_name="explicit")
    rid = run.info.run_id
    assert (run.info.run_name, run.info.start_time, run.data.tags["k"]) == ("explicit", 1000, "v")
    assert mlflow.active_run() is None
    client.log_batch(
        rid,
        metrics=[Metric("m", 0.5, 10, 1), Metric("m", 0.25, 20, 0), Metric("m", 0.75, 30, 1)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "x")],
    )
    history = client.get_metric_history(rid, "m")
    assert [(p.step, p.value, p.timestamp) for p in history] == [(0, 0.25, 20), (1, 0.5, 10), (1, 0.75, 30)]
    client.set_terminated(rid)
    info = client.get_run(rid).info
    assert info.status == "FINISHED" and info.end_time is not None
    client.set_terminated(rid, "KILLED", end_time=5000)
    info = client.get_run(rid).info
    assert (info.status, info.end_time) == ("KILLED", 5000)
    assert client.get_run(rid).data.params == {"p": "1"}


def test_client_log_batch_larger_than_mlflow_limits(tmp_tracking):
    """client.log_batch takes more than 1000 metrics / 100 params (split like MLflow's client)."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    client.log_batch(
        rid,
        metrics=[Metric("m", float(i), 1, i) for i in range(2500)],
        params=[Param(f"p{i}", str(i)) for i in range(250)],
    )
    assert len(client.get_metric_history(rid, "m")) == 2500
    assert len(client.get_run(rid).data.params) == 250


def test_client_errors_for_unknown_and_malformed_runs(tmp_tracking):
    """Unknown run ids are RESOURCE_DOES_NOT_EXIST; malformed ones INVALID_PARAMETER_VALUE, at the call."""
    client = MlflowClient()
    missing = "c" * 32
    e = _error(client.get_run, missing)
    assert e.error_code == "RESOURCE_DOES_NOT_EXIST" and e.message == f"Run with id={missing} not found"
    assert _error(client.log_metric, missing, "m", 1.0).error_code == "RESOURCE_DOES_NOT_EXIST"
    e = _error(client.get_run, "bad id")
    assert e.error_code == "INVALID_PARAMETER_VALUE" and '"bad id"' in e.message
    assert _error(client.set_terminated, "c" * 32, "DONE").error_code == "INVALID_PARAMETER_VALUE"
