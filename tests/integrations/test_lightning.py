"""The Lightning logger with real training (CPU, a tiny MLP, synthetic data), for both package names: what the
store holds afterwards is exactly what Lightning handed its loggers (compared with a recording logger in the
same Trainer), params with MLflow's truncation, the run's status, checkpoints as artifacts, and a failing
step ending the run FAILED with everything logged before it present."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

import pytest

import asynctrack
from tests.integrations.conftest import need

need("torch")
need("lightning")

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

PACKAGES = ["lightning.pytorch", "pytorch_lightning"]


def _setup(package: str) -> tuple[Any, type, type, type]:
    pytest.importorskip(package.split(".")[0], reason=f"{package} is not installed")
    from tests.integrations._lightning_models import build

    pl = importlib.import_module(package)
    module = importlib.import_module(f"asynctrack.integrations.{package.split('.')[0]}")
    recorder, model = build(pl)
    return pl, module.AsynctrackLogger, recorder, model


def _trainer(pl: Any, loggers: list[Any], tmp_path: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("enable_checkpointing", False)
    return pl.Trainer(
        max_epochs=3,
        logger=loggers,
        log_every_n_steps=1,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **kwargs,
    )


def _expected(recorder: Any) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for metrics, step in recorder.metrics:
        for key, value in metrics.items():
            out.setdefault(key, []).append((step, float(value)))
    return out


def _stored(run_id: str) -> dict[str, list[tuple[int, float]]]:
    client = asynctrack.MlflowClient()
    run = client.get_run(run_id)
    return {
        key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
        for key in run.data.metrics
        if not key.startswith("system/")
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_every_logged_value_params_and_status(package: str, tmp_tracking: str, tmp_path: Any) -> None:
    from tests.integrations._lightning_models import loader

    pl, Logger, Recorder, Model = _setup(package)
    ours, recorder = Logger(experiment_name="lightning", run_name="tiny"), Recorder()
    long_value = "x" * 7000
    model = Model(lr=0.05, hidden=8, optim={"betas": (0.9, 0.99), "eps": 1e-8}, notes=long_value)
    _trainer(pl, [ours, recorder], tmp_path).fit(model, loader())

    run = asynctrack.get_run(ours.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny"
    assert asynctrack.get_experiment(run.info.experiment_id).name == "lightning"
    expected = _expected(recorder)
    assert len(expected["train_loss"]) == 12  # 3 epochs x 4 batches, every step
    assert {"train_loss", "weight_norm", "epoch_loss", "epoch"} <= set(expected)
    assert _stored(run.info.run_id) == expected
    params = run.data.params
    assert params["lr"] == "0.05" and params["hidden"] == "8" and params["fail_at_step"] == "-1"
    assert params["optim/betas"] == "(0.9, 0.99)" and params["optim/eps"] == "1e-08"
    assert params["notes"] == "x" * 6000  # MLflow's rule: values over 6000 characters are truncated
    assert asynctrack.active_run() is None  # the run the logger started is ended


@pytest.mark.parametrize("package", PACKAGES)
def test_a_failing_step_ends_the_run_failed_with_earlier_steps_kept(
    package: str, tmp_tracking: str, tmp_path: Any
) -> None:
    from tests.integrations._lightning_models import loader

    pl, Logger, Recorder, Model = _setup(package)
    ours, recorder = Logger(), Recorder()
    with pytest.raises(RuntimeError, match="a failing training step"):
        _trainer(pl, [ours, recorder], tmp_path).fit(Model(fail_at_step=6), loader())
    run = asynctrack.get_run(ours.run_id)
    assert run.info.status == "FAILED"
    expected = _expected(recorder)
    assert [s for s, _ in expected["train_loss"]] == [0, 1, 2, 3, 4, 5]
    assert _stored(run.info.run_id) == expected
    assert recorder.statuses == ["failed"]


def test_keyboard_interrupt_ends_the_run_killed(tmp_tracking: str) -> None:
    """Lightning calls ``finalize("failed")`` from its ``except KeyboardInterrupt`` block (then exits the
    process); the logger tells an interrupt from an error there."""
    pl, Logger, _Recorder, _Model = _setup("lightning.pytorch")
    ours = Logger()
    ours.log_metrics({"loss": 1.0}, step=0)
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        ours.finalize("failed")
    run = asynctrack.get_run(ours.run_id)
    assert run.info.status == "KILLED" and run.data.metrics == {"loss": 1.0}


def test_inside_an_active_run_the_run_is_left_open(tmp_tracking: str, tmp_path: Any) -> None:
    from tests.integrations._lightning_models import loader

    pl, Logger, Recorder, Model = _setup("lightning.pytorch")
    with asynctrack.start_run() as outer:
        ours = Logger()
        _trainer(pl, [ours], tmp_path, max_steps=3).fit(Model(), loader())
        assert ours.run_id == outer.info.run_id
        assert asynctrack.active_run() is not None
        assert asynctrack.get_run(outer.info.run_id).info.status == "RUNNING"
        # finalize flushed: the values are readable at once
        assert len(asynctrack.MlflowClient().get_metric_history(outer.info.run_id, "train_loss")) == 3
    assert asynctrack.get_run(outer.info.run_id).info.status == "FINISHED"


@pytest.mark.parametrize("log_model", [True, "all"])
def test_checkpoints_as_artifacts(log_model: Any, tmp_tracking: str, tmp_path: Any) -> None:
    from tests.integrations._lightning_models import loader

    pl, Logger, _Recorder, Model = _setup("lightning.pytorch")
    ours = Logger(log_model=log_model)
    ckpt = pl.callbacks.ModelCheckpoint(
        dirpath=str(tmp_path / "ckpt"), filename="{epoch}", save_top_k=-1, every_n_epochs=1
    )
    _trainer(pl, [ours], tmp_path, enable_checkpointing=True, callbacks=[ckpt]).fit(Model(), loader())
    saved = sorted(os.listdir(tmp_path / "ckpt"))
    assert saved == ["epoch=0.ckpt", "epoch=1.ckpt", "epoch=2.ckpt"]
    listed = sorted(a.path for a in asynctrack.MlflowClient().list_artifacts(ours.run_id, "checkpoints"))
    assert listed == [f"checkpoints/{name}" for name in saved]
    local = asynctrack.artifacts.download_artifacts(
        run_id=ours.run_id, artifact_path=f"checkpoints/{saved[-1]}", dst_path=str(tmp_path / "dl")
    )
    with open(local, "rb") as got, open(tmp_path / "ckpt" / saved[-1], "rb") as want:
        assert got.read() == want.read()


def test_bad_metric_keys_and_values(tmp_tracking: str, caplog: pytest.LogCaptureFixture) -> None:
    _pl, Logger, _Recorder, _Model = _setup("lightning.pytorch")
    ours = Logger()
    with caplog.at_level(logging.WARNING, logger="asynctrack"):
        ours.log_metrics({"acc@1": 0.5, "name": "text", "ok": 2}, step=3)
        ours.finalize("success")
    metrics = asynctrack.MlflowClient().get_run(ours.run_id).data.metrics
    assert metrics == {"acc1": 0.5, "ok": 2.0}
    assert "'acc@1'" in caplog.text and "'name'='text' is not a number" in caplog.text


@pytest.mark.slow
def test_ddp_logs_from_rank_zero_only(tmp_path: Any) -> None:
    """Real DDP on CPU: two processes (Lightning's subprocess launcher re-runs the script for rank 1, gloo
    backend). Only rank 0 starts a run and logs; the run holds every step of the global loss once."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = tmp_path / "ddp_job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, warnings
            warnings.simplefilter("ignore")
            sys.path.insert(0, {str(root)!r})
            import asynctrack
            import lightning.pytorch as pl
            from asynctrack.integrations.lightning import AsynctrackLogger
            from tests.integrations._lightning_models import build, loader
            asynctrack.set_tracking_uri({f"sqlite:///{tmp_path}/t.db"!r})
            _Recorder, Model = build(pl)
            logger = AsynctrackLogger(run_name="ddp")
            trainer = pl.Trainer(max_epochs=2, strategy="ddp", devices=2, accelerator="cpu", logger=logger,
                                 log_every_n_steps=1, enable_checkpointing=False, enable_progress_bar=False,
                                 enable_model_summary=False, default_root_dir={str(tmp_path)!r})
            trainer.fit(Model(), loader())
            # One file per rank: both ranks share one stdout, where their lines can interleave.
            with open(f"rank{{trainer.global_rank}}.txt", "w") as out:
                out.write(str(logger.run_id))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client = asynctrack.MlflowClient(f"sqlite:///{tmp_path}/t.db")
    runs = client.search_runs(["0"])
    assert len(runs) == 1 and runs[0].info.run_name == "ddp" and runs[0].info.status == "FINISHED"
    # 64 samples over 2 ranks, batches of 16: 2 steps per epoch, 2 epochs; each step logged once.
    history = client.get_metric_history(runs[0].info.run_id, "train_loss")
    assert [m.step for m in history] == [0, 1, 2, 3]
    # Rank 0 owns the run; rank 1 never started one.
    assert (tmp_path / "rank0.txt").read_text() == runs[0].info.run_id
    assert (tmp_path / "rank1.txt").read_text() == "None"


def test_pytorch_autolog_logs_each_checkpoint_and_disables_alone(tmp_tracking: str, tmp_path: Any) -> None:
    """``mlflow.pytorch.autolog()``'s defaults (checkpoint=True): every step, the params, and each checkpoint
    the Trainer saves, as it is saved (Lightning's default ModelCheckpoint keeps only the latest file); a
    Keras ``disable=True`` leaves the Lightning patch alone, Lightning's own puts ``Trainer.fit`` back."""
    from tests.integrations._lightning_models import loader

    pl, _Logger, Recorder, Model = _setup("lightning.pytorch")
    original_fit = pl.Trainer.fit
    recorder = Recorder()
    asynctrack.pytorch.autolog(log_every_n_step=1, extra_tags={"via": "pytorch.autolog"}, silent=True)
    try:
        asynctrack.keras.autolog(disable=True)
        assert pl.Trainer.fit is not original_fit
        trainer = _trainer(pl, [recorder], tmp_path, enable_checkpointing=True)
        trainer.fit(Model(), loader())
    finally:
        asynctrack.pytorch.autolog(disable=True)
    assert pl.Trainer.fit is original_fit
    run = asynctrack.last_active_run()
    assert run is not None and run.info.status == "FINISHED" and run.data.tags["via"] == "pytorch.autolog"
    assert _stored(run.info.run_id) == _expected(recorder)
    assert run.data.params["lr"] == "0.05"
    listed = sorted(a.path for a in asynctrack.MlflowClient().list_artifacts(run.info.run_id, "checkpoints"))
    assert listed == [f"checkpoints/epoch={e}-step={4 * (e + 1)}.ckpt" for e in range(3)]


def test_pytorch_autolog_refuses_what_it_cannot_do(tmp_tracking: str) -> None:
    with pytest.raises(ValueError, match=r"log_every_n_epoch=2 is not supported"):
        asynctrack.pytorch.autolog(log_every_n_epoch=2)
    refused = r"does not take checkpoint_mode, checkpoint_monitor: .*ModelCheckpoint"
    with pytest.raises(ValueError, match=refused):
        asynctrack.pytorch.autolog(checkpoint_monitor="train_loss", checkpoint_mode="max")
    with pytest.raises(ValueError, match=r"log_every_n_step must be a positive integer, got 2.5"):
        asynctrack.pytorch.autolog(log_every_n_step=2.5)  # type: ignore[arg-type]
