""":class:`SqlRegistry`: the :class:`RegistryStore` coroutines of both SQL stores, over the shared
operations; a backend supplies only how to run an operation (``_registry_write`` in one transaction,
``_registry_read`` on a reader, ``snapshot`` for the searches' several queries)."""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from typing import TypeVar, TypeVarTuple

from asynctrack.entities import ModelVersion, RegisteredModel
from asynctrack.store._registry import _ops as ops
from asynctrack.store._registry import _rows as rows
from asynctrack.store._registry._search import search_model_versions, search_registered_models
from asynctrack.store._registry._steps import Dialect, SqlOp
from asynctrack.store._registry_protocol import RegistryStore

__all__ = ["SqlRegistry"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _now() -> int:
    return time.time_ns() // 1_000_000


class SqlRegistry(RegistryStore):
    """Mixed into a SQL store, which implements the two runners and names its :class:`Dialect`."""

    registry_dialect: Dialect

    @abc.abstractmethod
    async def _registry_write(self, what: str, op: Callable[[*Ts], SqlOp[T]], *args: *Ts) -> T:
        """Run ``op(*args)`` in one write transaction (retried where the store retries)."""

    @abc.abstractmethod
    async def _registry_read(self, op: Callable[[*Ts], SqlOp[T]], *args: *Ts, snapshot: bool = False) -> T:
        """Run ``op(*args)`` on a reader; with ``snapshot``, every query sees the same snapshot."""

    async def _w(self, what: str, op: Callable[[Dialect, *Ts], SqlOp[T]], *args: *Ts) -> T:
        return await self._registry_write(what, op, self.registry_dialect, *args)

    async def create_registered_model(
        self, name: str, tags: Sequence[tuple[str, str]] = (), description: str | None = None
    ) -> RegisteredModel:
        return await self._w(
            "create_registered_model", ops.create_registered_model, name, list(tags), description, _now()
        )

    async def get_registered_model(self, name: str) -> RegisteredModel:
        return await self._registry_read(rows.registered_model, name)

    async def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return await self._w("rename_registered_model", ops.rename_registered_model, name, new_name, _now())

    async def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        return await self._w(
            "update_registered_model", ops.update_registered_model, name, description, _now()
        )

    async def delete_registered_model(self, name: str) -> None:
        await self._w("delete_registered_model", ops.delete_registered_model, name)

    async def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        await self._w("set_registered_model_tag", ops.set_registered_model_tag, name, key, value)

    async def delete_registered_model_tag(self, name: str, key: str) -> None:
        await self._w("delete_registered_model_tag", ops.delete_registered_model_tag, name, key)

    async def search_registered_models(
        self, filter_string: str, max_results: int, order_by: Sequence[str], page_token: str | None
    ) -> tuple[list[RegisteredModel], str | None]:
        return await self._registry_read(
            search_registered_models,
            self.registry_dialect,
            filter_string,
            max_results,
            list(order_by),
            page_token,
            snapshot=True,
        )

    async def get_latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        return await self._registry_read(ops.latest_versions_of, name, list(stages))

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
        return await self._w(
            "create_model_version",
            ops.create_model_version,
            name,
            source,
            run_id,
            list(tags),
            run_link,
            description,
            model_id,
            _now(),
        )

    async def get_model_version(self, name: str, version: int) -> ModelVersion:
        return await self._registry_read(rows.model_version, name, version)

    async def update_model_version(self, name: str, version: int, description: str | None) -> ModelVersion:
        return await self._w(
            "update_model_version", ops.update_model_version, name, version, description, _now()
        )

    async def transition_model_version_stage(
        self, name: str, version: int, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        return await self._w(
            "transition_model_version_stage",
            ops.transition_stage,
            name,
            version,
            stage,
            archive_existing_versions,
            _now(),
        )

    async def delete_model_version(self, name: str, version: int) -> None:
        await self._w("delete_model_version", ops.delete_model_version, name, version, _now())

    async def get_model_version_download_uri(self, name: str, version: int) -> str:
        return await self._registry_read(ops.download_uri, name, version)

    async def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        await self._w("set_model_version_tag", ops.set_model_version_tag, name, version, key, value)

    async def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        await self._w("delete_model_version_tag", ops.delete_model_version_tag, name, version, key)

    async def search_model_versions(
        self, filter_string: str, max_results: int, order_by: Sequence[str], page_token: str | None
    ) -> tuple[list[ModelVersion], str | None]:
        return await self._registry_read(
            search_model_versions,
            self.registry_dialect,
            filter_string,
            max_results,
            list(order_by),
            page_token,
            snapshot=True,
        )

    async def set_registered_model_alias(self, name: str, alias: str, version: int) -> None:
        await self._w("set_registered_model_alias", ops.set_registered_model_alias, name, alias, version)

    async def delete_registered_model_alias(self, name: str, alias: str) -> None:
        await self._w("delete_registered_model_alias", ops.delete_registered_model_alias, name, alias)

    async def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return await self._registry_read(ops.model_version_by_alias, name, alias)
