"""Which ``source`` a model version created with a ``model_id`` (MLflow 3's logged model) may have: MLflow's
``_validate_source_model``, the logged-model twin of ``_registry_source.check_source``.

- a local path must lie inside the logged model's artifact directory (symlinks resolved);
- ``models:/<model_id>`` must name the ``model_id`` given, with no host; ``runs:/`` is refused;
- ``mlflow-artifacts:`` (and the artifact API's http(s) URLs) must lie under the model's artifact location;
- no ``..`` segment, NUL or path that normalises elsewhere, however percent-encoded.

A missing model is refused as a source it cannot vouch for, as MLflow does. After the version is created the
server records it on the model's ``mlflow.modelVersions`` tag (:func:`record_model_version`).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable

import anyio

from asynctrack._model_uri import parse_model_uri
from asynctrack._system_tags import MLFLOW_MODEL_VERSIONS as MODEL_VERSIONS_TAG
from asynctrack.entities import LoggedModel
from asynctrack.exceptions import RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.server._registry_source import (
    _check_relative,
    _inside,
    _invalid,
    _is_local,
    _is_proxied,
    _not_identified,
    _within,
)
from asynctrack.store._logged_model_protocol import LoggedModelStore

__all__ = ["MODEL_VERSIONS_TAG", "check_model_source", "record_model_version"]

GetModel = Callable[[str], Awaitable[LoggedModel]]


async def _model(get_model: GetModel, model_id: str, source: str) -> LoggedModel:
    try:
        return await get_model(model_id)
    except MlflowException as exc:
        if exc.error_code == RESOURCE_DOES_NOT_EXIST:
            raise _not_identified(source, "model_id") from None
        raise


async def check_model_source(source: str, model_id: str, get_model: GetModel) -> None:
    """Refuse ``source`` unless the logged model ``model_id`` vouches for it (module doc)."""
    if _is_local(source):
        model = await _model(get_model, model_id, source)
        root = model.artifact_location
        if _is_local(root) and await anyio.to_thread.run_sync(_inside, source, root):
            return
        raise _invalid(
            f"Invalid model version source: '{source}'. To use a local path as a model version source, the "
            "model_id request parameter has to be specified and the local path has to be contained within "
            "the artifact directory of the run specified by the model_id."
        )
    _check_relative(source)
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme == "models":
        if parsed.netloc:
            raise _not_identified(source, "model_id")
        named = parse_model_uri(source).model_id
        if named is not None:
            if named == model_id:
                return
            raise _not_identified(source, "model_id")
    if parsed.scheme == "runs":
        raise _not_identified(source, "model_id")
    if _is_proxied(source):
        model = await _model(get_model, model_id, source)
        if _within(source, model.artifact_location):
            return
        raise _not_identified(source, "model_id")


async def record_model_version(store: LoggedModelStore, name: str, version: str, model_id: str) -> None:
    """Append ``{"name", "version"}`` to the model's ``mlflow.modelVersions`` tag (MLflow's
    ``set_model_versions_tags``: a JSON list, each version once)."""
    entry = {"name": name, "version": int(version) if str(version).isdigit() else version}
    model = await store.get_logged_model(model_id)
    versions = [entry]
    if existing := model.tags.get(MODEL_VERSIONS_TAG):
        try:
            old = json.loads(existing)
        except ValueError:
            old = []
        versions = old if entry in old else [*old, entry]
    await store.set_logged_model_tags(model_id, [(MODEL_VERSIONS_TAG, json.dumps(versions))])
