"""Entities, enumerations and MlflowException: fields, dictionary views and MLflow-compatible errors."""

from __future__ import annotations

import json
import pickle

import msgspec
import pytest

from asynctrack import exceptions
from asynctrack.entities import (
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
    ViewType,
)
from asynctrack.exceptions import MlflowException, get_http_status_code
from asynctrack.store import StoreUnavailable

RUN_ID = "0123456789abcdef0123456789abcdef"

# MLflow's RunInfo properties (what dict(run.info) holds in MLflow 3.x).
MLFLOW_RUN_INFO_KEYS = {
    "artifact_uri",
    "end_time",
    "experiment_id",
    "lifecycle_stage",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
}


def _info(**overrides: object) -> RunInfo:
    fields: dict[str, object] = {
        "run_id": RUN_ID,
        "experiment_id": "0",
        "user_id": "alice",
        "status": "RUNNING",
        "start_time": 1000,
        "end_time": None,
        "lifecycle_stage": "active",
        "artifact_uri": "/a/0/x/artifacts",
        "run_name": "brave-owl-1",
    }
    fields.update(overrides)
    return RunInfo(**fields)  # type: ignore[arg-type]


# -- Metric / Param / RunTag / ExperimentTag


def test_metric_positional_fields_and_defaults():
    """Metric(key, value, timestamp) defaults step to 0 and the optional ids to None."""
    m = Metric("loss", 0.5, 1234)
    assert (m.key, m.value, m.timestamp, m.step) == ("loss", 0.5, 1234, 0)
    assert (m.model_id, m.dataset_name, m.dataset_digest, m.run_id) == (None, None, None, None)


def test_metric_is_immutable():
    """Metric fields cannot be reassigned (MLflow exposes them as read-only properties)."""
    m = Metric("loss", 0.5, 1234, 3)
    with pytest.raises(AttributeError):
        m.value = 1.0  # type: ignore[misc]
    assert m.value == 0.5


def test_metric_to_dictionary_has_mlflow_keys_in_order():
    """Metric.to_dictionary returns MLflow's eight keys in MLflow's order."""
    d = Metric("loss", 0.5, 1234, 3, run_id=RUN_ID).to_dictionary()
    assert list(d) == [
        "key",
        "value",
        "timestamp",
        "step",
        "model_id",
        "dataset_name",
        "dataset_digest",
        "run_id",
    ]
    assert d["key"] == "loss" and d["value"] == 0.5 and d["step"] == 3 and d["run_id"] == RUN_ID


def test_metric_from_dictionary_ignores_unknown_keys():
    """Metric.from_dictionary keeps only known fields, so it round-trips to_dictionary output."""
    m = Metric("loss", 0.5, 1234, 3)
    d = {**m.to_dictionary(), "unexpected": 1}
    assert Metric.from_dictionary(d) == m


def test_metrics_compare_by_all_fields():
    """Two metrics are equal only when key, value, timestamp and step all match."""
    assert Metric("a", 1.0, 1, 0) == Metric("a", 1.0, 1, 0)
    assert Metric("a", 1.0, 1, 0) != Metric("a", 1.0, 1, 1)


def test_metric_requires_dataset_name_and_digest_together():
    """Metric with only one of dataset_name/dataset_digest is rejected, as in MLflow."""
    with pytest.raises(MlflowException) as ei:
        Metric("a", 1.0, 1, 0, dataset_name="train")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Both dataset_name and dataset_digest must be provided" in ei.value.message


@pytest.mark.parametrize("cls", [Param, RunTag, ExperimentTag])
def test_key_value_entities_dictionary_round_trip(cls):
    """Param, RunTag and ExperimentTag expose key/value and round-trip through dictionaries."""
    e = cls("k", "v")
    assert (e.key, e.value) == ("k", "v")
    assert e.to_dictionary() == {"key": "k", "value": "v"}
    assert cls.from_dictionary({"key": "k", "value": "v"}) == e


def test_entities_convert_with_dict_like_mlflow():
    """dict(entity) gives the property mapping, as with MLflow entities."""
    assert dict(Param("k", "v")) == {"key": "k", "value": "v"}
    assert set(dict(_info())) == MLFLOW_RUN_INFO_KEYS


# -- RunInfo / RunData / RunInputs / Run / Experiment


def test_run_info_fields_and_run_uuid_alias():
    """RunInfo keeps MLflow's fields; status is a string and run_uuid aliases run_id."""
    info = _info()
    assert info.run_id == RUN_ID and info.run_uuid == RUN_ID
    assert info.status == "RUNNING" and isinstance(info.status, str)
    assert info.end_time is None and info.experiment_id == "0"


def test_run_info_to_dictionary_covers_mlflow_properties():
    """RunInfo.to_dictionary holds every MLflow RunInfo property with the right values."""
    d = _info(status="FINISHED", end_time=2000).to_dictionary()
    assert MLFLOW_RUN_INFO_KEYS <= set(d)
    assert d["status"] == "FINISHED" and d["end_time"] == 2000 and d["run_id"] == RUN_ID


def test_run_data_from_entity_lists_last_metric_wins():
    """RunData built from entity lists maps keys to values; for repeated metric keys the last wins."""
    data = RunData(
        metrics=[Metric("a", 1.0, 1, 0), Metric("b", 5.0, 1, 0), Metric("a", 2.0, 2, 1)],
        params=[Param("lr", "0.1")],
        tags=[RunTag("t", "x"), RunTag("u", "y")],
    )
    assert data.metrics == {"a": 2.0, "b": 5.0}
    assert data.params == {"lr": "0.1"}
    assert data.tags == {"t": "x", "u": "y"}


def test_run_data_accepts_dicts_and_defaults_to_empty():
    """RunData takes {key: value} dicts as-is and defaults every mapping to empty."""
    assert RunData().to_dictionary() == {"metrics": {}, "params": {}, "tags": {}}
    data = RunData(metrics={"a": 1.0}, params={"p": "1"}, tags={"t": "x"})
    assert data.to_dictionary() == {"metrics": {"a": 1.0}, "params": {"p": "1"}, "tags": {"t": "x"}}


def test_run_data_to_dictionary_returns_copies():
    """RunData.to_dictionary returns new dicts; mutating them does not change the entity."""
    data = RunData(metrics={"a": 1.0})
    d = data.to_dictionary()
    d["metrics"]["a"] = 99.0
    assert data.metrics == {"a": 1.0}


def test_run_to_dictionary_nests_info_data_inputs():
    """Run.to_dictionary nests the info, data and inputs dictionaries."""
    run = Run(info=_info(), data=RunData(params={"p": "1"}))
    d = run.to_dictionary()
    assert d["info"] == run.info.to_dictionary()
    assert d["data"] == {"metrics": {}, "params": {"p": "1"}, "tags": {}}
    assert d["inputs"] == {"dataset_inputs": [], "model_inputs": []}
    assert RunInputs().to_dictionary() == {"dataset_inputs": [], "model_inputs": []}


@pytest.mark.parametrize(
    "entity",
    [
        Metric("a", 1.5, 1, 2),
        Param("p", "1"),
        RunTag("t", "x"),
        _info(),
        RunData(metrics={"a": 1.5}, params={"p": "1"}, tags={"t": "x"}),
        Experiment("1", "e", "/a/1", "active", tags={"k": "v"}),
    ],
    ids=lambda e: type(e).__name__,
)
def test_entities_round_trip_through_msgspec(entity):
    """Entities encode to JSON and decode back (typed) to an equal entity (they are msgspec Structs)."""
    assert msgspec.json.decode(msgspec.json.encode(entity), type=type(entity)) == entity


def test_run_round_trips_through_msgspec():
    """A Run (with RunInputs) encodes to JSON and decodes back, typed, to an equal Run."""
    run = Run(info=_info(), data=RunData(metrics={"a": 1.5}, params={"p": "1"}, tags={"t": "x"}))
    assert msgspec.json.decode(msgspec.json.encode(run), type=Run) == run


def test_experiment_fields_and_to_dictionary():
    """Experiment holds MLflow's fields; tags default to an empty dict; to_dictionary mirrors them."""
    exp = Experiment("3", "exp", "/art/3", "active", creation_time=1, last_update_time=2)
    assert exp.tags == {}
    assert exp.to_dictionary() == {
        "experiment_id": "3",
        "name": "exp",
        "artifact_location": "/art/3",
        "lifecycle_stage": "active",
        "tags": {},
        "creation_time": 1,
        "last_update_time": 2,
    }


# -- RunStatus


def test_run_status_integer_values():
    """RunStatus constants have MLflow's integer values."""
    assert (RunStatus.RUNNING, RunStatus.SCHEDULED, RunStatus.FINISHED) == (1, 2, 3)
    assert (RunStatus.FAILED, RunStatus.KILLED) == (4, 5)
    assert RunStatus.all_status() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("name", ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"])
def test_run_status_string_round_trip(name):
    """RunStatus.from_string and to_string are inverse for every status."""
    assert RunStatus.to_string(RunStatus.from_string(name)) == name


@pytest.mark.parametrize("bad", ["running", "DONE", "", None])
def test_run_status_from_string_rejects_unknown(bad):
    """RunStatus.from_string rejects unknown names with MLflow's message listing valid strings."""
    with pytest.raises(Exception) as ei:
        RunStatus.from_string(bad)
    assert str(ei.value) == (
        f"Could not get run status corresponding to string {bad}. Valid run status strings: "
        "['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']"
    )
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


def test_run_status_to_string_rejects_unknown():
    """RunStatus.to_string rejects an unknown int, naming it."""
    with pytest.raises(MlflowException) as ei:
        RunStatus.to_string(9)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "run status 9." in ei.value.message


def test_run_status_to_string_error_matches_mlflow():
    """RunStatus.to_string's error text is MLflow's."""
    with pytest.raises(MlflowException) as ei:
        RunStatus.to_string(9)
    assert ei.value.message == (
        "Could not get string corresponding to run status 9. Valid run statuses: [1, 2, 3, 4, 5]"
    )


@pytest.mark.parametrize(
    ("status", "terminated"),
    [(1, False), (2, False), (3, True), (4, True), (5, True), ("RUNNING", False), ("KILLED", True)],
)
def test_run_status_is_terminated(status, terminated):
    """is_terminated is true exactly for FINISHED, FAILED and KILLED (ints or names)."""
    assert RunStatus.is_terminated(status) is terminated


# -- ViewType / LifecycleStage


@pytest.mark.parametrize(("text", "value"), [("active_only", 1), ("deleted_only", 2), ("all", 3)])
def test_view_type_round_trip(text, value):
    """ViewType maps MLflow's strings to 1/2/3 and back."""
    assert ViewType.from_string(text) == value
    assert ViewType.to_string(value) == text


def test_view_type_from_string_rejects_unknown():
    """ViewType.from_string rejects an unknown string with MLflow's message."""
    with pytest.raises(MlflowException) as ei:
        ViewType.from_string("everything")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert ei.value.message == (
        "Could not get valid view type corresponding to string everything. "
        "Valid view types are ['active_only', 'deleted_only', 'all']"
    )


def test_view_type_to_string_rejects_unknown():
    """ViewType.to_string rejects an unknown int, naming it."""
    with pytest.raises(MlflowException) as ei:
        ViewType.to_string(9)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "corresponding to 9." in ei.value.message


@pytest.mark.parametrize(
    ("view", "stages"),
    [
        (ViewType.ACTIVE_ONLY, ["active"]),
        (ViewType.DELETED_ONLY, ["deleted"]),
        (ViewType.ALL, ["active", "deleted"]),
    ],
)
def test_lifecycle_view_type_to_stages(view, stages):
    """view_type_to_stages lists the lifecycle stages a view type covers."""
    assert LifecycleStage.view_type_to_stages(view) == stages


def test_lifecycle_is_valid_and_matches_view_type():
    """is_valid accepts only active/deleted; matches_view_type filters stages by view type."""
    assert LifecycleStage.is_valid("active") and LifecycleStage.is_valid("deleted")
    assert not LifecycleStage.is_valid("archived")
    assert LifecycleStage.matches_view_type(ViewType.ACTIVE_ONLY, "active")
    assert not LifecycleStage.matches_view_type(ViewType.ACTIVE_ONLY, "deleted")
    assert LifecycleStage.matches_view_type(ViewType.ALL, "deleted")


def test_lifecycle_matches_view_type_rejects_bad_stage():
    """matches_view_type rejects an unknown stage, naming it."""
    with pytest.raises(MlflowException) as ei:
        LifecycleStage.matches_view_type(ViewType.ALL, "archived")
    assert ei.value.message == "Invalid lifecycle stage 'archived'"
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


def test_lifecycle_matches_view_type_rejects_bad_view_type():
    """matches_view_type rejects an unknown view type, naming it."""
    with pytest.raises(MlflowException) as ei:
        LifecycleStage.matches_view_type(99, "active")
    assert "Invalid view type '99'" in ei.value.message


# -- MlflowException


def test_mlflow_exception_defaults():
    """MlflowException defaults to INTERNAL_ERROR; str() and .message are the message."""
    e = MlflowException("boom")
    assert e.error_code == "INTERNAL_ERROR"
    assert str(e) == "boom" and e.message == "boom"
    assert e.json_kwargs == {}
    assert isinstance(e, Exception)


def test_mlflow_exception_stringifies_message():
    """A non-string message is stored as its str()."""
    assert MlflowException(42).message == "42"


def test_mlflow_exception_error_code_strings():
    """The module's error codes are their own names, and error_code keeps the string given."""
    for name in (
        "INTERNAL_ERROR",
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_ALREADY_EXISTS",
        "TEMPORARILY_UNAVAILABLE",
        "BAD_REQUEST",
        "INVALID_STATE",
        "RESOURCE_EXHAUSTED",
    ):
        assert getattr(exceptions, name) == name
        assert MlflowException("m", error_code=name).error_code == name


def test_invalid_parameter_value_classmethod():
    """MlflowException.invalid_parameter_value builds an INVALID_PARAMETER_VALUE error with kwargs."""
    e = MlflowException.invalid_parameter_value("bad", field="x")
    assert e.error_code == "INVALID_PARAMETER_VALUE" and e.message == "bad"
    assert e.json_kwargs == {"field": "x"}


def test_serialize_as_json_includes_code_message_and_kwargs():
    """serialize_as_json is MLflow's REST error body: error_code, message, then the extra kwargs."""
    e = MlflowException("bad", error_code="INVALID_PARAMETER_VALUE", foo=1)
    body = json.loads(e.serialize_as_json())
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["message"] == "bad"
    assert body["foo"] == 1


def test_serialize_as_json_has_sqlstate_and_error_class():
    """serialize_as_json carries MLflow 3.x's sqlstate and error_class."""
    body = json.loads(MlflowException("bad", error_code="INVALID_PARAMETER_VALUE").serialize_as_json())
    assert body["sqlstate"] == "KAM00" and body["error_class"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("INTERNAL_ERROR", 500),
        ("TEMPORARILY_UNAVAILABLE", 503),
        ("BAD_REQUEST", 400),
        ("INVALID_PARAMETER_VALUE", 400),
        ("RESOURCE_DOES_NOT_EXIST", 404),
        ("RESOURCE_ALREADY_EXISTS", 400),
        ("RESOURCE_EXHAUSTED", 429),
        ("SOMETHING_UNKNOWN", 500),
    ],
)
def test_http_status_codes(code, status):
    """get_http_status_code maps error codes to MLflow's HTTP statuses (500 for unknown codes)."""
    assert get_http_status_code(code) == status
    assert MlflowException("m", error_code=code).get_http_status_code() == status


def test_http_status_of_invalid_state_is_500():
    """INVALID_STATE maps to HTTP 500, as in MLflow's ERROR_CODE_TO_HTTP_STATUS."""
    assert get_http_status_code("INVALID_STATE") == 500


def test_http_status_of_other_mlflow_codes():
    """Every code in MLflow's ERROR_CODE_TO_HTTP_STATUS maps to the same HTTP status."""
    mlflow_table = {
        "ABORTED": 409,
        "ALREADY_EXISTS": 409,
        "CANCELLED": 499,
        "CUSTOMER_UNAUTHORIZED": 401,
        "DATA_LOSS": 500,
        "DEADLINE_EXCEEDED": 504,
        "ENDPOINT_NOT_FOUND": 404,
        "NOT_FOUND": 404,
        "NOT_IMPLEMENTED": 501,
        "PERMISSION_DENIED": 403,
        "REQUEST_LIMIT_EXCEEDED": 429,
        "RESOURCE_CONFLICT": 409,
        "UNAUTHENTICATED": 401,
    }
    assert {code: get_http_status_code(code) for code in mlflow_table} == mlflow_table


def test_mlflow_exception_pickle_round_trip():
    """A pickled MlflowException comes back with the same type, message and error_code."""
    e = MlflowException("Run with id=x not found", error_code="RESOURCE_DOES_NOT_EXIST")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is MlflowException
    assert back.message == e.message and str(back) == str(e)
    assert back.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_mlflow_exception_pickle_keeps_kwargs():
    """Pickling keeps the extra JSON fields of an MlflowException."""
    e = MlflowException("bad", error_code="INVALID_PARAMETER_VALUE", foo=1)
    assert pickle.loads(pickle.dumps(e)).json_kwargs == {"foo": 1}


def test_store_unavailable_pickle_round_trip():
    """StoreUnavailable (a transient MlflowException) survives pickling with its code."""
    back = pickle.loads(pickle.dumps(StoreUnavailable("database is busy")))
    assert type(back) is StoreUnavailable
    assert back.error_code == "TEMPORARILY_UNAVAILABLE" and back.message == "database is busy"
