"""asynctrack: MLflow-compatible experiment tracking with an asynchronous, high-throughput logging pipeline.

``import asynctrack as mlflow`` and use MLflow's tracking API::

    import asynctrack as mlflow

    with mlflow.start_run():
        mlflow.log_param("lr", 0.01)
        for step in range(1000):
            mlflow.log_metric("loss", 1 / (step + 1), step=step, synchronous=False)
    # end_run waits for the run's data; nothing accepted is lost.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import typing
from typing import Any

from asynctrack import (
    artifacts,
    config,
    data,
    entities,
    environment,
    exceptions,
    system_metrics,
    tracking,
    validation,
)
from asynctrack._fluent_artifacts import (
    flush_artifact_async_logging,
    get_artifact_uri,
    load_table,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_stream,
    log_table,
    log_text,
)
from asynctrack._fluent_datasets import log_input, log_inputs
from asynctrack._fluent_logged_models import (
    ActiveModel,
    clear_active_model,
    create_external_model,
    delete_logged_model_tag,
    finalize_logged_model,
    get_active_model_id,
    get_logged_model,
    initialize_logged_model,
    last_logged_model,
    log_model_params,
    log_outputs,
    search_logged_models,
    set_active_model,
    set_logged_model_tags,
)
from asynctrack._fluent_registry import (
    get_registry_uri,
    register_model,
    search_model_versions,
    search_registered_models,
    set_model_version_tag,
    set_registry_uri,
)
from asynctrack._fluent_search import search_experiments, search_runs
from asynctrack._mlflow_names import (
    UNAVAILABLE,
    MlflowModuleUnavailable,
    MlflowNameUnavailable,
    install_import_hook,
    unavailable_message,
)
from asynctrack._tracking_uri import is_tracking_uri_set
from asynctrack._version import __version__
from asynctrack.aio import AsyncClient
from asynctrack.client import MlflowClient
from asynctrack.entities import (
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
    ViewType,
)
from asynctrack.exceptions import MlflowException
from asynctrack.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_experiment_tag,
    delete_run,
    delete_tag,
    end_run,
    flush_async_logging,
    get_experiment,
    get_experiment_by_name,
    get_parent_run,
    get_run,
    get_tracking_uri,
    last_active_run,
    log_metric,
    log_metric_array,
    log_metrics,
    log_param,
    log_params,
    restore_experiment,
    restore_run,
    set_experiment,
    set_experiment_tag,
    set_experiment_tags,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from asynctrack.integrations._autolog import autolog
from asynctrack.pipeline import RunOperations
from asynctrack.system_metrics import (
    disable_system_metrics_logging,
    enable_system_metrics_logging,
    set_system_metrics_node_id,
    set_system_metrics_samples_before_logging,
    set_system_metrics_sampling_interval,
)

# MLflow's names that asynctrack lacks raise an error saying whether they are planned or out of scope
# (``_mlflow_names.py``), as attributes and as modules (``import asynctrack.sklearn``).
install_import_hook()


if not typing.TYPE_CHECKING:  # hidden from type checkers, so that a typo in a user's code is still reported

    def __getattr__(name: str) -> Any:
        # A public subpackage not imported yet (asynctrack.cli, asynctrack.server) is imported on first use,
        # as MLflow's lazily loaded submodules are; other MLflow names raise an error saying why they are
        # missing.
        full = f"{__name__}.{name}"
        if not name.startswith("_") and importlib.machinery.PathFinder.find_spec(full, __path__):
            return importlib.import_module(full)
        module = sys.modules[__name__]
        if name in UNAVAILABLE:
            raise MlflowNameUnavailable(unavailable_message(name), name=name, obj=module)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}", name=name, obj=module)


__all__ = [
    "ActiveRun",
    "AsyncClient",
    "Experiment",
    "ExperimentTag",
    "LifecycleStage",
    "Metric",
    "MlflowClient",
    "MlflowException",
    "MlflowModuleUnavailable",
    "MlflowNameUnavailable",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOperations",
    "RunStatus",
    "RunTag",
    "ViewType",
    "__version__",
    "active_run",
    "artifacts",
    "autolog",
    "data",
    "config",
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_run",
    "delete_tag",
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "end_run",
    "entities",
    "environment",
    "exceptions",
    "flush_artifact_async_logging",
    "flush_async_logging",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_run",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metric_array",
    "log_metrics",
    "log_param",
    "log_params",
    "log_stream",
    "load_table",
    "log_table",
    "log_text",
    "restore_experiment",
    "restore_run",
    "search_experiments",
    "set_registry_uri",
    "set_model_version_tag",
    "search_registered_models",
    "search_model_versions",
    "register_model",
    "get_registry_uri",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "system_metrics",
    "tracking",
    "validation",
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
    "LoggedModel",
    "LoggedModelStatus",
]
