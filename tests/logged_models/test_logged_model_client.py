"""Logged models through ``MlflowClient`` and the fluent API on the embedded store: MLflow 3.17.2's
signatures, the active model (per thread, from ``MLFLOW_ACTIVE_MODEL_ID``), and metrics linked by
``log_metric(..., model_id=...)``."""

from __future__ import annotations

import threading

import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient
from asynctrack.entities import LoggedModelStatus
from asynctrack.exceptions import MlflowException


@pytest.fixture(autouse=True)
def _no_active_model() -> object:
    mlflow.clear_active_model()
    yield
    mlflow.clear_active_model()


def test_client_round_trip(tmp_tracking: str) -> None:
    c = MlflowClient()
    m = c.create_logged_model("0", name="clf", tags={"a": 1}, params={"alpha": 0.5}, model_type="Classifier")
    assert (m.tags, m.params, m.status) == ({"a": "1"}, {"alpha": "0.5"}, LoggedModelStatus.PENDING)
    assert c.finalize_logged_model(m.model_id, "READY").status is LoggedModelStatus.READY
    c.set_logged_model_tags(m.model_id, {"b": 2})
    c.log_model_params(m.model_id, {"beta": 1})
    c.delete_logged_model_tag(m.model_id, "a")
    got = c.get_logged_model(m.model_id)
    assert (got.tags, got.params) == ({"b": "2"}, {"alpha": "0.5", "beta": "1"})
    page = c.search_logged_models(["0"], "params.beta = '1'")
    assert [x.model_id for x in page] == [m.model_id] and page.token is None
    c.delete_logged_model(m.model_id)
    assert list(c.search_logged_models(["0"])) == []


def test_client_checks_input_as_mlflow_does(tmp_tracking: str) -> None:
    c = MlflowClient()
    for call in (c.get_logged_model, c.delete_logged_model):
        with pytest.raises(MlflowException, match="`model_id` must be a non-empty string") as e:
            call("")
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="Failed to get logged model with ID m-x") as e:
        c.set_logged_model_tags("m-x", {"a": "b"})
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="Failed to get logged model with ID m-x"):
        c.log_model_params("m-x", {"a": "b"})
    with pytest.raises(MlflowException, match="experiment_ids must be a list of strings"):
        c.search_logged_models("0")  # type: ignore[arg-type]
    with pytest.raises(MlflowException, match="Invalid logged model status"):
        c.finalize_logged_model(c.create_logged_model("0").model_id, "DONE")
    # experiment ids no experiment can have (not a number, past 64 bits): they match nothing, or name it
    huge = "12345678901234567890"
    assert c.search_logged_models([huge, "abc"]) == []
    with pytest.raises(MlflowException, match=f"No Experiment with id={huge} exists") as e:
        c.create_logged_model(huge)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_metrics_linked_to_a_model(tmp_tracking: str) -> None:
    c = MlflowClient()
    m = c.create_logged_model("0", name="m")
    run = c.create_run("0")
    rid = run.info.run_id
    c.log_metric(rid, "acc", 0.8, timestamp=5, step=1, model_id=m.model_id)
    c.log_metric(
        rid, "acc", 0.9, timestamp=6, step=2, model_id=m.model_id, dataset_name="d", dataset_digest="x"
    )
    c.log_batch(rid, [mlflow.Metric("loss", 0.1, 7, 3, model_id=m.model_id)])
    got = c.get_logged_model(m.model_id)
    assert got.metrics is not None
    assert sorted((x.key, x.value, x.step, x.dataset_name, x.run_id) for x in got.metrics) == [
        ("acc", 0.8, 1, None, rid),
        ("acc", 0.9, 2, "d", rid),
        ("loss", 0.1, 3, None, rid),
    ]
    assert c.get_run(rid).data.metrics == {"acc": 0.9, "loss": 0.1}


def test_fluent_models_active_model_and_linked_metrics(tmp_tracking: str) -> None:
    with mlflow.start_run() as run:
        m = mlflow.initialize_logged_model(name="agent", params={"k": "v"})
        assert m.source_run_id == run.info.run_id and m.experiment_id == run.info.experiment_id
        assert mlflow.last_logged_model().model_id == m.model_id
        assert mlflow.get_active_model_id() is None
        with mlflow.set_active_model(model_id=m.model_id) as active:
            assert active.model_id == m.model_id and mlflow.get_active_model_id() == m.model_id
            mlflow.log_metric("score", 1.5, step=3)
            seen: list[str | None] = []
            t = threading.Thread(target=lambda: seen.append(mlflow.get_active_model_id()))
            t.start()
            t.join()
            assert seen == [None]  # per thread, as in MLflow
        assert mlflow.get_active_model_id() is None
        mlflow.log_metric("plain", 1.0)
    got = mlflow.get_logged_model(m.model_id)
    assert [(x.key, x.value, x.step) for x in got.metrics or []] == [("score", 1.5, 3)]
    assert mlflow.get_run(run.info.run_id).data.metrics == {"score": 1.5, "plain": 1.0}
    made = mlflow.set_active_model(name="fresh")
    assert made.name == "fresh" and made.status is LoggedModelStatus.READY
    assert made.tags["mlflow.model.isExternal"] == "true"
    assert mlflow.set_active_model(name="fresh").model_id == made.model_id
    with pytest.raises(MlflowException, match="does not match the provided name"):
        mlflow.set_active_model(name="other", model_id=made.model_id)
    with pytest.raises(MlflowException, match="Either name or model_id must be provided"):
        mlflow.set_active_model()
    models = mlflow.search_logged_models(output_format="list", order_by=[{"field_name": "name"}])
    assert [x.name for x in models] == ["agent", "fresh"]
    frame = mlflow.search_logged_models(filter_string="name = 'agent'")
    assert list(frame["name"]) == ["agent"] and list(frame["status"]) == ["PENDING"]
    mlflow.clear_active_model()
    assert mlflow.get_active_model_id() is None


def test_active_model_from_the_environment(tmp_tracking: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ACTIVE_MODEL_ID", "m-from-env")
    seen: list[str | None] = []
    t = threading.Thread(target=lambda: seen.append(mlflow.get_active_model_id()))
    t.start()
    t.join()
    assert seen == ["m-from-env"]
    mlflow.clear_active_model()
    import os

    assert "MLFLOW_ACTIVE_MODEL_ID" not in os.environ and mlflow.get_active_model_id() is None


def test_flavours_are_out_of_scope_with_a_pointer() -> None:
    with pytest.raises(AttributeError, match=r"out of scope.*docs/api-coverage.md"):
        mlflow.sklearn  # noqa: B018
    with pytest.raises(AttributeError, match=r"mlflow.pytorch.log_model .*out of scope.*api-coverage.md"):
        mlflow.pytorch.log_model  # noqa: B018
    with pytest.raises(ModuleNotFoundError, match=r"docs/api-coverage.md"):
        import asynctrack.sklearn  # noqa: F401
