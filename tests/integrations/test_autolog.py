"""``asynctrack.autolog()``: patches a library when the program imports it (a fresh interpreter, real
Lightning training), says what it does not support, refuses bad arguments, and undoes itself."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import asynctrack
from tests.integrations.conftest import need

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # real Lightning training in a fresh interpreter (~20 s)
def test_lightning_imported_after_autolog_is_logged(tmp_path: Path) -> None:
    need("lightning")
    script = textwrap.dedent(
        """
        import sys, warnings
        warnings.simplefilter("ignore")
        import asynctrack
        asynctrack.set_tracking_uri(sys.argv[1])
        asynctrack.autolog(log_every_n_step=1, extra_tags={"via": "autolog"})
        assert "lightning" not in sys.modules  # autolog imports nothing itself
        import lightning.pytorch as pl
        from tests.integrations._lightning_models import build, loader
        _Recorder, Model = build(pl)
        pl.Trainer(max_epochs=2, enable_progress_bar=False, enable_model_summary=False, logger=False,
                   enable_checkpointing=False, default_root_dir=sys.argv[2]).fit(Model(), loader())
        run = asynctrack.last_active_run()
        history = asynctrack.MlflowClient().get_metric_history(run.info.run_id, "train_loss")
        print(run.info.status, run.data.tags["via"], [m.step for m in history], run.data.params["lr"])
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{tmp_path}/t.db", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[-2] == "FINISHED autolog [0, 1, 2, 3, 4, 5, 6, 7] 0.05"


def test_nothing_supported_is_said_even_when_silent(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="asynctrack"):
        asynctrack.autolog(
            silent=True, exclude_flavors=["lightning", "pytorch_lightning", "transformers", "keras"]
        )
    assert "found none of the libraries it supports (lightning, pytorch_lightning, transformers, keras)" in (
        caplog.text
    )


def test_unsupported_flavours_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # An installed package that MLflow autologs and asynctrack does not: a real importable xgboost package.
    (tmp_path / "xgboost").mkdir()
    (tmp_path / "xgboost" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with caplog.at_level(logging.WARNING, logger="asynctrack"):
            asynctrack.autolog()
    finally:
        asynctrack.autolog(disable=True)
    assert "asynctrack.autolog() does not log xgboost" in caplog.text
    assert "supports lightning, pytorch_lightning, transformers, keras" in caplog.text


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="log_every_n_step must be a positive integer, got 0"):
        asynctrack.autolog(log_every_n_step=0)
    with pytest.raises(ValueError, match=r"unknown flavours \['nope'\]"):
        asynctrack.autolog(exclude_flavors=["nope"])
