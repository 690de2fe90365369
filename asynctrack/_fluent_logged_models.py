"""The fluent MLflow 3 logged-model API: ``mlflow.initialize_logged_model``, ``create_external_model``,
``get_logged_model``, ``finalize_logged_model``, ``search_logged_models``, tags and params, and the
active model (``set_active_model``, ``get_active_model_id``, ``clear_active_model``).

As in MLflow 3.17.2: a model created while a run is active takes that run as ``source_run_id`` and its
experiment; otherwise the current experiment. ``search_logged_models`` returns a pandas DataFrame unless
``output_format="list"``. ``set_active_model(name=...)`` takes the newest model of that name in the
current experiment or creates an external one (status READY, tag ``mlflow.model.isExternal``); the
active model is per thread, starts from ``MLFLOW_ACTIVE_MODEL_ID``, and fluent ``log_metric`` links its
points to it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Literal

from asynctrack import _active_model
from asynctrack._context import context_tags
from asynctrack._system_tags import MLFLOW_MODEL_IS_EXTERNAL
from asynctrack.client import MlflowClient
from asynctrack.entities import LoggedModel, LoggedModelOutput, LoggedModelStatus
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.fluent import _active_experiment_for_search, _current, active_run

__all__ = [
    "ActiveModel",
    "clear_active_model",
    "create_external_model",
    "delete_logged_model_tag",
    "finalize_logged_model",
    "get_active_model_id",
    "get_logged_model",
    "initialize_logged_model",
    "last_logged_model",
    "log_model_params",
    "log_outputs",
    "search_logged_models",
    "set_active_model",
    "set_logged_model_tags",
]

_logger = logging.getLogger(__name__)


class _Last(threading.local):
    model_id: str | None = None


_last = _Last()


def _create(
    name: str | None,
    source_run_id: str | None,
    tags: dict[str, str] | None,
    params: dict[str, str] | None,
    model_type: str | None,
    experiment_id: str | None,
) -> LoggedModel:
    run = active_run()
    if source_run_id is None and run is not None:
        source_run_id = run.info.run_id
    if experiment_id is None and run is not None:
        experiment_id = run.info.experiment_id
    elif experiment_id is None:
        experiment_id = _active_experiment_for_search()
    resolved = {**context_tags(), **(tags or {})}
    model = MlflowClient().create_logged_model(
        str(experiment_id), name, source_run_id, resolved, params, model_type
    )
    _last.model_id = model.model_id
    return model


def log_outputs(models: list[LoggedModelOutput] | None = None) -> None:
    """Record logged models as outputs of the active run (started if there is none), as MLflow's
    ``mlflow.log_outputs``: ``run.outputs.model_outputs`` of the run. As in MLflow, the active run's
    in-memory outputs are not extended (only a resumed run's are read at ``start_run``)."""
    run_id, _ = _current(None)
    MlflowClient().log_outputs(run_id, list(models or ()))


def initialize_logged_model(
    name: str | None = None,
    source_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    model_type: str | None = None,
    experiment_id: str | None = None,
) -> LoggedModel:
    """A new logged model with status PENDING (finalize it with :func:`finalize_logged_model`)."""
    return _create(name, source_run_id, tags, params, model_type, experiment_id)


def create_external_model(
    name: str | None = None,
    source_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    model_type: str | None = None,
    experiment_id: str | None = None,
) -> LoggedModel:
    """A logged model whose files live outside MLflow: tagged ``mlflow.model.isExternal`` and READY at
    once. (MLflow also writes a placeholder MLmodel file into its artifacts; asynctrack writes none.)"""
    model = _create(
        name,
        source_run_id,
        {**(tags or {}), MLFLOW_MODEL_IS_EXTERNAL: "true"},
        params,
        model_type,
        experiment_id,
    )
    model = MlflowClient().finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    _last.model_id = model.model_id
    return model


def finalize_logged_model(model_id: str, status: str | LoggedModelStatus) -> LoggedModel:
    return MlflowClient().finalize_logged_model(model_id, status)


def get_logged_model(model_id: str) -> LoggedModel:
    return MlflowClient().get_logged_model(model_id)


def last_logged_model() -> LoggedModel | None:
    """The model this thread created last (None if none)."""
    return get_logged_model(_last.model_id) if _last.model_id else None


def log_model_params(params: dict[str, str], model_id: str | None = None) -> None:
    MlflowClient().log_model_params(model_id or get_active_model_id() or "", params)


def set_logged_model_tags(model_id: str, tags: dict[str, Any]) -> None:
    MlflowClient().set_logged_model_tags(model_id, tags)


def delete_logged_model_tag(model_id: str, key: str) -> None:
    MlflowClient().delete_logged_model_tag(model_id, key)


def search_logged_models(
    experiment_ids: list[str] | None = None,
    filter_string: str | None = None,
    datasets: list[dict[str, str]] | None = None,
    max_results: int | None = None,
    order_by: list[dict[str, Any]] | None = None,
    output_format: Literal["pandas", "list"] = "pandas",
) -> Any:
    """Every matching model across pages (at most ``max_results``), as a DataFrame or a list."""
    experiment_ids = experiment_ids or [_active_experiment_for_search()]
    client = MlflowClient()
    models: list[LoggedModel] = []
    token: str | None = None
    while True:
        page = client.search_logged_models(
            experiment_ids, filter_string, datasets, max_results, order_by, token
        )
        models.extend(page)
        if (max_results is not None and len(models) >= max_results) or not page.token:
            break
        token = page.token
    if max_results is not None:
        models = models[:max_results]
    if output_format == "list":
        return models
    if output_format == "pandas":
        import pandas as pd  # optional dependency, as in MLflow

        rows = []
        for m in models:
            row = m.to_dictionary()
            row["status"] = LoggedModelStatus.from_int(row["status"])  # back to the enum, as MLflow does
            rows.append(row)
        return pd.DataFrame(rows)
    raise MlflowException(
        f"Unsupported output format: {output_format!r}. Supported string values are 'pandas' or 'list'",
        error_code=INVALID_PARAMETER_VALUE,
    )


class ActiveModel:
    """The model :func:`set_active_model` made active; as a context manager it restores the previous
    active model on exit. Reads fall through to the :class:`LoggedModel`."""

    def __init__(self, logged_model: LoggedModel) -> None:
        self._model = logged_model
        self._previous = _active_model.get()
        _active_model.set_id(logged_model.model_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def __enter__(self) -> ActiveModel:
        return self

    def __exit__(self, *exc: object) -> None:
        _active_model.set_id(self._previous)

    def __repr__(self) -> str:
        return f"ActiveModel({self._model!r})"


def set_active_model(*, name: str | None = None, model_id: str | None = None) -> ActiveModel:
    """Make a logged model this thread's active model, by id or by name (created when missing)."""
    if name is None and model_id is None:
        raise MlflowException("Either name or model_id must be provided", error_code=INVALID_PARAMETER_VALUE)
    if model_id is not None:
        model = get_logged_model(model_id)
        if name is not None and model.name != name:
            raise MlflowException(
                f"LoggedModel with model_id {model_id!r} has name {model.name!r}, which does"
                f" not match the provided name {name!r}.",
                error_code=INVALID_PARAMETER_VALUE,
            )
    else:
        found = search_logged_models(filter_string=f"name='{name}'", max_results=2, output_format="list")
        if len(found) > 1:
            _logger.warning(
                "Multiple LoggedModels found with name %r, setting the latest one as active model.", name
            )
        model = found[0] if found else create_external_model(name=name)
    return ActiveModel(model)


def get_active_model_id() -> str | None:
    """This thread's active model id: set by :func:`set_active_model`, else ``MLFLOW_ACTIVE_MODEL_ID``."""
    return _active_model.get()


def clear_active_model() -> None:
    _active_model.clear()
