"""A batch that fails for one bad operation is split: only that operation's future fails."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient, MlflowException, RunOperations


def test_one_bad_param_among_many_good_operations(db: Path) -> None:
    """A conflicting param in a burst fails alone; metrics, params and tags around it are written."""
    with mlflow.start_run() as run:
        mlflow.log_param("fixed", "1")
        before = [mlflow.log_metric("m", float(i), step=i, synchronous=False) for i in range(500)]
        good_param = mlflow.log_param("other", "x", synchronous=False)
        bad = mlflow.log_param("fixed", "2", synchronous=False)
        tag = mlflow.set_tag("t", "v", synchronous=False)
        after = [mlflow.log_metric("m", float(i), step=i, synchronous=False) for i in range(500, 1000)]
        RunOperations.combine([*before, good_param, tag, *after]).wait()  # type: ignore[union-attr]
        with pytest.raises(MlflowException) as info:
            bad.wait()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    data = mlflow.get_run(run.info.run_id).data
    assert data.params == {"fixed": "1", "other": "x"}
    assert data.tags["t"] == "v"
    assert len(MlflowClient().get_metric_history(run.info.run_id, "m")) == 1000


def test_unknown_run_fails_only_its_own_operations(db: Path) -> None:
    """Points for a run that does not exist fail with RESOURCE_DOES_NOT_EXIST; another run's land."""
    client = MlflowClient()
    good = client.create_run("0").info.run_id
    ghost = "0" * 32
    ops_good = []
    ops_ghost = []
    for i in range(300):
        ops_good.append(client.log_metric(good, "m", float(i), step=i, synchronous=False))
        ops_ghost.append(client.log_metric(ghost, "m", float(i), step=i, synchronous=False))
    RunOperations.combine(ops_good).wait()  # type: ignore[union-attr]
    for ops in (ops_ghost[0], ops_ghost[-1], RunOperations.combine(ops_ghost)):
        with pytest.raises(MlflowException) as info:
            ops.wait()  # type: ignore[union-attr]
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert ghost in info.value.message
    assert len(client.get_metric_history(good, "m")) == 300


def test_deleted_run_rejects_logging(db: Path) -> None:
    """Logging to a deleted run fails with INVALID_PARAMETER_VALUE, as in MLflow."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET lifecycle_stage = 'deleted' WHERE run_id = ?", (rid,))
    with pytest.raises(MlflowException) as info:
        client.log_metric(rid, "m", 1.0, synchronous=True)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "must be in the 'active' state" in info.value.message


def test_each_distinct_failure_is_logged_once(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Failures reach the 'asynctrack' logger once per distinct message, never silently dropped."""
    caplog.set_level(logging.WARNING, logger="asynctrack")
    with mlflow.start_run():
        mlflow.log_param("p", "1")
        for _ in range(5):
            ops = mlflow.log_param("p", "2", synchronous=False)
            assert ops.exception() is not None  # type: ignore[union-attr]
    messages = [r.getMessage() for r in caplog.records if "Changing param values" in r.getMessage()]
    assert len(messages) == 1
