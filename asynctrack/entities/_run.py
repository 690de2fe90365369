"""Run entities: RunInfo, RunData, RunInputs, RunOutputs, Run, and the logged-model links of a run
(LoggedModelInput, LoggedModelOutput: MLflow 3's ``log_inputs(models=...)`` and ``log_outputs``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import msgspec

from asynctrack.entities._dataset import DatasetInput
from asynctrack.entities._values import Metric, Param, RunTag

__all__ = ["LoggedModelInput", "LoggedModelOutput", "Run", "RunData", "RunInfo", "RunInputs", "RunOutputs"]


class RunInfo(msgspec.Struct):
    """A run's metadata. ``run_id`` and ``run_uuid`` name the same id."""

    run_id: str
    experiment_id: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str | None = None
    run_name: str | None = None

    @property
    def run_uuid(self) -> str:
        return self.run_id

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """``dict(run.info)``, as in MLflow: properties in sorted order."""
        return iter(sorted(self.to_dictionary().items()))

    def to_dictionary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "user_id": self.user_id,
            "status": self.status,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "lifecycle_stage": self.lifecycle_stage,
            "artifact_uri": self.artifact_uri,
            "run_name": self.run_name,
        }


class RunData(msgspec.Struct, dict=True):
    """A run's latest metric values, params and tags, each a ``{key: value}`` dict as in MLflow.

    Like MLflow's, the constructor also takes lists of ``Metric``/``Param``/``RunTag`` entities.
    :meth:`metric_objects` gives the latest metrics as ``Metric`` entities with their timestamp and step
    (MLflow's ``_metric_objs``), which the REST API sends; stores attach them without building a
    ``Metric`` per value until someone asks.
    """

    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    params: dict[str, str] = msgspec.field(default_factory=dict)
    tags: dict[str, str] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        # Accept MLflow's entity lists: RunData(metrics=[Metric(...)], params=[Param(...)], ...).
        if not isinstance(self.metrics, dict):
            objs = cast(list[Metric], self.metrics)
            self.metrics = {m.key: m.value for m in objs}
            self.__dict__["_metric_objs"] = list(objs)
        if not isinstance(self.params, dict):
            self.params = {p.key: p.value for p in cast(list[Param], self.params)}
        if not isinstance(self.tags, dict):
            self.tags = {t.key: t.value for t in cast(list[RunTag], self.tags)}

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(sorted(self.to_dictionary().items()))

    def attach_latest(self, rows: list[tuple[str, float, int, int]]) -> RunData:
        """Record the latest metrics' ``(key, value, timestamp, step)`` rows, for :meth:`metric_objects`."""
        self.__dict__["_latest"] = rows
        return self

    def metric_objects(self) -> list[Metric]:
        """The latest value of each metric as a ``Metric`` (timestamp and step 0 when not known)."""
        extra = self.__dict__
        objs: list[Metric] | None = extra.get("_metric_objs")
        if objs is not None:
            return list(objs)
        rows: list[tuple[str, float, int, int]] | None = extra.get("_latest")
        if rows is not None:
            return [Metric(k, v, ts, step) for k, v, ts, step in rows]
        return [Metric(k, v, 0, 0) for k, v in self.metrics.items()]

    def to_dictionary(self) -> dict[str, Any]:
        return {"metrics": dict(self.metrics), "params": dict(self.params), "tags": dict(self.tags)}


class LoggedModelInput(msgspec.Struct, frozen=True):
    """A logged model a run used (``models:/<model_id>`` as an input, e.g. a model it evaluated)."""

    model_id: str


class LoggedModelOutput(msgspec.Struct, frozen=True):
    """A logged model a run produced, at ``step`` (MLflow's ``log_model`` records one per model)."""

    model_id: str
    step: int = 0

    def to_dictionary(self) -> dict[str, str | int]:
        return {"model_id": self.model_id, "step": self.step}


class RunInputs(msgspec.Struct):
    """Datasets (``DatasetInput``, with their input tags) and logged models (``LoggedModelInput``) a run
    consumed."""

    dataset_inputs: list[DatasetInput] = msgspec.field(default_factory=list)
    model_inputs: list[LoggedModelInput] = msgspec.field(default_factory=list)

    def to_dictionary(self) -> dict[str, Any]:
        # MLflow's: the model inputs as the entities themselves.
        return {
            "dataset_inputs": [d.to_dictionary() for d in self.dataset_inputs],
            "model_inputs": list(self.model_inputs),
        }


class RunOutputs(msgspec.Struct):
    """Logged models a run produced (``LoggedModelOutput``, each with its step)."""

    model_outputs: list[LoggedModelOutput] = msgspec.field(default_factory=list)

    def to_dictionary(self) -> dict[str, Any]:
        return {"model_outputs": [m.to_dictionary() for m in self.model_outputs]}


class Run(msgspec.Struct):
    """A run: ``run.info`` (RunInfo), ``run.data`` (RunData), ``run.inputs`` (RunInputs), ``run.outputs``
    (RunOutputs)."""

    info: RunInfo
    data: RunData = msgspec.field(default_factory=RunData)
    inputs: RunInputs = msgspec.field(default_factory=RunInputs)
    outputs: RunOutputs = msgspec.field(default_factory=RunOutputs)

    def to_dictionary(self) -> dict[str, Any]:
        return {
            "info": self.info.to_dictionary(),
            "data": self.data.to_dictionary(),
            "inputs": self.inputs.to_dictionary(),
            "outputs": self.outputs.to_dictionary(),
        }
