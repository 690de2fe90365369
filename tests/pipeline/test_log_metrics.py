"""``log_metrics`` with a dict, asynchronously on the active run: one put for all the points."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from extensions import built

import asynctrack as mlflow
from asynctrack import MlflowClient, RunOperations, _active_model, fluent
from asynctrack.exceptions import MlflowException
from asynctrack.pipeline import _queue, close_pipelines


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


# fluent.log_metrics as written in Python (the compiled LogMetrics wraps it where the extension is built)
PY_LOG_METRICS: Callable[..., RunOperations | None] = getattr(
    fluent.log_metrics, "__wrapped__", fluent.log_metrics
)
_cqueue = built("asynctrack.pipeline._cqueue")


@pytest.fixture(autouse=True)
def _no_active_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the hot path: once any test in the process has set an active model, fluent's
    logging calls take the linking path for good (``_active_model.maybe_active`` is sticky by design)."""
    _active_model.clear()
    monkeypatch.setattr(_active_model, "maybe_active", False)


def _history(run_id: str, key: str) -> list[tuple[float, int]]:
    return [(m.value, m.step) for m in MlflowClient().get_metric_history(run_id, key)]


def _counting_dict_puts(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, for each call the Python log_metrics makes to ``put_dict_at`` (the real one, compiled where
    built), whether it queued the dict (True) or declined it (False)."""
    real = fluent._put_dict_at  # type: ignore[attr-defined]
    calls: list[bool] = []

    def counting(*args: Any) -> Any:
        ops = real(*args)
        calls.append(ops is not None)
        return ops

    monkeypatch.setattr(fluent, "_put_dict_at", counting)
    return calls


def _compiled_counting() -> tuple[Callable[..., RunOperations | None], list[tuple[Any, dict[str, Any]]]]:
    """The compiled log_metrics around the Python one, and the calls (args, kwargs) that reached Python."""
    assert _cqueue is not None
    _queue.bind_compiled(_cqueue)
    reached: list[tuple[Any, dict[str, Any]]] = []

    def counting(*args: Any, **kwargs: Any) -> RunOperations | None:
        reached.append((args, kwargs))
        return PY_LOG_METRICS(*args, **kwargs)

    return fluent._compiled_log_metrics(counting, _cqueue), reached


def _two_shapes(log_metrics: Callable[..., RunOperations | None]) -> str:
    """50 steps of one dict, and every fifth step another; returns the run id once all is durable."""
    with mlflow.start_run() as run:
        pending = []
        for step in range(50):
            pending.append(
                log_metrics({"loss": step / 10, "acc": 1 - step / 100}, step=step, synchronous=False)
            )
            if step % 5 == 0:
                pending.append(log_metrics({"val_loss": float(step), "val_n": step}, step, False))
        RunOperations.combine([p for p in pending if p is not None]).wait()
    rid = run.info.run_id
    assert _history(rid, "loss") == [(s / 10, s) for s in range(50)]
    assert _history(rid, "acc") == [(1 - s / 100, s) for s in range(50)]
    assert _history(rid, "val_loss") == [(float(s), s) for s in range(0, 50, 5)]
    assert _history(rid, "val_n") == [(float(s), s) for s in range(0, 50, 5)]
    return rid


def test_a_dict_of_known_keys_goes_in_through_put_dict_at(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In Python: the second dict with the same keys in the same order takes the one-call put (no
    Python-level pass over it); two shapes alternating both stay known; every point lands."""
    calls = _counting_dict_puts(monkeypatch)
    _two_shapes(PY_LOG_METRICS)
    # the first dict of each shape takes the checked pass; every later one the one-call put
    assert calls == [True] * (49 + 9)


@pytest.mark.skipif(_cqueue is None, reason="the compiled extension is not built here")
def test_compiled_log_metrics_enters_python_for_the_first_dict_of_each_keys_only(db: Path) -> None:
    """LogMetrics (the compiled log_metrics) hands only the first dict of each key tuple to the Python
    function, which learns its keys; the same points land as through Python alone."""
    fast, reached = _compiled_counting()
    _two_shapes(fast)
    assert [tuple(args[0] if args else kwargs["metrics"]) for args, kwargs in reached] == [
        ("loss", "acc"),
        ("val_loss", "val_n"),
    ]


def test_known_keys_with_a_bad_value_still_raise_and_queue_nothing(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting_dict_puts(monkeypatch)
    with mlflow.start_run() as run:
        PY_LOG_METRICS({"a": 1.0, "b": 2.0}, step=1, synchronous=False)
        with pytest.raises(MlflowException) as err:
            PY_LOG_METRICS({"a": 3.0, "b": "x"}, step=2, synchronous=False)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
        # a value put_dict_at does not take (a numpy float) is checked and logged by the other path
        PY_LOG_METRICS({"a": np.float32(0.5), "b": True}, step=3, synchronous=False)
        mlflow.flush_async_logging()
    assert calls == [False, False]  # both declined: the string, then the numpy float
    assert _history(run.info.run_id, "a") == [(1.0, 1), (0.5, 3)]
    assert _history(run.info.run_id, "b") == [(2.0, 1), (1.0, 3)]


def test_a_given_timestamp_and_a_new_store_are_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call with its own timestamp keeps it (put_dict_at reads the clock, so it is not used); after
    the tracking URI changes, the known keys are learned again on the new store's queue."""
    calls = _counting_dict_puts(monkeypatch)
    runs = []
    for name in ("one.db", "two.db"):
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / name}")
        with mlflow.start_run() as run:
            PY_LOG_METRICS({"m": 1.0}, step=0, synchronous=False)
            PY_LOG_METRICS({"m": 2.0}, step=1, timestamp=123, synchronous=False)
            PY_LOG_METRICS({"m": 3.0}, step=2, synchronous=False)
            mlflow.flush_async_logging()
        runs.append(run.info.run_id)
        assert [m.timestamp for m in MlflowClient().get_metric_history(run.info.run_id, "m")][1] == 123
        assert _history(run.info.run_id, "m") == [(1.0, 0), (2.0, 1), (3.0, 2)]
    assert calls == [True, True]  # step 2 of each store; never the timestamped call
    assert close_pipelines(timeout=10) == []


def test_threads_logging_the_same_keys_lose_nothing(db: Path) -> None:
    with mlflow.start_run() as run:
        run_id = run.info.run_id

        def train(offset: int) -> None:
            for step in range(offset, offset + 300):
                mlflow.log_metrics(
                    {"x": float(step), "y": -float(step)}, step=step, run_id=None, synchronous=False
                )

        # each thread needs the run active: fluent's active run is per thread
        def in_run(offset: int) -> None:
            with mlflow.start_run(run_id=run_id):
                train(offset)

        threads = [threading.Thread(target=in_run, args=(i * 1000,)) for i in range(3)]
        for t in threads:
            t.start()
        train(5000)
        for t in threads:
            t.join()
        mlflow.flush_async_logging()
    expected = sorted(s for base in (0, 1000, 2000, 5000) for s in range(base, base + 300))
    assert sorted(s for _, s in _history(run_id, "x")) == expected
    assert sorted(-v for v, _ in _history(run_id, "y")) == [float(s) for s in expected]


@pytest.mark.skipif(_cqueue is None, reason="the compiled extension is not built here")
@pytest.mark.parametrize(
    "call",
    [
        {"timestamp": 5},
        {"run_id": "RUN"},
        {"synchronous": True},
        {"step": np.int64(3)},
        {"metrics": OrderedDict(a=1.0, b=2.0)},
        {"metrics": {"b": 2.0, "a": 1.0}},  # the keys in another order: another tuple, not learned yet
        {"metrics": {"a": 1.0, "b": np.float64(2.0)}},  # a value put_dict_at declines
        {"metrics": {"a": 1.0, "b": "x"}},  # ... and one the Python function refuses
    ],
    ids=lambda call: ",".join(f"{k}={type(v).__name__}" for k, v in call.items()),
)
def test_compiled_log_metrics_hands_every_other_call_to_python(db: Path, call: dict[str, Any]) -> None:
    """After the keys {a, b} are known, each unusual call goes to the Python function, once, which logs it
    or raises MLflow's error as it always did."""
    fast, reached = _compiled_counting()
    with mlflow.start_run() as run:
        fast(metrics={"a": 0.0, "b": 0.0}, step=0, synchronous=False)  # learned
        fast(metrics={"a": 0.5, "b": 0.5}, step=1, synchronous=False)  # compiled
        kwargs = {"metrics": {"a": 1.0, "b": 2.0}, "step": 2, "synchronous": False, **call}
        if kwargs.get("run_id") == "RUN":
            kwargs["run_id"] = run.info.run_id
        refused = kwargs["metrics"].get("b") == "x"
        if refused:
            with pytest.raises(MlflowException):
                fast(**kwargs)
        else:
            fast(**kwargs)
        mlflow.flush_async_logging()
    assert len(reached) == 2  # the first dict, and this call
    a = _history(run.info.run_id, "a")
    assert a[:2] == [(0.0, 0), (0.5, 1)]
    assert a[2:] == ([] if refused else [(1.0, int(kwargs["step"]))])
