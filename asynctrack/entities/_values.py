"""Key/value entities: Metric, Param, RunTag, ExperimentTag."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["ExperimentTag", "Metric", "Param", "RunTag"]


class Metric(msgspec.Struct, frozen=True, gc=False):
    """One point of a metric's history: ``Metric(key, value, timestamp, step)``.

    ``timestamp`` is milliseconds since the epoch, ``step`` an integer (0 when not given).
    """

    # gc=False: a Metric holds only strings, numbers and None, so it can be in no reference cycle, and a
    # history of a million of them no longer sets off the garbage collector's passes over every one
    # (measured: a quarter of get_metric_history's time for 1,000,000 points).

    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        if (self.dataset_name is None) != (self.dataset_digest is None):
            raise MlflowException(
                "Both dataset_name and dataset_digest must be provided if one is provided",
                error_code=INVALID_PARAMETER_VALUE,
            )

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(sorted(self.to_dictionary().items()))

    def to_dictionary(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "timestamp": self.timestamp,
            "step": self.step,
            "model_id": self.model_id,
            "dataset_name": self.dataset_name,
            "dataset_digest": self.dataset_digest,
            "run_id": self.run_id,
        }

    @classmethod
    def from_dictionary(cls, d: dict[str, Any]) -> Metric:
        return cls(**{k: v for k, v in d.items() if k in cls.__struct_fields__})


class _KeyValue(msgspec.Struct, frozen=True):
    key: str
    value: str

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter((("key", self.key), ("value", self.value)))

    def to_dictionary(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}

    @classmethod
    def from_dictionary(cls, d: dict[str, Any]) -> Any:
        return cls(d["key"], d["value"])


class Param(_KeyValue, frozen=True):
    """A run parameter: ``Param(key, value)``; the value is always a string."""


class RunTag(_KeyValue, frozen=True):
    """A run tag: ``RunTag(key, value)``."""


class ExperimentTag(_KeyValue, frozen=True):
    """An experiment tag: ``ExperimentTag(key, value)``."""
