"""MLflow's tracking entities as msgspec Structs (cheap to build, encode and compare)."""

from __future__ import annotations

from asynctrack.entities._dataset import Dataset, DatasetInput, DatasetSummary, InputTag
from asynctrack.entities._enums import LifecycleStage, RunStatus, ViewType
from asynctrack.entities._experiment import Experiment
from asynctrack.entities._logged_model import (
    LoggedModel,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
)
from asynctrack.entities._registry import (
    ModelVersion,
    ModelVersionStatus,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from asynctrack.entities._run import (
    LoggedModelInput,
    LoggedModelOutput,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from asynctrack.entities._values import ExperimentTag, Metric, Param, RunTag

__all__ = [
    "Dataset",
    "DatasetInput",
    "DatasetSummary",
    "InputTag",
    "Experiment",
    "ExperimentTag",
    "LifecycleStage",
    "LoggedModel",
    "LoggedModelInput",
    "LoggedModelOutput",
    "LoggedModelParameter",
    "LoggedModelStatus",
    "LoggedModelTag",
    "Metric",
    "ModelVersion",
    "ModelVersionStatus",
    "ModelVersionTag",
    "Param",
    "RegisteredModel",
    "RegisteredModelAlias",
    "RegisteredModelTag",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunStatus",
    "RunTag",
    "ViewType",
]
