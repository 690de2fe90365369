"""The async protocol of MLflow 3's logged models: create, read, finalize, tag, params, linked metrics and
search. Kept apart from :class:`~asynctrack.store.AbstractStore` so a backend adds it on its own (the
embedded SQLite store, PostgreSQL and the REST store implement it).

Semantics, errors and messages are those of MLflow 3.17.2's SQL store: ids are ``m-`` and 32 hex digits,
the artifact location is ``<experiment artifact location>/models/<model_id>/artifacts``, a deleted model is
gone for every read except ``get_logged_model(..., allow_deleted=True)``, params are write-once (a second
value for a key is BAD_REQUEST), and a missing model is RESOURCE_DOES_NOT_EXIST
``Logged model with ID '<id>' not found.``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from asynctrack.entities import LoggedModel, LoggedModelInput, LoggedModelOutput, LoggedModelStatus, Metric

__all__ = ["LoggedModelStore"]


class LoggedModelStore(abc.ABC):
    """Coroutines over the logged models of one tracking store."""

    @abc.abstractmethod
    async def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[tuple[str, str]] = (),
        params: Sequence[tuple[str, str]] = (),
        model_type: str | None = None,
    ) -> LoggedModel: ...

    @abc.abstractmethod
    async def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel: ...

    @abc.abstractmethod
    async def delete_logged_model(self, model_id: str) -> None:
        """Mark the model deleted (its rows stay; reads no longer see it)."""

    @abc.abstractmethod
    async def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel: ...

    @abc.abstractmethod
    async def set_logged_model_tags(self, model_id: str, tags: Sequence[tuple[str, str]]) -> None: ...

    @abc.abstractmethod
    async def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove a tag; a missing tag is RESOURCE_DOES_NOT_EXIST (MLflow's rule, unlike run tags)."""

    @abc.abstractmethod
    async def log_logged_model_params(self, model_id: str, params: Sequence[tuple[str, str]]) -> None: ...

    @abc.abstractmethod
    async def log_model_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Record ``metrics`` (each with a ``model_id``) in the run's history and link them to their model,
        as MLflow's ``log_metric(..., model_id=...)`` does."""

    @abc.abstractmethod
    async def link_model_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Only link points already written to the run's history to their models (a server's log-metric and
        log-batch: the run's part goes through its writer). Points without a ``model_id`` are skipped."""

    @abc.abstractmethod
    async def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        """Record logged models as inputs of an active run (``run.inputs.model_inputs``), each once; the
        model ids are not looked up (MLflow's rule)."""

    @abc.abstractmethod
    async def log_model_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record logged models as outputs of an active run (``run.outputs.model_outputs``, with their
        step); a model already an output of the run is BAD_REQUEST, as in MLflow."""

    @abc.abstractmethod
    async def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: Sequence[Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> tuple[list[LoggedModel], str | None]: ...
