"""The model registry's REST messages (MLflow's ``model_registry.proto``) as msgspec Structs, and the
conversion of its entities to and from their JSON form. Shared by the server and the REST store.

As in ``_messages.py``, every request field is optional so the handler reports a missing one with
MLflow's message; int64 fields (timestamps, ``max_results``) take JSON numbers or decimal strings.
``version`` is a string field in MLflow's protocol. Absent fields read back as MLflow's client reads
them (``from_proto``): ``""`` for a model's description and a version's user, source and run link, None
for a version's description and run id.
"""

from __future__ import annotations

import msgspec

from asynctrack._rest._wire import KeyValueJ
from asynctrack.entities import ModelVersion, RegisteredModel

__all__ = [
    "AliasJ",
    "CreateModelVersion",
    "CreateRegisteredModel",
    "DownloadUriResponse",
    "GetLatestVersions",
    "ModelAlias",
    "ModelName",
    "ModelVersionJ",
    "ModelVersionRef",
    "ModelVersionResponse",
    "ModelVersionsResponse",
    "ModelVersionTagKey",
    "RegisteredModelJ",
    "RegisteredModelResponse",
    "RenameRegisteredModel",
    "SearchModelVersionsResponse",
    "SearchRegistry",
    "SearchRegisteredModelsResponse",
    "SetModelVersionTag",
    "SetRegisteredModelAlias",
    "SetRegisteredModelTag",
    "TransitionStage",
    "UpdateModelVersion",
    "UpdateRegisteredModel",
    "model_version_from_wire",
    "model_version_to_wire",
    "registered_model_from_wire",
    "registered_model_to_wire",
]


class _Msg(msgspec.Struct, omit_defaults=True):
    pass


class AliasJ(_Msg):
    alias: str | None = None
    version: str | None = None


class ModelVersionJ(_Msg):
    name: str | None = None
    version: str | None = None
    creation_timestamp: int | str | None = None
    last_updated_timestamp: int | str | None = None
    user_id: str | None = None
    current_stage: str | None = None
    description: str | None = None
    source: str | None = None
    run_id: str | None = None
    status: str | None = None
    status_message: str | None = None
    tags: list[KeyValueJ] | None = None
    run_link: str | None = None
    aliases: list[str] | None = None
    model_id: str | None = None


class RegisteredModelJ(_Msg):
    name: str | None = None
    creation_timestamp: int | str | None = None
    last_updated_timestamp: int | str | None = None
    user_id: str | None = None
    description: str | None = None
    latest_versions: list[ModelVersionJ] | None = None
    tags: list[KeyValueJ] | None = None
    aliases: list[AliasJ] | None = None


def _int(value: int | str | None) -> int | None:
    return None if value is None else int(value)


def model_version_to_wire(mv: ModelVersion) -> ModelVersionJ:
    return ModelVersionJ(
        name=mv.name,
        version=mv.version,
        creation_timestamp=mv.creation_timestamp,
        last_updated_timestamp=mv.last_updated_timestamp,
        user_id=mv.user_id,
        current_stage=mv.current_stage,
        description=mv.description,
        source=mv.source,
        run_id=mv.run_id,
        status=mv.status,
        status_message=mv.status_message,
        tags=[KeyValueJ(k, v) for k, v in mv.tags.items()] or None,
        run_link=mv.run_link,
        aliases=list(mv.aliases) or None,
        model_id=mv.model_id,
    )


def model_version_from_wire(j: ModelVersionJ) -> ModelVersion:
    return ModelVersion(
        name=j.name or "",
        version=j.version or "",
        creation_timestamp=_int(j.creation_timestamp),
        last_updated_timestamp=_int(j.last_updated_timestamp),
        description=j.description,
        user_id=j.user_id or "",  # as MLflow's client reads them: "" when absent
        current_stage=j.current_stage or "None",
        source=j.source or "",
        run_id=j.run_id,
        status=j.status or "READY",
        status_message=j.status_message,
        tags={t.key or "": t.value or "" for t in j.tags or ()},
        run_link=j.run_link or "",
        aliases=list(j.aliases or ()),
        model_id=j.model_id,
    )


def registered_model_to_wire(rm: RegisteredModel) -> RegisteredModelJ:
    return RegisteredModelJ(
        name=rm.name,
        creation_timestamp=rm.creation_timestamp,
        last_updated_timestamp=rm.last_updated_timestamp,
        description=rm.description,
        latest_versions=[model_version_to_wire(v) for v in rm.latest_versions] or None,
        tags=[KeyValueJ(k, v) for k, v in rm.tags.items()] or None,
        aliases=[AliasJ(a, v) for a, v in rm.aliases.items()] or None,
    )


def registered_model_from_wire(j: RegisteredModelJ) -> RegisteredModel:
    return RegisteredModel(
        name=j.name or "",
        creation_timestamp=_int(j.creation_timestamp),
        last_updated_timestamp=_int(j.last_updated_timestamp),
        description=j.description or "",  # MLflow's client reads the proto default
        latest_versions=[model_version_from_wire(v) for v in j.latest_versions or ()],
        tags={t.key or "": t.value or "" for t in j.tags or ()},
        aliases={a.alias or "": a.version or "" for a in j.aliases or ()},
    )


# -- requests


class CreateRegisteredModel(_Msg):
    name: str | None = None
    tags: list[KeyValueJ] | None = None
    description: str | None = None
    deployment_job_id: str | None = None


class ModelName(_Msg):
    """registered-models/get and /delete."""

    name: str | None = None


class RenameRegisteredModel(_Msg):
    name: str | None = None
    new_name: str | None = None


class UpdateRegisteredModel(_Msg):
    name: str | None = None
    description: str | None = None
    deployment_job_id: str | None = None


class SetRegisteredModelTag(_Msg):
    name: str | None = None
    key: str | None = None
    value: str | None = None


class SearchRegistry(_Msg):
    """registered-models/search and model-versions/search."""

    filter: str | None = None
    max_results: int | str | None = None
    order_by: list[str] | None = None
    page_token: str | None = None


class GetLatestVersions(_Msg):
    name: str | None = None
    stages: list[str] | None = None


class CreateModelVersion(_Msg):
    name: str | None = None
    source: str | None = None
    run_id: str | None = None
    tags: list[KeyValueJ] | None = None
    run_link: str | None = None
    description: str | None = None
    model_id: str | None = None


class ModelVersionRef(_Msg):
    """model-versions/get, /delete and /get-download-uri."""

    name: str | None = None
    version: str | None = None


class UpdateModelVersion(_Msg):
    name: str | None = None
    version: str | None = None
    description: str | None = None


class TransitionStage(_Msg):
    name: str | None = None
    version: str | None = None
    stage: str | None = None
    archive_existing_versions: bool | None = None


class SetModelVersionTag(_Msg):
    name: str | None = None
    version: str | None = None
    key: str | None = None
    value: str | None = None


class ModelVersionTagKey(_Msg):
    """model-versions/delete-tag (and registered-models/delete-tag, without ``version``)."""

    name: str | None = None
    version: str | None = None
    key: str | None = None


class SetRegisteredModelAlias(_Msg):
    name: str | None = None
    alias: str | None = None
    version: str | None = None


class ModelAlias(_Msg):
    """registered-models/alias DELETE and GET."""

    name: str | None = None
    alias: str | None = None


# -- responses


class RegisteredModelResponse(_Msg):
    registered_model: RegisteredModelJ | None = None


class SearchRegisteredModelsResponse(_Msg):
    registered_models: list[RegisteredModelJ] | None = None
    next_page_token: str | None = None


class ModelVersionResponse(_Msg):
    model_version: ModelVersionJ | None = None


class ModelVersionsResponse(_Msg):
    """registered-models/get-latest-versions."""

    model_versions: list[ModelVersionJ] | None = None


class SearchModelVersionsResponse(_Msg):
    model_versions: list[ModelVersionJ] | None = None
    next_page_token: str | None = None


class DownloadUriResponse(_Msg):
    artifact_uri: str | None = None
