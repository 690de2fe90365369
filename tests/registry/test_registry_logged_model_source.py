"""Model versions from MLflow 3 logged models on both SQL stores: a ``models:/<model_id>`` source (kept as
given, stored at the model's artifact location, the model's source run as lineage), and
``register_model`` finding a run's logged model by name as MLflow 3.17.2 does."""

from __future__ import annotations

import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient
from asynctrack.entities import LoggedModelOutput
from asynctrack.exceptions import MlflowException


def test_models_model_id_source(tmp_tracking: str) -> None:
    c = MlflowClient()
    rid = c.create_run("0").info.run_id
    m = c.create_logged_model("0", name="clf", source_run_id=rid)
    c.create_registered_model("reg")
    with_id = c.create_model_version("reg", f"models:/{m.model_id}", model_id=m.model_id)
    without = c.create_model_version("reg", f"models:/{m.model_id}")
    assert (with_id.source, with_id.run_id, with_id.model_id) == (f"models:/{m.model_id}", rid, m.model_id)
    assert (without.source, without.run_id, without.model_id) == (f"models:/{m.model_id}", rid, None)
    for v in (with_id, without):
        assert c.get_model_version_download_uri("reg", v.version) == m.artifact_location
    other = c.create_run("0").info.run_id
    assert c.create_model_version("reg", f"models:/{m.model_id}", other).run_id == other  # given wins
    with pytest.raises(MlflowException, match="Logged model with ID 'm-missing' not found") as e:
        c.create_model_version("reg", "models:/m-missing")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    c.delete_logged_model(m.model_id)
    with pytest.raises(MlflowException, match="not found"):
        c.create_model_version("reg", f"models:/{m.model_id}")
    assert [v.version for v in c.search_model_versions("name = 'reg'")] == ["3", "2", "1"]


def test_a_model_id_without_a_run_gives_the_models_source_run(tmp_tracking: str) -> None:
    c = MlflowClient()
    rid = c.create_run("0").info.run_id
    m = c.create_logged_model("0", source_run_id=rid)
    c.create_registered_model("reg")
    v = c.create_model_version("reg", m.artifact_location, model_id=m.model_id)
    assert (v.run_id, v.model_id) == (rid, m.model_id)


def test_register_model_finds_the_runs_logged_model(tmp_tracking: str) -> None:
    """``runs:/<run>/<name>`` without an MLmodel file: the run's logged model of that name, the one output
    at the largest step when there are several; ``models:/<model_id>`` records the model id."""
    c = MlflowClient()
    rid = c.create_run("0").info.run_id
    early, late = (c.create_logged_model("0", name="model", source_run_id=rid) for _ in range(2))
    c.create_logged_model("0", name="model")  # another run's (none): not this run's
    c.log_outputs(rid, [LoggedModelOutput(late.model_id, 9), LoggedModelOutput(early.model_id, 2)])
    v = mlflow.register_model(f"runs:/{rid}/model", "reg")
    assert (v.source, v.model_id, v.run_id) == (f"models:/{late.model_id}", late.model_id, rid)
    v2 = mlflow.register_model(f"models:/{early.model_id}", "reg")
    assert (v2.source, v2.model_id, v2.run_id) == (f"models:/{early.model_id}", early.model_id, rid)
    with pytest.raises(MlflowException, match="Unable to find a logged_model with artifact_path other") as e:
        mlflow.register_model(f"runs:/{rid}/other", "reg")
    assert e.value.error_code == "NOT_FOUND"
