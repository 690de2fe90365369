"""The Keras 3 callback with real training (torch backend, CPU, a tiny MLP, synthetic data): every epoch's and
every batch's logs exactly as Keras handed them to callbacks (a recording callback in the same fit is the
reference), params, status, the saved model, autolog, and a failing step ending the run FAILED."""

from __future__ import annotations

from typing import Any

import pytest

import asynctrack
from tests.integrations.conftest import need

need("torch")
need("keras")

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


def _recorder() -> Any:
    import keras

    class Recorder(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.epochs: list[tuple[int, dict[str, Any]]] = []
            self.batches: list[dict[str, Any]] = []

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.epochs.append((epoch, dict(logs or {})))

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.batches.append(dict(logs or {}))

    return Recorder()


def _model(fail_after: int | None = None) -> Any:
    import keras

    keras.utils.set_random_seed(0)

    class MaybeFail(keras.layers.Layer):  # type: ignore[misc]
        calls = 0

        def call(self, x: Any, training: bool | None = None) -> Any:
            if training:
                MaybeFail.calls += 1
                if fail_after is not None and MaybeFail.calls > fail_after:
                    raise RuntimeError("a failing training step")
            return x

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), MaybeFail(), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse", metrics=["mae"])
    return model


def _data() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def _stored(run_id: str) -> dict[str, list[tuple[int, float]]]:
    client = asynctrack.MlflowClient()
    keys = [k for k in client.get_run(run_id).data.metrics if not k.startswith("system/")]
    return {k: [(m.step, m.value) for m in client.get_metric_history(run_id, k)] for k in keys}


def _expected(recorder: Any) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for epoch, logs in recorder.epochs:
        for key, value in logs.items():
            out.setdefault(key, []).append((epoch, float(value)))
    for i, logs in enumerate(recorder.batches, start=1):
        for key, value in logs.items():
            out.setdefault(f"batch/{key}", []).append((i, float(value)))
    return out


def test_every_epoch_and_batch_params_status_and_model(tmp_tracking: str) -> None:
    from asynctrack.integrations.keras import AsynctrackCallback

    ours, recorder = AsynctrackCallback(log_every_n_step=1, log_models=True, run_name="mlp"), _recorder()
    x, y = _data()
    _model().fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[ours, recorder])

    assert ours.run is not None
    run = asynctrack.get_run(ours.run.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "mlp"
    expected = _expected(recorder)
    assert [s for s, _ in expected["loss"]] == [0, 1, 2] and "val_loss" in expected
    assert [s for s, _ in expected["batch/loss"]] == list(range(1, 10))  # 3 epochs x 3 batches
    assert _stored(run.info.run_id) == expected
    params = run.data.params
    assert params["epochs"] == "3" and params["steps"] == "3"
    assert params["optimizer_name"] == "SGD" and float(params["optimizer/learning_rate"]) == pytest.approx(
        0.05
    )
    files = [a.path for a in asynctrack.MlflowClient().list_artifacts(run.info.run_id, "model")]
    assert files == ["model/model.keras"]
    assert asynctrack.active_run() is None


def test_failing_step_through_autolog_ends_failed_with_earlier_logs(tmp_tracking: str) -> None:
    import keras

    recorder = _recorder()
    original_fit = keras.Model.fit
    asynctrack.autolog(silent=True, log_every_n_step=1, exclude_flavors=["lightning", "pytorch_lightning"])
    try:
        x, y = _data()
        with pytest.raises(RuntimeError, match="a failing training step"):
            _model(fail_after=5).fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[recorder])
    finally:
        asynctrack.autolog(disable=True)
    assert keras.Model.fit is original_fit
    run = asynctrack.last_active_run()
    assert run is not None and run.info.status == "FAILED"
    expected = _expected(recorder)
    assert [s for s, _ in expected["batch/loss"]] == [1, 2, 3, 4, 5]
    assert [s for s, _ in expected["loss"]] == [0]  # the first epoch (4 batches) ended before the failure
    assert _stored(run.info.run_id) == expected


def test_autolog_exclusive_starts_its_own_run(tmp_tracking: str) -> None:
    asynctrack.autolog(silent=True, exclusive=True, extra_tags={"team": "a"}, exclude_flavors=["lightning"])
    try:
        with asynctrack.start_run() as outer:
            x, y = _data()
            _model().fit(x, y, epochs=1, batch_size=32, verbose=0)
    finally:
        asynctrack.autolog(disable=True)
    runs = asynctrack.search_runs(output_format="list")
    assert len(runs) == 2
    (theirs,) = [r for r in runs if r.info.run_id != outer.info.run_id]
    assert theirs.info.status == "FINISHED" and theirs.data.tags["team"] == "a"
    assert set(theirs.data.metrics) == {"loss", "mae"}
    assert asynctrack.get_run(outer.info.run_id).data.metrics == {}


def test_keras_autolog_with_mlflows_arguments(tmp_tracking: str) -> None:
    """``mlflow.keras.autolog(log_every_epoch=False, log_every_n_steps=2)``: batch logs every second batch,
    no epoch logs, the model saved (MLflow's default ``log_models=True``); MLflow's argument rules refused
    with its words; ``disable=True`` puts ``Model.fit`` back."""
    import keras

    recorder, original_fit = _recorder(), keras.Model.fit
    with pytest.raises(ValueError, match=r"`log_every_n_steps` must be None if `log_every_epoch=True`"):
        asynctrack.keras.autolog(log_every_n_steps=2)
    with pytest.raises(ValueError, match=r"`log_every_n_steps` must be specified if `log_every_epoch=False`"):
        asynctrack.keras.autolog(log_every_epoch=False)
    asynctrack.keras.autolog(log_every_epoch=False, log_every_n_steps=2, silent=True)
    try:
        x, y = _data()
        _model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[recorder])
    finally:
        asynctrack.keras.autolog(disable=True)
    assert keras.Model.fit is original_fit
    run = asynctrack.last_active_run()
    assert run is not None and run.info.status == "FINISHED"
    expected = {k: v[1::2] for k, v in _expected(recorder).items() if k.startswith("batch/")}
    assert [s for s, _ in expected["batch/loss"]] == [2, 4, 6, 8]
    assert _stored(run.info.run_id) == expected
    files = [a.path for a in asynctrack.MlflowClient().list_artifacts(run.info.run_id, "model")]
    assert files == ["model/model.keras"]
