"""A run's logged-model inputs and outputs through ``MlflowClient`` and the fluent API on the embedded
store: MLflow 3.17.2's ``log_inputs(models=...)``, ``log_outputs``, and what its fluent ``log_metric``
links by itself (a named or active model, or a dataset, becomes an input of the run; a point without a
model goes to the active run's output model at its step)."""

from __future__ import annotations

import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient
from asynctrack.entities import Dataset, LoggedModelInput, LoggedModelOutput, Run
from asynctrack.exceptions import MlflowException


@pytest.fixture(autouse=True)
def _no_active_model() -> object:
    mlflow.clear_active_model()
    yield
    mlflow.clear_active_model()


def _links(run: Run) -> tuple[list[str], list[tuple[str, int]]]:
    return (
        [m.model_id for m in run.inputs.model_inputs],
        [(m.model_id, m.step) for m in run.outputs.model_outputs],
    )


def test_client_log_inputs_and_outputs(tmp_tracking: str) -> None:
    c = MlflowClient()
    rid = c.create_run("0").info.run_id
    a, b = c.create_logged_model("0", name="a"), c.create_logged_model("0", name="b")
    ds = Dataset("d", "dg", "code", "{}")
    c.log_inputs(rid, datasets=[mlflow.entities.DatasetInput(ds)], models=[LoggedModelInput(a.model_id)])
    c.log_inputs(rid, models=[LoggedModelInput(a.model_id), LoggedModelInput(b.model_id)])
    c.log_outputs(rid, [LoggedModelOutput(b.model_id, 9)])
    run = c.get_run(rid)
    assert _links(run) == ([a.model_id, b.model_id], [(b.model_id, 9)])
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["d"]
    assert run.to_dictionary()["outputs"] == {"model_outputs": [{"model_id": b.model_id, "step": 9}]}
    with pytest.raises(MlflowException, match="already an output") as e:
        c.log_outputs(rid, [LoggedModelOutput(b.model_id, 10)])
    assert e.value.error_code == "BAD_REQUEST"


def test_client_checks_its_input(tmp_tracking: str) -> None:
    c = MlflowClient()
    rid = c.create_run("0").info.run_id
    bad: list[tuple[object, str]] = [
        (lambda: c.log_inputs(rid, models=["m-1"]), "LoggedModelInput entities"),  # type: ignore[list-item]
        (lambda: c.log_inputs(rid, models=[LoggedModelInput("")]), "non-empty string"),
        (lambda: c.log_outputs(rid, [LoggedModelInput("m-1")]), "LoggedModelOutput entities"),  # type: ignore[list-item]
        (lambda: c.log_outputs(rid, [LoggedModelOutput("m-1", "3")]), "must be an integer"),  # type: ignore[arg-type]
        (lambda: c.log_outputs(rid, [LoggedModelOutput("", 3)]), "non-empty string"),
    ]
    for call, message in bad:
        with pytest.raises(MlflowException, match=message) as e:
            call()  # type: ignore[operator]
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert _links(c.get_run(rid)) == ([], [])


def test_fluent_log_input_log_inputs_and_log_outputs(tmp_tracking: str) -> None:
    c = MlflowClient()
    a, b, o = (c.create_logged_model("0", name=n) for n in ("a", "b", "o"))
    with mlflow.start_run() as run:
        mlflow.log_input(model=LoggedModelInput(a.model_id))
        mlflow.log_inputs(models=[LoggedModelInput(b.model_id)])
        mlflow.log_outputs([LoggedModelOutput(o.model_id, 1)])
    assert _links(c.get_run(run.info.run_id)) == ([a.model_id, b.model_id], [(o.model_id, 1)])


def test_fluent_log_metric_makes_the_model_and_dataset_inputs_of_the_run(tmp_tracking: str) -> None:
    """MLflow's fluent log_metric: a model the point names (or the active model) that is neither an input
    nor an output of the run becomes an input, once; a dataset not yet an input becomes one (no tags)."""
    c = MlflowClient()
    a, out, act = (c.create_logged_model("0", name=n) for n in ("a", "out", "act"))
    ds = Dataset("evalset", "e1", "code", "{}")
    with mlflow.start_run() as run:
        rid = run.info.run_id
        c.log_outputs(rid, [LoggedModelOutput(out.model_id, 0)])
        mlflow.log_metric("acc", 0.5, step=1, model_id=a.model_id, dataset=ds)
        mlflow.log_metric("acc", 0.6, step=2, model_id=a.model_id, dataset=ds)
        mlflow.log_metrics({"x": 1.0}, step=3, model_id=a.model_id)
        mlflow.set_active_model(model_id=act.model_id)
        mlflow.log_metric("score", 1.0, step=4)
    got = c.get_run(rid)
    assert [m.model_id for m in got.inputs.model_inputs] == [a.model_id, act.model_id]
    assert [(d.dataset.name, d.dataset.digest, d.tags) for d in got.inputs.dataset_inputs] == [
        ("evalset", "e1", [])
    ]
    linked = c.get_logged_model(a.model_id).metrics or []
    assert sorted((m.key, m.step, m.dataset_name) for m in linked) == [
        ("acc", 1, "evalset"),
        ("acc", 2, "evalset"),
        ("x", 3, None),
    ]
    # A model already an output of the run is not made an input as well.
    mlflow.clear_active_model()
    with mlflow.start_run(run_id=rid):
        mlflow.log_metric("o", 1.0, step=7, model_id=out.model_id)
    assert out.model_id not in [m.model_id for m in c.get_run(rid).inputs.model_inputs]


def test_resumed_run_links_points_to_its_output_at_their_step(tmp_tracking: str) -> None:
    """A resumed run's outputs are read at start_run: a point without a model logged at an output's step
    is linked to that model (MLflow's _get_model_ids_for_new_metric_if_exist); other steps are the run's
    only."""
    c = MlflowClient()
    m = c.create_logged_model("0", name="m")
    rid = c.create_run("0").info.run_id
    c.log_outputs(rid, [LoggedModelOutput(m.model_id, 5)])
    with mlflow.start_run(run_id=rid):
        mlflow.log_metric("auto", 1.0, step=5)
        mlflow.log_metric("auto", 2.0, step=4)
        mlflow.log_metrics({"many": 3.0}, step=5)
    linked = c.get_logged_model(m.model_id).metrics or []
    assert sorted((x.key, x.value, x.step, x.run_id) for x in linked) == [
        ("auto", 1.0, 5, rid),
        ("many", 3.0, 5, rid),
    ]
    assert sorted(p.value for p in c.get_metric_history(rid, "auto")) == [1.0, 2.0]
    assert c.get_run(rid).inputs.model_inputs == []  # an output is not made an input


def test_fluent_log_metric_with_only_a_dataset(tmp_tracking: str) -> None:
    """``dataset=`` without a model: the point is the run's, and the dataset becomes an input of the run
    (once), as in MLflow's fluent API."""
    c = MlflowClient()
    ds = Dataset("train", "t1", "code", "{}")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5, step=0, dataset=ds)
        mlflow.log_metrics({"loss": 0.4}, step=1, dataset=ds)
    got = c.get_run(run.info.run_id)
    assert [(d.dataset.name, d.dataset.digest) for d in got.inputs.dataset_inputs] == [("train", "t1")]
    assert sorted(p.value for p in c.get_metric_history(run.info.run_id, "loss")) == [0.4, 0.5]
    assert got.inputs.model_inputs == []
