"""The REST store's model registry: :class:`RegistryStore` over MLflow's ``/registered-models/*`` and
``/model-versions/*`` endpoints, with the methods MLflow 3.17.2's client uses (GET with query parameters,
POST, PATCH and DELETE with JSON bodies)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import msgspec

from asynctrack._http._errors import malformed_response
from asynctrack._rest import _registry as r
from asynctrack._rest._messages import API_PREFIX, Empty
from asynctrack._rest._wire import KeyValueJ
from asynctrack.entities import ModelVersion, RegisteredModel
from asynctrack.store._registry_protocol import RegistryStore
from asynctrack.store.rest._transport import QueryParams, Transport

__all__ = ["RestRegistry"]

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode
_EMPTY = msgspec.json.Decoder(Empty)
_MODEL = msgspec.json.Decoder(r.RegisteredModelResponse)
_MODELS = msgspec.json.Decoder(r.SearchRegisteredModelsResponse)
_VERSION = msgspec.json.Decoder(r.ModelVersionResponse)
_VERSIONS = msgspec.json.Decoder(r.SearchModelVersionsResponse)
_LATEST = msgspec.json.Decoder(r.ModelVersionsResponse)
_URI = msgspec.json.Decoder(r.DownloadUriResponse)


class RestRegistry(RegistryStore):
    """Mixed into :class:`~asynctrack.store.rest.RestStore`, which provides the transport ``_t``."""

    _t: Transport

    async def _send(
        self, method: str, endpoint: str, body: msgspec.Struct, decoder: msgspec.json.Decoder[T]
    ) -> T:
        return await self._t.call(method, API_PREFIX + endpoint, decoder, body=_encode(body))

    async def _query(self, endpoint: str, params: QueryParams, decoder: msgspec.json.Decoder[T]) -> T:
        return await self._t.call("GET", API_PREFIX + endpoint, decoder, params=params)

    def _model(self, resp: r.RegisteredModelResponse, endpoint: str) -> RegisteredModel:
        if resp.registered_model is None:
            raise malformed_response(self._t.url(API_PREFIX + endpoint), ValueError("no registered_model"))
        return r.registered_model_from_wire(resp.registered_model)

    def _version(self, resp: r.ModelVersionResponse, endpoint: str) -> ModelVersion:
        if resp.model_version is None:
            raise malformed_response(self._t.url(API_PREFIX + endpoint), ValueError("no model_version"))
        return r.model_version_from_wire(resp.model_version)

    # -- registered models
    async def create_registered_model(
        self, name: str, tags: Sequence[tuple[str, str]] = (), description: str | None = None
    ) -> RegisteredModel:
        body = r.CreateRegisteredModel(name, [KeyValueJ(k, v) for k, v in tags] or None, description)
        return self._model(await self._send("POST", "/registered-models/create", body, _MODEL), "create")

    async def get_registered_model(self, name: str) -> RegisteredModel:
        resp = await self._query("/registered-models/get", {"name": name}, _MODEL)
        return self._model(resp, "/registered-models/get")

    async def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        body = r.RenameRegisteredModel(name, new_name)
        return self._model(await self._send("POST", "/registered-models/rename", body, _MODEL), "rename")

    async def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        body = r.UpdateRegisteredModel(name, description)
        return self._model(await self._send("PATCH", "/registered-models/update", body, _MODEL), "update")

    async def delete_registered_model(self, name: str) -> None:
        await self._send("DELETE", "/registered-models/delete", r.ModelName(name), _EMPTY)

    async def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        await self._send(
            "POST", "/registered-models/set-tag", r.SetRegisteredModelTag(name, key, value), _EMPTY
        )

    async def delete_registered_model_tag(self, name: str, key: str) -> None:
        body = r.ModelVersionTagKey(name=name, key=key)
        await self._send("DELETE", "/registered-models/delete-tag", body, _EMPTY)

    async def search_registered_models(
        self, filter_string: str, max_results: int, order_by: Sequence[str], page_token: str | None
    ) -> tuple[list[RegisteredModel], str | None]:
        params: dict[str, str | int | list[str]] = {"max_results": max_results}
        if filter_string:
            params["filter"] = filter_string
        if order_by:
            params["order_by"] = list(order_by)
        if page_token:
            params["page_token"] = page_token
        resp = await self._query("/registered-models/search", params, _MODELS)
        return [
            r.registered_model_from_wire(m) for m in resp.registered_models or ()
        ], resp.next_page_token or None

    async def get_latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        body = r.GetLatestVersions(name, list(stages) or None)
        resp = await self._send("POST", "/registered-models/get-latest-versions", body, _LATEST)
        return [r.model_version_from_wire(v) for v in resp.model_versions or ()]

    # -- model versions
    async def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[tuple[str, str]] = (),
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        body = r.CreateModelVersion(
            name, source, run_id, [KeyValueJ(k, v) for k, v in tags] or None, run_link, description, model_id
        )
        return self._version(await self._send("POST", "/model-versions/create", body, _VERSION), "create")

    async def get_model_version(self, name: str, version: int) -> ModelVersion:
        resp = await self._query("/model-versions/get", {"name": name, "version": str(version)}, _VERSION)
        return self._version(resp, "/model-versions/get")

    async def update_model_version(self, name: str, version: int, description: str | None) -> ModelVersion:
        body = r.UpdateModelVersion(name, str(version), description)
        return self._version(await self._send("PATCH", "/model-versions/update", body, _VERSION), "update")

    async def transition_model_version_stage(
        self, name: str, version: int, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        body = r.TransitionStage(name, str(version), stage, archive_existing_versions)
        resp = await self._send("POST", "/model-versions/transition-stage", body, _VERSION)
        return self._version(resp, "/model-versions/transition-stage")

    async def delete_model_version(self, name: str, version: int) -> None:
        await self._send("DELETE", "/model-versions/delete", r.ModelVersionRef(name, str(version)), _EMPTY)

    async def get_model_version_download_uri(self, name: str, version: int) -> str:
        params = {"name": name, "version": str(version)}
        resp = await self._query("/model-versions/get-download-uri", params, _URI)
        if resp.artifact_uri is None:
            raise malformed_response(
                self._t.url(API_PREFIX + "/model-versions/get-download-uri"), ValueError()
            )
        return resp.artifact_uri

    async def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        body = r.SetModelVersionTag(name, str(version), key, value)
        await self._send("POST", "/model-versions/set-tag", body, _EMPTY)

    async def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        body = r.ModelVersionTagKey(name, str(version), key)
        await self._send("DELETE", "/model-versions/delete-tag", body, _EMPTY)

    async def search_model_versions(
        self, filter_string: str, max_results: int, order_by: Sequence[str], page_token: str | None
    ) -> tuple[list[ModelVersion], str | None]:
        params: dict[str, str | int | list[str]] = {"max_results": max_results}
        if filter_string:
            params["filter"] = filter_string
        if order_by:
            params["order_by"] = list(order_by)
        if page_token:
            params["page_token"] = page_token
        resp = await self._query("/model-versions/search", params, _VERSIONS)
        return [r.model_version_from_wire(v) for v in resp.model_versions or ()], resp.next_page_token or None

    # -- aliases
    async def set_registered_model_alias(self, name: str, alias: str, version: int) -> None:
        body = r.SetRegisteredModelAlias(name, alias, str(version))
        await self._send("POST", "/registered-models/alias", body, _EMPTY)

    async def delete_registered_model_alias(self, name: str, alias: str) -> None:
        await self._send("DELETE", "/registered-models/alias", r.ModelAlias(name, alias), _EMPTY)

    async def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        resp = await self._query("/registered-models/alias", {"name": name, "alias": alias}, _VERSION)
        return self._version(resp, "/registered-models/alias")
