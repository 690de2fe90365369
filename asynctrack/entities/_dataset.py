"""Dataset inputs of a run, as MLflow's entities: Dataset, InputTag, DatasetInput, and DatasetSummary."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Dataset", "DatasetInput", "DatasetSummary", "InputTag"]


class Dataset(msgspec.Struct):
    """A dataset's identity and description: ``name`` and ``digest`` identify it within an experiment;
    ``source_type``/``source`` say where it came from (``source`` a JSON string); ``schema`` and ``profile``
    are JSON strings or None."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def to_dictionary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "digest": self.digest,
            "source_type": self.source_type,
            "source": self.source,
            "schema": self.schema,
            "profile": self.profile,
        }


class InputTag(msgspec.Struct):
    key: str
    value: str


class DatasetInput(msgspec.Struct):
    """A dataset a run consumed, with the tags of that use (its context, for one)."""

    dataset: Dataset
    tags: list[InputTag] = msgspec.field(default_factory=list)

    def to_dictionary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset.to_dictionary(),
            "tags": [{"key": t.key, "value": t.value} for t in self.tags],
        }


class DatasetSummary(msgspec.Struct, frozen=True):
    """One (experiment, dataset name, digest, context) of the experiment's logged inputs."""

    experiment_id: str
    name: str
    digest: str
    context: str | None = None
