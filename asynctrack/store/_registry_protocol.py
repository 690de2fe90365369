"""The async model-registry protocol: registered models, model versions, their tags and aliases.

Kept apart from :class:`~asynctrack.store.AbstractStore` so a backend adds the registry on its own
(the embedded SQLite store and the REST store implement it; PostgreSQL can later). Semantics, errors and
messages are those of MLflow's SQL registry store: names are unique, versions are numbered from 1 per
model and never reused, a deleted version is gone for every read, aliases point at versions.

Inputs arrive checked (``asynctrack/_registry_checks.py``); a store still raises MLflow's
RESOURCE_DOES_NOT_EXIST / RESOURCE_ALREADY_EXISTS for the state it holds.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from asynctrack.entities import ModelVersion, RegisteredModel

__all__ = ["RegistryStore"]


class RegistryStore(abc.ABC):
    """Coroutines over one model registry."""

    # -- registered models
    @abc.abstractmethod
    async def create_registered_model(
        self, name: str, tags: Sequence[tuple[str, str]] = (), description: str | None = None
    ) -> RegisteredModel: ...

    @abc.abstractmethod
    async def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    async def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    async def update_registered_model(self, name: str, description: str | None) -> RegisteredModel: ...

    @abc.abstractmethod
    async def delete_registered_model(self, name: str) -> None:
        """Delete the model with its versions, tags and aliases."""

    @abc.abstractmethod
    async def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    async def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag; a missing tag is not an error (a missing model is)."""

    @abc.abstractmethod
    async def search_registered_models(
        self, filter_string: str, max_results: int, order_by: Sequence[str], page_token: str | None
    ) -> tuple[list[RegisteredModel], str | None]: ...

    @abc.abstractmethod
    async def get_latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when empty)."""

    # -- model versions
    @abc.abstractmethod
    async def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[tuple[str, str]] = (),
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion: ...

    @abc.abstractmethod
    async def get_model_version(self, name: str, version: int) -> ModelVersion: ...

    @abc.abstractmethod
    async def update_model_version(
        self, name: str, version: int, description: str | None
    ) -> ModelVersion: ...

    @abc.abstractmethod
    async def transition_model_version_stage(
        self, name: str, version: int, stage: str, archive_existing_versions: bool
    ) -> ModelVersion: ...

    @abc.abstractmethod
    async def delete_model_version(self, name: str, version: int) -> None: ...

    @abc.abstractmethod
    async def get_model_version_download_uri(self, name: str, version: int) -> str: ...

    @abc.abstractmethod
    async def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None: ...

    @abc.abstractmethod
    async def delete_model_version_tag(self, name: str, version: int, key: str) -> None: ...

    @abc.abstractmethod
    async def search_model_versions(
        self, filter_string: str, max_results: int, order_by: Sequence[str], page_token: str | None
    ) -> tuple[list[ModelVersion], str | None]: ...

    # -- aliases
    @abc.abstractmethod
    async def set_registered_model_alias(self, name: str, alias: str, version: int) -> None: ...

    @abc.abstractmethod
    async def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    @abc.abstractmethod
    async def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at; ``latest`` (any case) is the newest version of any stage."""
