"""The Transformers callback with a real ``Trainer`` on CPU: a tiny BERT built from a config with random
weights (no download, HF_HUB_OFFLINE=1), synthetic token data. The store must hold exactly what the Trainer
handed its callbacks (a recording callback in the same Trainer is the reference), the arguments and config as
params with MLflow's truncation, the status, the model files, and a failing step ends the run FAILED."""

from __future__ import annotations

import os
from typing import Any

import pytest

import asynctrack
from tests.integrations.conftest import need

need("torch")
need("transformers")

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


def _parts() -> tuple[Any, Any]:
    import torch
    import transformers

    class Recorder(transformers.TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.logs: list[tuple[dict[str, Any], int]] = []

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            self.logs.append((dict(logs or {}), state.global_step))

    class Dataset(torch.utils.data.Dataset):  # type: ignore[misc]
        def __init__(self, n: int = 32) -> None:
            g = torch.Generator().manual_seed(0)
            self.ids = torch.randint(1, 50, (n, 8), generator=g)
            self.labels = (self.ids.sum(dim=1) % 2).long()

        def __len__(self) -> int:
            return len(self.ids)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": self.ids[i], "labels": self.labels[i]}

    return Recorder, Dataset


def _model(fail_after: int | None = None) -> Any:
    import transformers

    transformers.set_seed(0)
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
        # A long config value: MLflow truncates params over 6000 characters.
        long_note="y" * 6500,
    )

    class Failing(transformers.BertForSequenceClassification):  # type: ignore[misc]
        calls = 0

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            Failing.calls += 1
            if fail_after is not None and Failing.calls > fail_after:
                raise RuntimeError("a failing training step")
            return super().forward(*args, **kwargs)

    return Failing(config)


def _trainer(model: Any, callbacks: list[Any], tmp_path: Any, epochs: int = 2) -> Any:
    import transformers

    _Recorder, Dataset = _parts()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=epochs,
        per_device_train_batch_size=8,
        logging_steps=1,
        learning_rate=1e-3,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        run_name="tiny-bert",
        remove_unused_columns=False,
    )
    return transformers.Trainer(model=model, args=args, train_dataset=Dataset(), callbacks=callbacks)


def _expected(recorder: Any) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for logs, step in recorder.logs:
        for key, value in logs.items():
            if isinstance(value, (int, float)):
                out.setdefault(key, []).append((step, float(value)))
    return out


def _stored(run_id: str) -> dict[str, list[tuple[int, float]]]:
    client = asynctrack.MlflowClient()
    keys = [k for k in client.get_run(run_id).data.metrics if not k.startswith("system/")]
    return {k: [(m.step, m.value) for m in client.get_metric_history(run_id, k)] for k in keys}


@pytest.mark.slow  # real training (~5 s); the other Transformers tests stay in the quick loop
def test_every_log_params_status_and_model(tmp_tracking: str, tmp_path: Any) -> None:
    from asynctrack.integrations.transformers import AsynctrackCallback

    Recorder, _Dataset = _parts()
    ours, recorder = AsynctrackCallback(experiment_name="hf", log_models=True), Recorder()
    _trainer(_model(), [ours, recorder], tmp_path).train()

    run = asynctrack.get_run(ours.run.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny-bert"
    assert asynctrack.get_experiment(run.info.experiment_id).name == "hf"
    expected = _expected(recorder)
    assert [s for s, _ in expected["loss"]] == [1, 2, 3, 4, 5, 6, 7, 8]  # 2 epochs x 4 steps, every step
    assert _stored(run.info.run_id) == expected
    params = run.data.params
    assert params["num_train_epochs"] == "2" and params["learning_rate"] == "0.001"
    assert params["hidden_size"] == "16" and params["model_type"] == "bert"
    assert params["long_note"] == "y" * 6000
    files = {a.path for a in asynctrack.MlflowClient().list_artifacts(run.info.run_id, "model")}
    assert {"model/config.json", "model/model.safetensors"} <= files
    assert asynctrack.active_run() is None


@pytest.mark.parametrize("entry", ["autolog", "transformers.autolog"])
def test_failing_step_through_autolog_ends_failed_with_earlier_logs(
    entry: str, tmp_tracking: str, tmp_path: Any
) -> None:
    """Through ``asynctrack.autolog()`` and through ``mlflow.transformers.autolog()``'s stand-in alike."""
    import transformers

    Recorder, _Dataset = _parts()
    recorder = Recorder()
    original_train = transformers.Trainer.train
    if entry == "autolog":
        asynctrack.autolog(silent=True, exclude_flavors=["lightning", "pytorch_lightning", "keras"])
    else:
        asynctrack.transformers.autolog(silent=True)
    try:
        trainer = _trainer(_model(fail_after=5), [recorder], tmp_path)
        ours = next(c for c in trainer.callback_handler.callbacks if type(c).__name__ == "AsynctrackCallback")
        with pytest.raises(RuntimeError, match="a failing training step"):
            trainer.train()
    finally:
        if entry == "autolog":
            asynctrack.autolog(disable=True)
        else:
            asynctrack.transformers.autolog(disable=True)
    assert transformers.Trainer.train is original_train  # unpatched again
    run = asynctrack.get_run(ours.run.run_id)
    assert run.info.status == "FAILED"
    expected = _expected(recorder)
    assert [s for s, _ in expected["loss"]] == [1, 2, 3, 4, 5]
    assert _stored(run.info.run_id) == expected


def test_inside_an_active_run_the_callback_leaves_it_open(tmp_tracking: str, tmp_path: Any) -> None:
    from asynctrack.integrations.transformers import AsynctrackCallback

    with pytest.raises(RuntimeError, match="a failing training step"):
        with asynctrack.start_run() as outer:
            ours = AsynctrackCallback()
            _trainer(_model(fail_after=2), [ours], tmp_path).train()
    assert ours.run is not None and ours.run.run_id == outer.info.run_id
    assert asynctrack.get_run(outer.info.run_id).info.status == "FAILED"
    history = asynctrack.MlflowClient().get_metric_history(outer.info.run_id, "loss")
    assert [m.step for m in history] == [1, 2]
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
