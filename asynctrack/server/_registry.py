"""The model registry's REST endpoints (``/registered-models/*``, ``/model-versions/*``) under both of
MLflow's prefixes, with MLflow's methods (GET, POST, PATCH, DELETE as ``model_registry.proto`` has them),
required fields, checks and messages. The work is the store's
(:class:`~asynctrack.store._registry_protocol.RegistryStore`); a created version's source is checked
first (``_registry_source.py``).

An absent ``description`` is stored as ``""``, as MLflow's server stores the protobuf default; the
embedded store, like MLflow's SQL store used directly, keeps None.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.routing import Route

from asynctrack import _registry_checks as checks
from asynctrack._rest import _registry as r
from asynctrack._rest._messages import Empty
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server._convert import opt_int
from asynctrack.server._model_source import check_model_source, record_model_version
from asynctrack.server._registry_source import check_source
from asynctrack.server._request import API_DOCS_HINT, required
from asynctrack.server._routes import PREFIXES, endpoint
from asynctrack.server._state import ServerState
from asynctrack.store._logged_model_protocol import LoggedModelStore
from asynctrack.store._registry_protocol import RegistryStore
from asynctrack.store.search._registry import (
    MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
)

__all__ = ["REGISTRY_ENDPOINTS", "registry_routes"]

T = TypeVar("T")
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"


def _registry(state: ServerState) -> RegistryStore:
    store = state.store
    if not isinstance(store, RegistryStore):
        raise MlflowException(
            "This server's backend store has no model registry in asynctrack yet.",
            error_code=ENDPOINT_NOT_FOUND,
        )
    return store


async def _call(state: ServerState, what: str, fn: Callable[[RegistryStore], Awaitable[T]]) -> T:
    store = _registry(state)
    return await state.call(lambda: fn(store), what)


def _name(value: str | None, field: str = "name") -> str:
    return checks.check_model_name(required(value, field))


def _version(value: str | None) -> int:
    return checks.check_version(required(value, "version"))


def _tag_value(value: str | None) -> str:
    """A tag's value: optional, as in MLflow's handlers (its client leaves an empty string out of the
    JSON, so an absent value is the empty string)."""
    return "" if value is None else value


def _tags(tags: list[Any] | None) -> list[tuple[str, str]]:
    return [checks.check_registry_tag(t.key, t.value) for t in tags or ()]


def _max_results(value: int | str | None, default: int, limit: int) -> int:
    n = opt_int(value, "max_results")
    if n is None:
        return default
    if n > limit:
        raise MlflowException(
            f"Invalid value {json.dumps(value)} for parameter 'max_results' supplied:  Hint: Value was of "
            f"type '{type(value).__name__}'. {API_DOCS_HINT}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return n


def _model(rm: Any) -> r.RegisteredModelResponse:
    return r.RegisteredModelResponse(registered_model=r.registered_model_to_wire(rm))


def _version_response(mv: Any) -> r.ModelVersionResponse:
    return r.ModelVersionResponse(model_version=r.model_version_to_wire(mv))


# -- registered models


async def create_registered_model(
    state: ServerState, msg: r.CreateRegisteredModel
) -> r.RegisteredModelResponse:
    name = _name(msg.name)
    tags = _tags(msg.tags)
    rm = await _call(
        state,
        "create_registered_model",
        lambda s: s.create_registered_model(name, tags, msg.description or ""),
    )
    return _model(rm)


async def get_registered_model(state: ServerState, msg: r.ModelName) -> r.RegisteredModelResponse:
    name = _name(msg.name)
    return _model(await _call(state, "get_registered_model", lambda s: s.get_registered_model(name)))


async def rename_registered_model(
    state: ServerState, msg: r.RenameRegisteredModel
) -> r.RegisteredModelResponse:
    name = _name(msg.name)
    new_name = checks.check_new_model_name(required(msg.new_name, "new_name"))
    return _model(
        await _call(state, "rename_registered_model", lambda s: s.rename_registered_model(name, new_name))
    )


async def update_registered_model(
    state: ServerState, msg: r.UpdateRegisteredModel
) -> r.RegisteredModelResponse:
    name = _name(msg.name)
    rm = await _call(
        state, "update_registered_model", lambda s: s.update_registered_model(name, msg.description or "")
    )
    return _model(rm)


async def delete_registered_model(state: ServerState, msg: r.ModelName) -> Empty:
    name = _name(msg.name)
    await _call(state, "delete_registered_model", lambda s: s.delete_registered_model(name))
    return Empty()


async def set_registered_model_tag(state: ServerState, msg: r.SetRegisteredModelTag) -> Empty:
    name = _name(msg.name)
    key, value = checks.check_registry_tag(required(msg.key, "key"), _tag_value(msg.value))
    await _call(state, "set_registered_model_tag", lambda s: s.set_registered_model_tag(name, key, value))
    return Empty()


async def delete_registered_model_tag(state: ServerState, msg: r.ModelVersionTagKey) -> Empty:
    name = _name(msg.name)
    key = checks.check_registry_tag_key(required(msg.key, "key"))
    await _call(state, "delete_registered_model_tag", lambda s: s.delete_registered_model_tag(name, key))
    return Empty()


async def search_registered_models(
    state: ServerState, msg: r.SearchRegistry
) -> r.SearchRegisteredModelsResponse:
    n = _max_results(
        msg.max_results, REGISTERED_MODEL_MAX_RESULTS_DEFAULT, REGISTERED_MODEL_MAX_RESULTS_THRESHOLD
    )
    models, token = await _call(
        state,
        "search_registered_models",
        lambda s: s.search_registered_models(msg.filter or "", n, msg.order_by or [], msg.page_token or None),
    )
    return r.SearchRegisteredModelsResponse(
        registered_models=[r.registered_model_to_wire(m) for m in models] or None, next_page_token=token
    )


async def get_latest_versions(state: ServerState, msg: r.GetLatestVersions) -> r.ModelVersionsResponse:
    name = _name(msg.name)
    stages = msg.stages or []
    versions = await _call(state, "get_latest_versions", lambda s: s.get_latest_versions(name, stages))
    return r.ModelVersionsResponse(model_versions=[r.model_version_to_wire(v) for v in versions] or None)


# -- model versions


async def create_model_version(state: ServerState, msg: r.CreateModelVersion) -> r.ModelVersionResponse:
    name = _name(msg.name)
    source: str = required(msg.source, "source")
    tags = _tags(msg.tags)
    run_id = msg.run_id or None
    store = state.store
    model_id = msg.model_id or None
    if model_id is not None and isinstance(store, LoggedModelStore):  # MLflow 3: a logged model vouches
        lm = store
        await check_model_source(
            source, model_id, lambda mid: state.call(lambda: lm.get_logged_model(mid), "get_logged_model")
        )
    else:
        await check_source(source, run_id, lambda rid: state.call(lambda: store.get_run(rid), "get_run"))
    mv = await _call(
        state,
        "create_model_version",
        lambda s: s.create_model_version(
            name, source, run_id, tags, msg.run_link or None, msg.description or "", model_id
        ),
    )
    if model_id is not None and isinstance(store, LoggedModelStore):
        lm = store
        await state.call(
            lambda: record_model_version(lm, name, mv.version, model_id), "set_logged_model_tags"
        )
    return _version_response(mv)


async def get_model_version(state: ServerState, msg: r.ModelVersionRef) -> r.ModelVersionResponse:
    name, version = _name(msg.name), _version(msg.version)
    return _version_response(
        await _call(state, "get_model_version", lambda s: s.get_model_version(name, version))
    )


async def update_model_version(state: ServerState, msg: r.UpdateModelVersion) -> r.ModelVersionResponse:
    name, version = _name(msg.name), _version(msg.version)
    mv = await _call(
        state, "update_model_version", lambda s: s.update_model_version(name, version, msg.description or "")
    )
    return _version_response(mv)


async def transition_stage(state: ServerState, msg: r.TransitionStage) -> r.ModelVersionResponse:
    name, version = _name(msg.name), _version(msg.version)
    stage: str = required(msg.stage, "stage")
    archive = bool(msg.archive_existing_versions)
    mv = await _call(
        state,
        "transition_model_version_stage",
        lambda s: s.transition_model_version_stage(name, version, stage, archive),
    )
    return _version_response(mv)


async def delete_model_version(state: ServerState, msg: r.ModelVersionRef) -> Empty:
    name, version = _name(msg.name), _version(msg.version)
    await _call(state, "delete_model_version", lambda s: s.delete_model_version(name, version))
    return Empty()


async def get_download_uri(state: ServerState, msg: r.ModelVersionRef) -> r.DownloadUriResponse:
    name, version = _name(msg.name), _version(msg.version)
    uri = await _call(
        state, "get_model_version_download_uri", lambda s: s.get_model_version_download_uri(name, version)
    )
    return r.DownloadUriResponse(artifact_uri=uri)


async def search_model_versions(state: ServerState, msg: r.SearchRegistry) -> r.SearchModelVersionsResponse:
    # The protocol's default page is MLflow's proto default (200,000), not the client's 10,000.
    n = _max_results(
        msg.max_results, MODEL_VERSION_MAX_RESULTS_THRESHOLD, MODEL_VERSION_MAX_RESULTS_THRESHOLD
    )
    versions, token = await _call(
        state,
        "search_model_versions",
        lambda s: s.search_model_versions(msg.filter or "", n, msg.order_by or [], msg.page_token or None),
    )
    return r.SearchModelVersionsResponse(
        model_versions=[r.model_version_to_wire(v) for v in versions] or None, next_page_token=token
    )


async def set_model_version_tag(state: ServerState, msg: r.SetModelVersionTag) -> Empty:
    name, version = _name(msg.name), _version(msg.version)
    key, value = checks.check_registry_tag(required(msg.key, "key"), _tag_value(msg.value))
    await _call(state, "set_model_version_tag", lambda s: s.set_model_version_tag(name, version, key, value))
    return Empty()


async def delete_model_version_tag(state: ServerState, msg: r.ModelVersionTagKey) -> Empty:
    name, version = _name(msg.name), _version(msg.version)
    key = checks.check_registry_tag_key(required(msg.key, "key"))
    await _call(state, "delete_model_version_tag", lambda s: s.delete_model_version_tag(name, version, key))
    return Empty()


# -- aliases


async def set_alias(state: ServerState, msg: r.SetRegisteredModelAlias) -> Empty:
    name = _name(msg.name)
    alias = checks.check_new_alias(required(msg.alias, "alias"))
    version = _version(msg.version)
    await _call(
        state, "set_registered_model_alias", lambda s: s.set_registered_model_alias(name, alias, version)
    )
    return Empty()


async def delete_alias(state: ServerState, msg: r.ModelAlias) -> Empty:
    name = _name(msg.name)
    alias = checks.check_alias(required(msg.alias, "alias"))
    await _call(
        state, "delete_registered_model_alias", lambda s: s.delete_registered_model_alias(name, alias)
    )
    return Empty()


async def get_by_alias(state: ServerState, msg: r.ModelAlias) -> r.ModelVersionResponse:
    name = _name(msg.name)
    alias = checks.check_alias(required(msg.alias, "alias"))
    mv = await _call(state, "get_model_version_by_alias", lambda s: s.get_model_version_by_alias(name, alias))
    return _version_response(mv)


_GET, _POST, _PATCH, _DELETE = ("GET",), ("POST",), ("PATCH",), ("DELETE",)
Handler = Callable[[ServerState, Any], Awaitable[msgspec.Struct]]

#: (path under the prefix, methods, request Struct, handler), as MLflow 3.17.2's model_registry.proto.
REGISTRY_ENDPOINTS: tuple[tuple[str, tuple[str, ...], type[msgspec.Struct], Handler], ...] = (
    ("/registered-models/create", _POST, r.CreateRegisteredModel, create_registered_model),
    ("/registered-models/get", _GET, r.ModelName, get_registered_model),
    ("/registered-models/rename", _POST, r.RenameRegisteredModel, rename_registered_model),
    ("/registered-models/update", _PATCH, r.UpdateRegisteredModel, update_registered_model),
    ("/registered-models/delete", _DELETE, r.ModelName, delete_registered_model),
    ("/registered-models/search", _GET, r.SearchRegistry, search_registered_models),
    ("/registered-models/set-tag", _POST, r.SetRegisteredModelTag, set_registered_model_tag),
    ("/registered-models/delete-tag", _DELETE, r.ModelVersionTagKey, delete_registered_model_tag),
    ("/registered-models/get-latest-versions", ("GET", "POST"), r.GetLatestVersions, get_latest_versions),
    ("/registered-models/alias", _POST, r.SetRegisteredModelAlias, set_alias),
    ("/registered-models/alias", _DELETE, r.ModelAlias, delete_alias),
    ("/registered-models/alias", _GET, r.ModelAlias, get_by_alias),
    ("/model-versions/create", _POST, r.CreateModelVersion, create_model_version),
    ("/model-versions/get", _GET, r.ModelVersionRef, get_model_version),
    ("/model-versions/update", _PATCH, r.UpdateModelVersion, update_model_version),
    ("/model-versions/transition-stage", _POST, r.TransitionStage, transition_stage),
    ("/model-versions/delete", _DELETE, r.ModelVersionRef, delete_model_version),
    ("/model-versions/get-download-uri", _GET, r.ModelVersionRef, get_download_uri),
    ("/model-versions/search", _GET, r.SearchRegistry, search_model_versions),
    ("/model-versions/set-tag", _POST, r.SetModelVersionTag, set_model_version_tag),
    ("/model-versions/delete-tag", _DELETE, r.ModelVersionTagKey, delete_model_version_tag),
)


def registry_routes() -> list[Route]:
    """One route per (prefix, path, method): ``/registered-models/alias`` has three handlers."""
    return [
        Route(prefix + path, endpoint(msg_type, handler), methods=list(methods))
        for prefix in PREFIXES
        for path, methods, msg_type, handler in REGISTRY_ENDPOINTS
    ]
