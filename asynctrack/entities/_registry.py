"""Model registry entities: RegisteredModel, ModelVersion, their tags and aliases, and MLflow's stages.

Field names and meanings are MLflow's (``mlflow.entities.model_registry``): times are epoch milliseconds,
``version`` is a string on the entity (an integer in the store), ``tags`` are ``{key: value}`` dicts and
``aliases`` are lists, as MLflow's entities expose them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "ALL_STAGES",
    "ACTIVE_STAGES",
    "STAGE_ARCHIVED",
    "STAGE_NONE",
    "STAGE_PRODUCTION",
    "STAGE_STAGING",
    "ModelVersion",
    "ModelVersionStatus",
    "ModelVersionTag",
    "RegisteredModel",
    "RegisteredModelAlias",
    "RegisteredModelTag",
    "canonical_stage",
]

STAGE_NONE = "None"
STAGE_STAGING = "Staging"
STAGE_PRODUCTION = "Production"
STAGE_ARCHIVED = "Archived"
ALL_STAGES = (STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED)
#: The stages ``archive_existing_versions`` applies to (MLflow's DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS).
ACTIVE_STAGES = (STAGE_STAGING, STAGE_PRODUCTION)
_CANONICAL = {s.lower(): s for s in ALL_STAGES}


def canonical_stage(stage: str) -> str:
    """A stage name in MLflow's spelling (case-insensitive input), or MLflow's error."""
    found = _CANONICAL.get(stage.lower()) if isinstance(stage, str) else None
    if found is None:
        raise MlflowException(
            f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(ALL_STAGES)}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return found


class ModelVersionStatus:
    """MLflow's ModelVersionStatus names (a version is READY as soon as it is created)."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


class RegisteredModelTag(msgspec.Struct, frozen=True):
    key: str
    value: str


class ModelVersionTag(msgspec.Struct, frozen=True):
    key: str
    value: str


class RegisteredModelAlias(msgspec.Struct, frozen=True):
    """An alias of a registered model: ``alias`` points at ``version``."""

    alias: str
    version: str


class ModelVersion(msgspec.Struct):
    """One version of a registered model."""

    name: str
    version: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: str = STAGE_NONE
    source: str | None = None
    run_id: str | None = None
    status: str = ModelVersionStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    run_link: str | None = None
    aliases: list[str] = msgspec.field(default_factory=list)
    model_id: str | None = None

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(sorted(self.to_dictionary().items()))

    def to_dictionary(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__struct_fields__}


class RegisteredModel(msgspec.Struct):
    """A registered model: its name, description, tags, aliases and latest version per stage."""

    name: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    latest_versions: list[ModelVersion] = msgspec.field(default_factory=list)
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    aliases: dict[str, str] = msgspec.field(default_factory=dict)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(sorted(self.to_dictionary().items()))

    def to_dictionary(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__struct_fields__}
