"""Fluent model-registry functions: ``register_model``, ``search_registered_models``,
``search_model_versions``, ``set_model_version_tag``, and the registry URI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asynctrack._registry_uri import get_registry_uri, set_registry_uri
from asynctrack.artifacts._uri import parse_runs_uri, scheme_of
from asynctrack.client import MlflowClient
from asynctrack.entities import ModelVersion, RegisteredModel
from asynctrack.exceptions import RESOURCE_ALREADY_EXISTS, MlflowException
from asynctrack.store._paged import collect_pages
from asynctrack.store.search._registry import (
    MODEL_VERSION_MAX_RESULTS_DEFAULT,
    REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
)

__all__ = [
    "get_registry_uri",
    "register_model",
    "search_model_versions",
    "search_registered_models",
    "set_model_version_tag",
    "set_registry_uri",
]

MLMODEL_FILE = "MLmodel"
NOT_FOUND = "NOT_FOUND"


def _client() -> MlflowClient:
    return MlflowClient(registry_uri=get_registry_uri())


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = 300,
    *,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Create the registered model ``name`` if needed and a new version of it from ``model_uri``.

    A ``runs:/<run_id>/<path>`` URI whose folder holds an ``MLmodel`` file is registered with the run's
    artifact location as source and the run as lineage, as MLflow does; ``models:/`` and plain artifact
    URIs are registered as given. (MLflow 3 also finds a *logged model* named by the path of a run;
    asynctrack keeps no logged models, so such a URI is refused with MLflow's NOT_FOUND message.)
    """
    client = _client()
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != RESOURCE_ALREADY_EXISTS:
            raise
    source = model_uri
    run_id = None
    if scheme_of(model_uri) == "runs":
        run_id, path = parse_runs_uri(model_uri)
        files = {f.path for f in client.list_artifacts(run_id, path or None)}
        if f"{path}/{MLMODEL_FILE}".lstrip("/") not in files:
            raise MlflowException(
                f"Unable to find a logged_model with artifact_path {path} under run {run_id}",
                error_code=NOT_FOUND,
            )
        root = (client.get_run(run_id).info.artifact_uri or "").rstrip("/")
        source = f"{root}/{path}" if path else root
    return client.create_model_version(name, source, run_id, tags, await_creation_for=await_registration_for)


def search_registered_models(
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[RegisteredModel]:
    """Every registered model matching the filter (or at most ``max_results``)."""
    client = _client()
    return collect_pages(
        lambda n, token: client.search_registered_models(filter_string, n, order_by, token),
        max_results,
        REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    )


def search_model_versions(
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[ModelVersion]:
    """Every model version matching the filter (or at most ``max_results``)."""
    client = _client()
    return collect_pages(
        lambda n, token: client.search_model_versions(filter_string, n, order_by, token),
        max_results,
        MODEL_VERSION_MAX_RESULTS_DEFAULT,
    )


def set_model_version_tag(
    name: str,
    version: str | int | None = None,
    key: str | None = None,
    value: Any = None,
    stage: str | None = None,
) -> None:
    """Set a tag on a model version (``stage``: the newest version in that stage)."""
    _client().set_model_version_tag(name, version, key, value, stage)
