"""``log_metrics`` with a dict, asynchronously on the active run: one put for all the points."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient
from asynctrack.exceptions import MlflowException


def test_dict_of_metrics_is_one_range_and_lands_whole(db: Path) -> None:
    with mlflow.start_run() as run:
        ops = mlflow.log_metrics({"a": 1.0, "b": 2, "c": float("nan")}, step=4, synchronous=False)
        assert ops is not None
        assert (ops._last - ops._first, ops._rest) == (2, ())  # three operations, one range
        ops.wait()
        assert mlflow.log_metrics({}, synchronous=False) is None
        later = mlflow.log_metrics({"a": 5.0}, step=5, timestamp=123, synchronous=False)
        assert later is not None and later._first == ops._last + 1
        later.wait()
    client = MlflowClient()
    history = {k: client.get_metric_history(run.info.run_id, k) for k in ("a", "b", "c")}
    assert [(m.value, m.step) for m in history["a"]] == [(1.0, 4), (5.0, 5)]
    assert history["a"][1].timestamp == 123
    assert [(m.value, m.step) for m in history["b"]] == [(2.0, 4)]
    assert math.isnan(history["c"][0].value)
    assert history["a"][0].timestamp == history["b"][0].timestamp  # one timestamp for the call


def test_a_bad_value_refuses_the_whole_dict(db: Path) -> None:
    """Every point is checked before any is queued: a bad one raises MLflow's error in the caller and
    the others are not logged either."""
    with mlflow.start_run() as run:
        with pytest.raises(MlflowException) as err:
            mlflow.log_metrics({"good": 1.0, "bad": "x"}, step=1, synchronous=False)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
        with pytest.raises(MlflowException):
            mlflow.log_metrics({"good": 1.0, "../up": 2.0}, synchronous=False)
        mlflow.flush_async_logging()
    assert MlflowClient().get_run(run.info.run_id).data.metrics == {}
