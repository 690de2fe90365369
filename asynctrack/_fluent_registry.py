"""Fluent model-registry functions: ``register_model``, ``search_registered_models``,
``search_model_versions``, ``set_model_version_tag``, and the registry URI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asynctrack._model_uri import is_models_uri, parse_model_uri
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
    artifact location as source and the run as lineage, as MLflow does; otherwise, as in MLflow 3, the
    run's logged model named ``<path>`` (``source_run_id`` the run) is registered as ``models:/<model_id>``
    (of several, the one the run output at the largest step), and none is MLflow's NOT_FOUND.
    ``models:/<model_id>`` registers that logged model (its ``model_id`` recorded on the version); other
    ``models:/`` and plain artifact URIs are registered as given.
    """
    client = _client()
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != RESOURCE_ALREADY_EXISTS:
            raise
    source = model_uri
    run_id = None
    model_id = None
    if scheme_of(model_uri) == "runs":
        run_id, path = parse_runs_uri(model_uri)
        files = {f.path for f in client.list_artifacts(run_id, path or None)}
        if f"{path}/{MLMODEL_FILE}".lstrip("/") in files:
            root = (client.get_run(run_id).info.artifact_uri or "").rstrip("/")
            source = f"{root}/{path}" if path else root
        else:
            model_id = _logged_model_of_run(client, run_id, path)
            source = f"models:/{model_id}"
    elif is_models_uri(model_uri):
        parsed = parse_model_uri(model_uri)
        if parsed.model_id is not None:
            model_id = parsed.model_id
        elif parsed.name is not None and parsed.version is not None:
            model_id = client.get_model_version(parsed.name, parsed.version).model_id
    return client.create_model_version(
        name, source, run_id, tags, await_creation_for=await_registration_for, model_id=model_id
    )


def _logged_model_of_run(client: MlflowClient, run_id: str, path: str) -> str:
    """MLflow 3's ``runs:/<run_id>/<path>`` without an MLmodel file: the run's logged model named ``path``
    (of several, the one output at the largest step)."""
    run = client.get_run(run_id)
    found = [
        m
        for m in collect_pages(
            lambda n, token: client.search_logged_models(
                [run.info.experiment_id], f"name = '{path}'", max_results=n, page_token=token
            ),
            None,
            100,
        )
        if m.source_run_id == run_id
    ]
    if not found:
        raise MlflowException(
            f"Unable to find a logged_model with artifact_path {path} under run {run_id}",
            error_code=NOT_FOUND,
        )
    steps = {o.model_id: o.step for o in run.outputs.model_outputs}
    return max(found, key=lambda m: steps.get(m.model_id, -1)).model_id


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
