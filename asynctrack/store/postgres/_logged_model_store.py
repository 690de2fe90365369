"""MLflow 3's logged models in the PostgreSQL store: :class:`LoggedModelStore` over the store's pool
(``_logged_models.py`` does the work)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

import asyncpg
import numpy as np

from asynctrack.entities import LoggedModel, LoggedModelInput, LoggedModelOutput, LoggedModelStatus, Metric
from asynctrack.store._logged_model_protocol import LoggedModelStore
from asynctrack.store._protocol import MetricSeries
from asynctrack.store.postgres import _logged_models as lm
from asynctrack.store.postgres import _model_links
from asynctrack.store.sqlite._logged_models import check_model_name

__all__ = ["PostgresLoggedModels"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class PostgresLoggedModels(LoggedModelStore):
    """Mixed into :class:`~asynctrack.store.postgres.PostgresStore` (``_write``, ``_read``, ``log_batch``)."""

    if TYPE_CHECKING:  # provided by PostgresStore

        async def _write(
            self, what: str, fn: Callable[[asyncpg.Connection, *Ts], Awaitable[T]], *args: *Ts
        ) -> T: ...

        async def _read(self, fn: Callable[[asyncpg.Connection, *Ts], Awaitable[T]], *args: *Ts) -> T: ...

    log_batch: Callable[..., Awaitable[None]]

    async def _lw(self, what: str, fn: Callable[[asyncpg.Connection, *Ts], Awaitable[T]], *args: *Ts) -> T:
        return await self._write(what, fn, *args)

    async def _lr(self, fn: Callable[[asyncpg.Connection, *Ts], Awaitable[T]], *args: *Ts) -> T:
        return await self._read(fn, *args)

    async def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[tuple[str, str]] = (),
        params: Sequence[tuple[str, str]] = (),
        model_type: str | None = None,
    ) -> LoggedModel:
        check_model_name(name)
        return await self._lw(
            "create_logged_model",
            lm.create,
            str(experiment_id),
            name,
            source_run_id,
            list(tags),
            list(params),
            model_type,
        )

    async def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        return await self._lr(lm.get, model_id, allow_deleted)

    async def delete_logged_model(self, model_id: str) -> None:
        await self._lw("delete_logged_model", lm.delete, model_id)

    async def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        return await self._lw("finalize_logged_model", lm.finalize, model_id, status)

    async def set_logged_model_tags(self, model_id: str, tags: Sequence[tuple[str, str]]) -> None:
        await self._lw("set_logged_model_tags", lm.set_tags, model_id, list(tags))

    async def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        await self._lw("delete_logged_model_tag", lm.delete_tag, model_id, key)

    async def log_logged_model_params(self, model_id: str, params: Sequence[tuple[str, str]]) -> None:
        await self._lw("log_logged_model_params", lm.log_params, model_id, list(params))

    async def log_model_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        series = [
            MetricSeries(
                m.key,
                np.array([m.value], dtype=np.float64),
                np.array([m.timestamp], dtype=np.int64),
                np.array([m.step], dtype=np.int64),
            )
            for m in metrics
        ]
        await self.log_batch(run_id, series, [], [])
        await self.link_model_metrics(run_id, metrics)

    async def link_model_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        if any(m.model_id is not None for m in metrics):
            await self._lw("link_model_metrics", lm.link_metrics, run_id, list(metrics))

    async def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        await self._lw("log_model_inputs", _model_links.log_model_inputs, run_id, list(models))

    async def log_model_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        await self._lw("log_model_outputs", _model_links.log_model_outputs, run_id, list(models))

    async def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: Sequence[Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> tuple[list[LoggedModel], str | None]:
        return await self._lr(
            lm.search, list(experiment_ids), filter_string, datasets, max_results, order_by, page_token
        )
