"""The Experiment entity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

__all__ = ["Experiment"]


class Experiment(msgspec.Struct):
    """An experiment: a named group of runs. ``tags`` is a ``{key: value}`` dict."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """``dict(experiment)``, as in MLflow: properties in sorted order."""
        return iter(sorted(self.to_dictionary().items()))

    def to_dictionary(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": self.lifecycle_stage,
            "tags": dict(self.tags),
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
        }
