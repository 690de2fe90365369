"""MLflow's REST entities as msgspec Structs, and their conversion to and from asynctrack's entities.

The JSON shapes are those of MLflow's ``service.proto`` as MLflow's ``message_to_json`` writes them: snake
case field names, int64 fields as JSON numbers (strings accepted on input, as protobuf's JSON mapping
allows), non-finite doubles as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, and unset
fields left out. Shared by the REST store (client side) and the tracking server, so both speak exactly
the same dialect.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import msgspec

from asynctrack.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "DatasetInputJ",
    "DatasetJ",
    "ExperimentJ",
    "KeyValueJ",
    "MetricJ",
    "ModelInputJ",
    "ModelOutputJ",
    "RunDataJ",
    "RunInfoJ",
    "RunInputsJ",
    "RunOutputsJ",
    "RunJ",
    "dataset_input_from_wire",
    "model_output_from_wire",
    "dataset_input_to_wire",
    "experiment_from_wire",
    "experiment_to_wire",
    "float_from_wire",
    "float_to_wire",
    "int_from_wire",
    "metric_from_wire",
    "metric_to_wire",
    "run_from_wire",
    "run_info_from_wire",
    "run_info_to_wire",
    "run_to_wire",
    "wrong_type",
]

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class KeyValueJ(msgspec.Struct, omit_defaults=True):
    """Param, RunTag, ExperimentTag and InputTag: ``{"key": ..., "value": ...}``."""

    key: str | None = None
    value: str | None = None


class MetricJ(msgspec.Struct, omit_defaults=True):
    key: str | None = None
    value: float | str | None = None
    timestamp: int | str | None = None
    step: int | str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: str | None = None
    run_id: str | None = None


class RunInfoJ(msgspec.Struct, omit_defaults=True):
    run_id: str | None = None
    run_uuid: str | None = None
    run_name: str | None = None
    experiment_id: str | None = None
    user_id: str | None = None
    status: str | None = None
    start_time: int | str | None = None
    end_time: int | str | None = None
    artifact_uri: str | None = None
    lifecycle_stage: str | None = None


class RunDataJ(msgspec.Struct, omit_defaults=True):
    metrics: list[MetricJ] | None = None
    params: list[KeyValueJ] | None = None
    tags: list[KeyValueJ] | None = None


class DatasetJ(msgspec.Struct, omit_defaults=True):
    name: str | None = None
    digest: str | None = None
    source_type: str | None = None
    source: str | None = None
    schema: str | None = None
    profile: str | None = None


class DatasetInputJ(msgspec.Struct, omit_defaults=True):
    tags: list[KeyValueJ] | None = None
    dataset: DatasetJ | None = None


class ModelInputJ(msgspec.Struct, omit_defaults=True):
    model_id: str | None = None


class ModelOutputJ(msgspec.Struct, omit_defaults=True):
    model_id: str | None = None
    step: int | str | None = None


class RunInputsJ(msgspec.Struct, omit_defaults=True):
    dataset_inputs: list[DatasetInputJ] | None = None
    model_inputs: list[ModelInputJ] | None = None


class RunOutputsJ(msgspec.Struct, omit_defaults=True):
    model_outputs: list[ModelOutputJ] | None = None


class RunJ(msgspec.Struct, omit_defaults=True):
    info: RunInfoJ | None = None
    data: RunDataJ | None = None
    inputs: RunInputsJ | None = None
    outputs: RunOutputsJ | None = None


class ExperimentJ(msgspec.Struct, omit_defaults=True):
    experiment_id: str | None = None
    name: str | None = None
    artifact_location: str | None = None
    lifecycle_stage: str | None = None
    last_update_time: int | str | None = None
    creation_time: int | str | None = None
    tags: list[KeyValueJ] | None = None


# -- scalars


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def wrong_type(value: object, field: str) -> MlflowException:
    """MLflow's server message for a value of the wrong type, word for word (its ``invalid_value`` with the
    type hint, then the API docs pointer), so clients matching on it see the same text::

        Invalid value "foo" for parameter 'step' supplied:  Hint: Value was of type 'str'. See the API docs
        for more information about request parameters.
    """
    try:
        shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        shown = repr(value)
    return _invalid(
        f"Invalid value {shown} for parameter '{field}' supplied:  Hint: Value was of type "
        f"'{type(value).__name__}'. See the API docs for more information about request parameters."
    )


def float_to_wire(value: float) -> float | str:
    """A double as protobuf's JSON mapping writes it (non-finite values as strings)."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def float_from_wire(value: float | str | None, field: str) -> float:
    """A double from JSON: a number, or one of protobuf's strings (a numeric string is accepted too)."""
    if type(value) is float:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        special = _NON_FINITE.get(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise wrong_type(value, field)


def int_from_wire(value: int | str | None, field: str) -> int:
    """An int64 from JSON: a number or a decimal string (protobuf writes int64 as strings)."""
    if type(value) is int:
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    raise wrong_type(value, field)


def _opt_int(value: int | str | None, field: str) -> int | None:
    return None if value is None else int_from_wire(value, field)


# -- entities


def metric_to_wire(m: Metric) -> MetricJ:
    return MetricJ(
        m.key,
        float_to_wire(m.value),
        m.timestamp,
        m.step,
        m.dataset_name,
        m.dataset_digest,
        m.model_id,
        m.run_id,
    )


def metric_from_wire(j: MetricJ) -> Metric:
    """A Metric from its JSON; a missing key, value or timestamp is INVALID_PARAMETER_VALUE."""
    if j.key is None:
        raise _invalid("Missing value for required parameter 'key'.")
    if j.value is None:
        raise _invalid(f"Missing value for required parameter 'value' (metric {j.key!r}).")
    if j.timestamp is None:
        raise _invalid(f"Missing value for required parameter 'timestamp' (metric {j.key!r}).")
    return Metric(
        j.key,
        float_from_wire(j.value, "value"),
        int_from_wire(j.timestamp, "timestamp"),
        0 if j.step is None else int_from_wire(j.step, "step"),
        j.model_id,
        j.dataset_name,
        j.dataset_digest,
        j.run_id,
    )


def _kv(items: Iterable[tuple[str, str]]) -> list[KeyValueJ] | None:
    out = [KeyValueJ(k, v) for k, v in items]
    return out or None


def run_info_to_wire(info: RunInfo) -> RunInfoJ:
    return RunInfoJ(
        run_id=info.run_id,
        run_uuid=info.run_id,
        run_name=info.run_name,
        experiment_id=info.experiment_id,
        user_id=info.user_id,
        status=info.status,
        start_time=info.start_time,
        end_time=info.end_time,
        artifact_uri=info.artifact_uri,
        lifecycle_stage=info.lifecycle_stage,
    )


def run_info_from_wire(j: RunInfoJ) -> RunInfo:
    run_id = j.run_id or j.run_uuid or ""
    return RunInfo(
        run_id=run_id,
        experiment_id=j.experiment_id or "",
        user_id=j.user_id or "",
        status=j.status or "RUNNING",
        start_time=_opt_int(j.start_time, "start_time"),
        end_time=_opt_int(j.end_time, "end_time"),
        lifecycle_stage=j.lifecycle_stage or "active",
        artifact_uri=j.artifact_uri,
        run_name=j.run_name,
    )


def run_to_wire(run: Run) -> RunJ:
    data = run.data
    objs = data.metric_objects()
    metrics = [metric_to_wire(m) for m in objs] or None
    return RunJ(
        info=run_info_to_wire(run.info),
        data=RunDataJ(metrics, _kv(data.params.items()), _kv(data.tags.items())),
        inputs=RunInputsJ(
            dataset_inputs=[dataset_input_to_wire(d) for d in run.inputs.dataset_inputs] or None,
            model_inputs=[ModelInputJ(m.model_id) for m in run.inputs.model_inputs] or None,
        ),
        outputs=RunOutputsJ(
            model_outputs=[ModelOutputJ(m.model_id, m.step) for m in run.outputs.model_outputs] or None
        ),
    )


def dataset_input_to_wire(d: DatasetInput) -> DatasetInputJ:
    ds = d.dataset
    return DatasetInputJ(
        tags=_kv((t.key, t.value) for t in d.tags),
        dataset=DatasetJ(ds.name, ds.digest, ds.source_type, ds.source, ds.schema, ds.profile),
    )


def dataset_input_from_wire(j: DatasetInputJ) -> DatasetInput:
    """A DatasetInput from its JSON; absent strings become ``""`` (a server's answer is complete; a
    request's required fields are checked by the server before this)."""
    ds = j.dataset or DatasetJ()
    return DatasetInput(
        dataset=Dataset(
            ds.name or "", ds.digest or "", ds.source_type or "", ds.source or "", ds.schema, ds.profile
        ),
        tags=[InputTag(t.key or "", t.value or "") for t in j.tags or ()],
    )


def run_from_wire(j: RunJ) -> Run:
    info = run_info_from_wire(j.info or RunInfoJ())
    d = j.data or RunDataJ()
    metrics = [metric_from_wire(m) for m in d.metrics or ()]
    params = {p.key or "": p.value or "" for p in d.params or ()}
    tags = {t.key or "": t.value or "" for t in d.tags or ()}
    inputs = RunInputs()
    if j.inputs is not None:
        inputs = RunInputs(
            dataset_inputs=[dataset_input_from_wire(d) for d in j.inputs.dataset_inputs or ()],
            model_inputs=[LoggedModelInput(m.model_id or "") for m in j.inputs.model_inputs or ()],
        )
    outputs = RunOutputs()
    if j.outputs is not None:
        outputs = RunOutputs([model_output_from_wire(m) for m in j.outputs.model_outputs or ()])
    data = RunData(metrics={m.key: m.value for m in metrics}, params=params, tags=tags)
    data.attach_latest([(m.key, m.value, m.timestamp, m.step) for m in metrics])
    return Run(info=info, data=data, inputs=inputs, outputs=outputs)


def model_output_from_wire(j: ModelOutputJ) -> LoggedModelOutput:
    """A LoggedModelOutput from its JSON (the step as a number or, as proto3 JSON gives int64, a string)."""
    step = 0 if j.step in (None, "") else int_from_wire(j.step, "step")
    return LoggedModelOutput(j.model_id or "", step)


def experiment_to_wire(e: Experiment) -> ExperimentJ:
    return ExperimentJ(
        experiment_id=e.experiment_id,
        name=e.name,
        artifact_location=e.artifact_location,
        lifecycle_stage=e.lifecycle_stage,
        last_update_time=e.last_update_time,
        creation_time=e.creation_time,
        tags=_kv(e.tags.items()),
    )


def experiment_from_wire(j: ExperimentJ) -> Experiment:
    return Experiment(
        experiment_id=j.experiment_id or "",
        name=j.name or "",
        artifact_location=j.artifact_location or "",
        lifecycle_stage=j.lifecycle_stage or "active",
        tags={t.key or "": t.value or "" for t in j.tags or ()},
        creation_time=_opt_int(j.creation_time, "creation_time"),
        last_update_time=_opt_int(j.last_update_time, "last_update_time"),
    )
