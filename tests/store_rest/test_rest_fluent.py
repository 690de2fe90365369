"""asynctrack imported as ``mlflow`` with ``MLFLOW_TRACKING_URI=http://...`` pointing at the official ``mlflow
server``: the fluent API, MlflowClient, AsyncClient and the CLI end to end, over the async pipeline."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import asynctrack as mlflow
from asynctrack import AsyncClient, MlflowClient
from asynctrack.entities import Metric, Param, RunTag
from asynctrack.pipeline import _registry, close_pipelines


@pytest.mark.slow  # an official mlflow server (~15 s to start)
def test_fluent_api_logs_asynchronously_to_mlflow_server(rest_tracking, unique):
    """start_run / nested run / params / metrics / tags with synchronous=False, then
    flush_async_logging(): everything is at the server, exactly, and the runs end FINISHED."""
    assert mlflow.get_tracking_uri() == rest_tracking
    mlflow.set_experiment(f"fluent-{unique}")
    n = 3000
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"lr": 0.01, "layers": 4}, synchronous=False)
        mlflow.set_tags({"team": "vision"}, synchronous=False)
        for i in range(n):
            mlflow.log_metric("loss", 1 / (i + 1), step=i, synchronous=False)
        mlflow.log_metrics({"nan": float("nan"), "acc": 0.5}, step=7, synchronous=False)
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("child_metric", 2.0, synchronous=False)
            mlflow.log_param("seed", 3, synchronous=False)
        mlflow.flush_async_logging()
    client = MlflowClient()
    run = client.get_run(parent.info.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "parent"
    assert run.data.params == {"lr": "0.01", "layers": "4"}
    assert run.data.tags["team"] == "vision"
    assert run.data.metrics["loss"] == 1 / n and run.data.metrics["acc"] == 0.5
    assert math.isnan(run.data.metrics["nan"])
    steps, values, _ = client.get_metric_history_arrays(parent.info.run_id, "loss")
    assert steps.tolist() == list(range(n))
    assert values.tolist() == [1 / (i + 1) for i in range(n)]
    kid = client.get_run(child.info.run_id)
    assert kid.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert kid.data.params == {"seed": "3"} and kid.info.status == "FINISHED"
    found = mlflow.search_runs(filter_string="params.lr = '0.01'", output_format="list")
    assert [r.info.run_id for r in found] == [parent.info.run_id]
    children = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list"
    )
    assert [r.info.run_id for r in children] == [child.info.run_id]


@pytest.mark.slow
def test_param_relogged_with_another_value_fails_only_that_call(rest_tracking, unique):
    """The server's INVALID_PARAMETER_VALUE reaches the caller through its RunOperations; the rest lands."""
    mlflow.set_experiment(f"relog-{unique}")
    with mlflow.start_run() as run:
        mlflow.log_param("p", "1")
        bad = mlflow.log_param("p", "2", synchronous=False)
        ok = mlflow.log_metric("m", 1.0, synchronous=False)
        with pytest.raises(mlflow.MlflowException) as ei:
            bad.wait(30)
        ok.wait(30)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    data = MlflowClient().get_run(run.info.run_id).data
    assert data.params == {"p": "1"} and data.metrics == {"m": 1.0}


def test_client_log_batch_and_histories(rest_tracking, unique):
    """MlflowClient.log_batch (any size), log_metric_array, delete_tag, bulk-interval sampling."""
    client = MlflowClient()
    exp = client.create_experiment(f"client-{unique}", tags={"k": "v"})
    assert client.get_experiment_by_name(f"client-{unique}").tags == {"k": "v"}
    run = client.create_run(exp, tags={"a": "1", "b": "2"}, run_name="batchy")
    rid = run.info.run_id
    metrics = [Metric("x", float(i), 1000 + i, i) for i in range(1500)]
    client.log_batch(rid, metrics, [Param(f"p{i}", "v") for i in range(120)], [RunTag("c", "3")])
    client.log_metric_array(rid, "arr", np.linspace(0, 1, 2100), synchronous=False).wait(60)
    client.delete_tag(rid, "a")
    client.set_terminated(rid)
    got = client.get_run(rid)
    assert len(got.data.params) == 120 and got.data.tags["c"] == "3" and "a" not in got.data.tags
    assert [m.value for m in client.get_metric_history(rid, "x")] == [float(i) for i in range(1500)]
    sampled = client.get_metric_history_bulk_interval([rid], "arr", max_results=50)
    assert len(sampled) <= 50 and sampled[0].step == 0 and sampled[-1].step == 2099
    assert all(m.run_id == rid for m in sampled)
    histories = client.get_metric_histories_arrays(rid, ["x", "arr"])
    assert len(histories["x"][0]) == 1500 and len(histories["arr"][0]) == 2100
    page = client.search_runs([exp], "attributes.status = 'FINISHED'", max_results=1)
    assert [r.info.run_id for r in page] == [rid] and page.token is None


@pytest.mark.anyio
async def test_async_client(rest_tracking, unique):
    """AsyncClient's coroutines over the REST store: create, log without waiting, await, read back."""
    async with AsyncClient() as client:
        exp = await client.create_experiment(f"async-{unique}")
        run = await client.create_run(exp)
        rid = run.info.run_id
        ops = [await client.log_metric(rid, "m", float(i), step=i, synchronous=False) for i in range(100)]
        for op in ops:
            await op
        await client.log_param(rid, "p", "v")
        history = await client.get_metric_history(rid, "m")
    assert [m.value for m in history] == [float(i) for i in range(100)]


def test_uri_spellings_share_one_pipeline(rest_tracking):
    """The URI as given is what get_tracking_uri() returns; spellings of one server share one pipeline."""
    mlflow.set_tracking_uri(rest_tracking + "/")
    try:
        assert mlflow.get_tracking_uri() == rest_tracking + "/"
        a = _registry.get_pipeline(rest_tracking + "/")
        b = _registry.get_pipeline(rest_tracking.replace("http://", "HTTP://"))
        assert a is b and a.location.is_remote and a.location.uri == rest_tracking
    finally:
        mlflow.set_tracking_uri(None)


def test_forked_child_logs_through_its_own_connection(rest_tracking, unique):
    """After fork() the child opens its own store and HTTP pool; parent and child both land their data."""
    mlflow.set_experiment(f"fork-{unique}")
    with mlflow.start_run() as run:
        mlflow.log_metric("parent", 1.0)
        pid = os.fork()
        if pid == 0:  # the child: log, flush, and leave without running the parent's exit hooks
            code = 1
            try:
                MlflowClient().log_metric(run.info.run_id, "child", 2.0, synchronous=True)
                mlflow.flush_async_logging(30)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        mlflow.log_metric("parent", 3.0, step=1)
    metrics = MlflowClient().get_run(run.info.run_id).data.metrics
    assert metrics == {"parent": 3.0, "child": 2.0}


@pytest.mark.slow  # console runs (~1 s each)
def test_cli_against_a_tracking_server(rest_tracking, unique, tmp_path):
    """``asynctrack --tracking-uri http://...`` lists and describes what the server holds."""
    client = MlflowClient()
    exp = client.create_experiment(f"cli-{unique}")
    rid = client.create_run(exp, run_name="via-cli").info.run_id
    client.log_param(rid, "k", "v")
    assert close_pipelines(timeout=10) == []

    def cli(*args):
        env = {**os.environ, "COLUMNS": "200"}
        env.pop("MLFLOW_TRACKING_URI", None)
        done = subprocess.run(
            [sys.executable, "-m", "asynctrack.cli", "--tracking-uri", rest_tracking, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = json.loads(cli("experiments", "list", "--filter", f"name = 'cli-{unique}'", "--json"))
    assert [e["experiment_id"] for e in listed] == [exp]
    described = json.loads(cli("runs", "describe", rid, "--json"))
    assert described["info"]["run_name"] == "via-cli" and described["data"]["params"] == {"k": "v"}
    cli("runs", "delete", rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"


def test_pipeline_requests_do_not_flood_info_logs(rest_tracking, unique, caplog):
    """httpx logs every request at INFO; those made by asynctrack's background loop are dropped, so an
    application logging at INFO does not get a line per log-batch."""
    caplog.set_level(logging.INFO)
    mlflow.set_experiment(f"quiet-{unique}")
    with mlflow.start_run():
        for i in range(50):
            mlflow.log_metric("m", float(i), step=i)
    assert not [r for r in caplog.records if r.name == "httpx"]
