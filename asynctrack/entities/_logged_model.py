"""MLflow 3's logged models: :class:`LoggedModel`, its status, tags and params.

Field names and meanings are MLflow's (``mlflow.entities.LoggedModel``): ``model_id`` is ``m-`` and 32 hex
digits, times are epoch milliseconds, ``tags`` and ``params`` are ``{key: value}`` dicts, ``metrics`` is the
list of every metric point linked to the model (``log_metric(..., model_id=...)``) or None when there is
none, and ``model_uri`` is ``models:/<model_id>``. On the wire (``LoggedModelStatus`` in MLflow's
protos) the status is ``LOGGED_MODEL_PENDING``, ``LOGGED_MODEL_READY`` or ``LOGGED_MODEL_UPLOAD_FAILED``;
the store keeps MLflow's integer (0-3).
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from asynctrack.entities._values import Metric
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["LoggedModel", "LoggedModelParameter", "LoggedModelStatus", "LoggedModelTag"]


class LoggedModelStatus(enum.StrEnum):
    """``PENDING`` until :func:`finalize_logged_model` sets ``READY`` or ``FAILED`` (MLflow's names)."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"

    @staticmethod
    def is_finalized(status: LoggedModelStatus) -> bool:
        return status in (LoggedModelStatus.READY, LoggedModelStatus.FAILED)

    def to_int(self) -> int:
        return _TO_INT[self]

    @classmethod
    def from_int(cls, status: int) -> LoggedModelStatus:
        for s, i in _TO_INT.items():
            if i == status:
                return s
        raise MlflowException(f"Unknown model status: {status}", error_code=INVALID_PARAMETER_VALUE)

    def to_wire(self) -> str:
        return _TO_WIRE[self]

    @classmethod
    def from_wire(cls, name: str | int) -> LoggedModelStatus:
        """From the proto enum's name (or number, as MLflow's JSON parser accepts either)."""
        if isinstance(name, int) and not isinstance(name, bool):
            return cls.from_int(name)
        for s, w in _TO_WIRE.items():
            if w == name:
                return s
        raise MlflowException(
            f"Invalid value {name!r} for parameter 'status': expected one of {', '.join(_TO_WIRE.values())}",
            error_code=INVALID_PARAMETER_VALUE,
        )


_TO_INT = {
    LoggedModelStatus.UNSPECIFIED: 0,
    LoggedModelStatus.PENDING: 1,
    LoggedModelStatus.READY: 2,
    LoggedModelStatus.FAILED: 3,
}
_TO_WIRE = {
    LoggedModelStatus.UNSPECIFIED: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}


class LoggedModelTag(msgspec.Struct, frozen=True):
    key: str
    value: str


class LoggedModelParameter(msgspec.Struct, frozen=True):
    key: str
    value: str


class LoggedModel(msgspec.Struct, frozen=True):
    """A model logged in an experiment (MLflow 3), with its tags, params and linked metrics."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: LoggedModelStatus = LoggedModelStatus.PENDING
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    params: dict[str, str] = msgspec.field(default_factory=dict)
    metrics: list[Metric] | None = None

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"

    def to_dictionary(self) -> dict[str, Any]:
        """MLflow's ``to_dictionary``: every field, ``status`` as its integer, no ``model_uri``."""
        out: dict[str, Any] = {f: getattr(self, f) for f in self.__struct_fields__}
        out["status"] = self.status.to_int()
        return out
