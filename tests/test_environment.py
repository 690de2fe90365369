"""Environment variables: MLflow's boolean parsing, the async-logging switch, asynctrack's tuning knobs."""

from __future__ import annotations

import pytest

import asynctrack
from asynctrack import config
from asynctrack import environment as env
from asynctrack.pipeline import RunOperations

BOOL_MESSAGE = "value must be one of ['true', 'false', '1', '0'] (case-insensitive), but got"


@pytest.fixture(autouse=True)
def _no_async_override(monkeypatch):
    """Every test starts without a config.enable_async_logging override or the variable set."""
    monkeypatch.setattr(config, "_async_override", None)
    monkeypatch.delenv("MLFLOW_ENABLE_ASYNC_LOGGING", raising=False)


# -- MLFLOW_ENABLE_ASYNC_LOGGING


def test_async_logging_defaults_to_false():
    """Unset MLFLOW_ENABLE_ASYNC_LOGGING means synchronous logging (MLflow's default False)."""
    assert env.MLFLOW_ENABLE_ASYNC_LOGGING.get() is False
    assert config.is_async_logging_enabled() is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("false", False),
        ("FALSE", False),
        ("fAlSe", False),
        ("0", False),
    ],
)
def test_async_logging_parses_mlflow_booleans(raw, expected, monkeypatch):
    """true/false/1/0 in any case parse to the matching bool."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", raw)
    assert env.MLFLOW_ENABLE_ASYNC_LOGGING.get() is expected
    assert config.is_async_logging_enabled() is expected


@pytest.mark.parametrize("raw", ["yes", "no", "2", "on", "t"])
def test_async_logging_rejects_other_values(raw, monkeypatch):
    """Any other value raises ValueError naming the variable and the value, as MLflow does."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", raw)
    with pytest.raises(ValueError) as ei:
        env.MLFLOW_ENABLE_ASYNC_LOGGING.get()
    assert str(ei.value).startswith(f"MLFLOW_ENABLE_ASYNC_LOGGING {BOOL_MESSAGE}")
    assert raw in str(ei.value)


def test_async_logging_rejects_empty_string(monkeypatch):
    """An empty MLFLOW_ENABLE_ASYNC_LOGGING raises ValueError naming the variable, as in MLflow."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "")
    with pytest.raises(ValueError, match="MLFLOW_ENABLE_ASYNC_LOGGING"):
        env.MLFLOW_ENABLE_ASYNC_LOGGING.get()


def test_async_logging_error_message_matches_mlflow(monkeypatch):
    """The parse error text is MLflow's, with the raw value unquoted."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "yes")
    with pytest.raises(ValueError) as ei:
        env.MLFLOW_ENABLE_ASYNC_LOGGING.get()
    assert str(ei.value) == f"MLFLOW_ENABLE_ASYNC_LOGGING {BOOL_MESSAGE} yes"


def test_parsed_value_follows_environment_changes(monkeypatch):
    """The cached parse is refreshed when the variable changes between calls."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
    assert env.MLFLOW_ENABLE_ASYNC_LOGGING.get() is True
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    assert env.MLFLOW_ENABLE_ASYNC_LOGGING.get() is False
    monkeypatch.delenv("MLFLOW_ENABLE_ASYNC_LOGGING")
    assert env.MLFLOW_ENABLE_ASYNC_LOGGING.get() is False


def test_is_set_and_get_raw(monkeypatch):
    """is_set/get_raw report the raw variable."""
    var = env.MLFLOW_ENABLE_ASYNC_LOGGING
    assert not var.is_set() and var.get_raw() is None
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "TRUE")
    assert var.is_set() and var.get_raw() == "TRUE"


@pytest.mark.parametrize(("env_value", "override"), [("false", True), ("true", False), (None, True)])
def test_config_override_takes_precedence(env_value, override, monkeypatch):
    """config.enable_async_logging(x) wins over MLFLOW_ENABLE_ASYNC_LOGGING whatever it says."""
    if env_value is not None:
        monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", env_value)
    config.enable_async_logging(override)
    assert config.is_async_logging_enabled() is override


def test_config_enable_defaults_to_true():
    """config.enable_async_logging() with no argument turns async logging on."""
    config.enable_async_logging()
    assert config.is_async_logging_enabled() is True


def test_config_override_beats_invalid_environment_value(monkeypatch):
    """With an override in place the environment variable is not consulted (an invalid one is ignored)."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "yes")
    config.enable_async_logging(False)
    assert config.is_async_logging_enabled() is False


def test_fluent_synchronous_none_follows_environment(tmp_tracking, monkeypatch):
    """synchronous=None logs asynchronously (returns RunOperations) only when the variable is true."""
    with asynctrack.start_run():
        assert asynctrack.log_metric("a", 1.0) is None
        monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
        ops = asynctrack.log_metric("a", 2.0, step=1)
        assert isinstance(ops, RunOperations)
        ops.wait()
        config.enable_async_logging(False)
        assert asynctrack.log_metric("a", 3.0, step=2) is None


def test_fluent_explicit_synchronous_ignores_switch(tmp_tracking, monkeypatch):
    """An explicit synchronous=True/False wins over the variable and the config override."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
    with asynctrack.start_run():
        assert asynctrack.log_metric("a", 1.0, synchronous=True) is None
        config.enable_async_logging(False)
        ops = asynctrack.log_metric("a", 2.0, step=1, synchronous=False)
        assert isinstance(ops, RunOperations)
        ops.wait()


# -- MLFLOW_TRUNCATE_LONG_VALUES


def test_truncate_long_values_defaults_true(monkeypatch):
    """MLFLOW_TRUNCATE_LONG_VALUES defaults to True and parses MLflow booleans."""
    monkeypatch.delenv("MLFLOW_TRUNCATE_LONG_VALUES", raising=False)
    assert env.MLFLOW_TRUNCATE_LONG_VALUES.get() is True
    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", "False")
    assert env.MLFLOW_TRUNCATE_LONG_VALUES.get() is False
    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", "maybe")
    with pytest.raises(ValueError, match="MLFLOW_TRUNCATE_LONG_VALUES"):
        env.MLFLOW_TRUNCATE_LONG_VALUES.get()


# -- asynctrack's own variables


def test_asynctrack_defaults(monkeypatch):
    """Unset ASYNCTRACK_* variables give their documented defaults."""
    for name in (
        "ASYNCTRACK_QUEUE_SIZE",
        "ASYNCTRACK_QUEUE_FULL",
        "ASYNCTRACK_LINGER_MS",
        "ASYNCTRACK_MAX_LINGER_MS",
        "ASYNCTRACK_EXIT_TIMEOUT",
        "ASYNCTRACK_SQLITE_BUSY_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    assert env.ASYNCTRACK_QUEUE_SIZE.get() == 50_000
    assert env.ASYNCTRACK_QUEUE_FULL.get() == "block"
    assert env.ASYNCTRACK_LINGER_MS.get() == 50.0
    assert env.ASYNCTRACK_MAX_LINGER_MS.get() == 1000.0
    assert env.ASYNCTRACK_EXIT_TIMEOUT.get() == 10.0
    assert env.ASYNCTRACK_SQLITE_BUSY_TIMEOUT.get() == 0.1


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("10", 10), ("250000", 250_000), (" 7 ", 7)])
def test_queue_size_parses_positive_ints(raw, expected, monkeypatch):
    """ASYNCTRACK_QUEUE_SIZE accepts positive integers."""
    monkeypatch.setenv("ASYNCTRACK_QUEUE_SIZE", raw)
    assert env.ASYNCTRACK_QUEUE_SIZE.get() == expected


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "1e3"])
def test_queue_size_rejects_non_positive_or_non_int(raw, monkeypatch):
    """ASYNCTRACK_QUEUE_SIZE that is not a positive integer raises ValueError naming it and the value."""
    monkeypatch.setenv("ASYNCTRACK_QUEUE_SIZE", raw)
    with pytest.raises(ValueError) as ei:
        env.ASYNCTRACK_QUEUE_SIZE.get()
    assert str(ei.value) == f"ASYNCTRACK_QUEUE_SIZE must be a positive integer, but got {raw!r}"


@pytest.mark.parametrize(("raw", "expected"), [("block", "block"), ("RAISE", "raise"), (" Block ", "block")])
def test_queue_full_policy_parses(raw, expected, monkeypatch):
    """ASYNCTRACK_QUEUE_FULL accepts block/raise in any case."""
    monkeypatch.setenv("ASYNCTRACK_QUEUE_FULL", raw)
    assert env.ASYNCTRACK_QUEUE_FULL.get() == expected


def test_queue_full_policy_rejects_others(monkeypatch):
    """ASYNCTRACK_QUEUE_FULL other than block/raise raises ValueError naming it and the value."""
    monkeypatch.setenv("ASYNCTRACK_QUEUE_FULL", "drop")
    with pytest.raises(ValueError) as ei:
        env.ASYNCTRACK_QUEUE_FULL.get()
    assert str(ei.value) == "ASYNCTRACK_QUEUE_FULL must be 'block' or 'raise', but got 'drop'"


@pytest.mark.parametrize(
    "var",
    [
        "ASYNCTRACK_LINGER_MS",
        "ASYNCTRACK_MAX_LINGER_MS",
        "ASYNCTRACK_EXIT_TIMEOUT",
        "ASYNCTRACK_SQLITE_BUSY_TIMEOUT",
    ],
)
@pytest.mark.parametrize(("raw", "expected"), [("0", 0.0), ("2.5", 2.5), ("10", 10.0)])
def test_non_negative_floats_parse(var, raw, expected, monkeypatch):
    """The time knobs accept non-negative numbers."""
    monkeypatch.setenv(var, raw)
    assert getattr(env, var).get() == expected


@pytest.mark.parametrize(
    "var",
    [
        "ASYNCTRACK_LINGER_MS",
        "ASYNCTRACK_MAX_LINGER_MS",
        "ASYNCTRACK_EXIT_TIMEOUT",
        "ASYNCTRACK_SQLITE_BUSY_TIMEOUT",
    ],
)
@pytest.mark.parametrize("raw", ["-1", "nan", "abc"])
def test_non_negative_floats_reject(var, raw, monkeypatch):
    """Negative, NaN or non-numeric time knobs raise ValueError naming the variable and the value."""
    monkeypatch.setenv(var, raw)
    with pytest.raises(ValueError) as ei:
        getattr(env, var).get()
    assert str(ei.value) == f"{var} must be a non-negative number, but got {raw!r}"


def test_invalid_value_is_not_cached(monkeypatch):
    """After a parse error, fixing the variable gives the new value (errors are not cached)."""
    monkeypatch.setenv("ASYNCTRACK_QUEUE_SIZE", "0")
    with pytest.raises(ValueError):
        env.ASYNCTRACK_QUEUE_SIZE.get()
    monkeypatch.setenv("ASYNCTRACK_QUEUE_SIZE", "12")
    assert env.ASYNCTRACK_QUEUE_SIZE.get() == 12


def test_string_variables_pass_through(monkeypatch):
    """MLFLOW_EXPERIMENT_NAME / MLFLOW_RUN_ID are plain strings, None when unset."""
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    assert env.MLFLOW_EXPERIMENT_NAME.get() is None
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "exp one")
    assert env.MLFLOW_EXPERIMENT_NAME.get() == "exp one"
    monkeypatch.setenv("MLFLOW_RUN_ID", "abc")
    assert env.MLFLOW_RUN_ID.get() == "abc"
