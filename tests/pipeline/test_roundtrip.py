"""Values read back equal what was logged, bit for bit, for one point and for a million."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient, MlflowException
from asynctrack.pipeline import get_pipeline

SPECIAL = [
    0.0,
    -0.0,
    1e-308,
    -1.7976931348623157e308,
    1.7976931348623157e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    5e-324,
    0.1,
]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all(a.view(np.uint64) == b.view(np.uint64)))


def test_special_values_one_by_one(db: Path) -> None:
    """NaN, +-inf, -0.0 and subnormals round-trip exactly through log_metric and get_run."""
    with mlflow.start_run() as run:
        for i, v in enumerate(SPECIAL):
            mlflow.log_metric("v", v, step=i, synchronous=True)
        mlflow.log_metric("last_nan", float("nan"))
        mlflow.log_metric("last_inf", float("-inf"))
    client = MlflowClient()
    got = np.array([m.value for m in client.get_metric_history(run.info.run_id, "v")])
    assert same(got, np.array(SPECIAL))
    metrics = mlflow.get_run(run.info.run_id).data.metrics
    assert np.isnan(metrics["last_nan"]) and metrics["last_inf"] == float("-inf")


@pytest.mark.slow
def test_a_million_scalar_points(db: Path) -> None:
    """1,000,000 log_metric calls (random values with specials mixed in) read back exactly, in order."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=1_000_000) * 10.0 ** rng.integers(-300, 300, size=1_000_000)
    values[::997] = np.nan
    values[::1009] = np.inf
    values[::1013] = -np.inf
    with mlflow.start_run() as run:
        log = mlflow.log_metric
        for i, v in enumerate(values.tolist()):
            log("m", v, step=i, timestamp=1_700_000_000_000 + i, synchronous=False)
    steps, got, stamps = MlflowClient().get_metric_history_arrays(run.info.run_id, "m")
    assert same(got, values)
    assert np.array_equal(steps, np.arange(1_000_000))
    assert np.array_equal(stamps, 1_700_000_000_000 + np.arange(1_000_000))


@pytest.mark.slow
def test_a_million_points_as_arrays(db: Path) -> None:
    """log_metric_array with 1,000,000 points reads back exactly (as arrays and as Metric objects)."""
    rng = np.random.default_rng(2)
    values = rng.standard_normal(1_000_000)
    values[7] = np.nan
    steps = np.arange(1_000_000) * 3
    with mlflow.start_run() as run:
        mlflow.log_metric_array("a", values, steps=steps, timestamps=np.full(1_000_000, 5))
    client = MlflowClient()
    got_steps, got, stamps = client.get_metric_history_arrays(run.info.run_id, "a")
    assert same(got, values) and np.array_equal(got_steps, steps) and np.all(stamps == 5)
    history = client.get_metric_history(run.info.run_id, "a")
    assert len(history) == 1_000_000 and history[10].step == 30 and history[10].value == values[10]


def test_numpy_scalars_and_ints_are_accepted(db: Path) -> None:
    """numpy scalars, Python ints and bools are numbers wherever a number is accepted."""
    with mlflow.start_run() as run:
        mlflow.log_metric("f32", np.float32(0.5), step=np.int64(2))
        mlflow.log_metric("i", 3, step=np.int32(1))
        mlflow.log_metric("b", True)
        mlflow.log_metrics({"n": np.float64(1.25), "u": np.uint8(7)}, step=4)
    metrics = mlflow.get_run(run.info.run_id).data.metrics
    assert metrics == {"f32": 0.5, "i": 3.0, "b": 1.0, "n": 1.25, "u": 7.0}
    assert MlflowClient().get_metric_history(run.info.run_id, "f32")[0].step == 2


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: mlflow.log_metric("bad key!", 1.0), "bad key!"),
        (lambda: mlflow.log_metric("ok", "abc"), "abc"),
        (lambda: mlflow.log_metric("ok", 1.0, step=1.5), "1.5"),
        (lambda: mlflow.log_metric("ok", 1.0, timestamp=-5), "-5"),
        (lambda: mlflow.log_metric("../up", 1.0), "../up"),
        (lambda: mlflow.log_param("x" * 251, 1), "250"),
        (lambda: mlflow.set_tag("", "v"), '""'),
        (lambda: mlflow.log_metric_array("arr", [[1.0, 2.0]]), "one-dimensional"),
        (lambda: mlflow.log_metric_array("arr", [1.0, 2.0], steps=[1]), "same length"),
        (lambda: mlflow.log_metric_array("arr", ["a", "b"]), "real numbers"),
    ],
)
def test_bad_input_raises_at_the_call_and_queues_nothing(db: Path, call, fragment: str) -> None:
    """Bad input raises INVALID_PARAMETER_VALUE in the caller, naming the value; nothing is queued."""
    with mlflow.start_run():
        queue = get_pipeline().queue
        before = queue.producer().issued
        with pytest.raises(MlflowException) as info:
            call()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
        assert fragment in info.value.message
        assert queue.producer().issued == before
