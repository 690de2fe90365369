"""synchronous=None follows MLFLOW_ENABLE_ASYNC_LOGGING, and config.enable_async_logging overrides it."""

from __future__ import annotations

from pathlib import Path

import pytest

import asynctrack as mlflow
from asynctrack import RunOperations, config


@pytest.fixture(autouse=True)
def _reset_override():
    yield
    config._async_override = None


@pytest.mark.parametrize(
    ("raw", "is_async"),
    [("true", True), ("TRUE", True), ("1", True), ("false", False), ("0", False), (None, False)],
)
def test_environment_variable_decides(db: Path, monkeypatch: pytest.MonkeyPatch, raw, is_async) -> None:
    """true/1 (any case) return RunOperations; false/0/unset wait and return None."""
    if raw is not None:
        monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", raw)
    with mlflow.start_run():
        result = mlflow.log_metric("m", 1.0)
        assert isinstance(result, RunOperations) is is_async
        tag = mlflow.set_tag("t", "v")
        assert (tag is not None) is is_async


def test_bad_value_is_a_clear_error(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unparseable MLFLOW_ENABLE_ASYNC_LOGGING names the variable and the value."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "sometimes")
    with mlflow.start_run(), pytest.raises(ValueError, match="MLFLOW_ENABLE_ASYNC_LOGGING.*sometimes"):
        mlflow.log_metric("m", 1.0)


def test_config_override_wins(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """enable_async_logging() takes precedence over the environment, both ways."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    config.enable_async_logging(True)
    with mlflow.start_run():
        assert isinstance(mlflow.log_metric("m", 1.0), RunOperations)
        monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
        config.enable_async_logging(False)
        assert mlflow.log_metric("m", 2.0) is None
