"""``MlflowClient``'s model-registry methods, a base class (mixin) of the client.

Each method checks its input with MLflow's rules (``_registry_checks.py``) and calls the tracking store's
registry (:class:`~asynctrack.store._registry_protocol.RegistryStore`: the embedded SQLite store, or the
REST store for an ``http(s)://`` tracking URI) on the background loop. As MLflow's client does, the
methods that act on an existing model look the model up first, so a missing model is reported as
``Registered Model with name=... not found`` whichever server answers, and prompts (models tagged
``mlflow.prompt.is_prompt``) are not models here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from asynctrack import _registry_checks as checks
from asynctrack._model_uri import is_models_uri, parse_model_uri
from asynctrack._registry_uri import registry_uri_or
from asynctrack._system_tags import MLFLOW_PROMPT_IS_PROMPT as IS_PROMPT_TAG
from asynctrack.entities import ModelVersion, RegisteredModel
from asynctrack.entities._registry import ALL_STAGES
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.pipeline._registry import get_pipeline
from asynctrack.store import PagedList
from asynctrack.store._registry_protocol import RegistryStore
from asynctrack.store.search._registry import (
    MODEL_VERSION_MAX_RESULTS_DEFAULT,
    REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
)

if TYPE_CHECKING:
    from asynctrack.pipeline._pipeline import Pipeline

__all__ = ["MlflowClientRegistry", "resolve_model_uri"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _model_not_found(name: str) -> MlflowException:
    return MlflowException(
        f"Registered Model with name={name!r} not found.", error_code=RESOURCE_DOES_NOT_EXIST
    )


def _no_prompt_tags(tags: Mapping[str, Any] | None) -> None:
    if tags and IS_PROMPT_TAG in tags:
        raise MlflowException("Prompts cannot be registered as models.", error_code=INVALID_PARAMETER_VALUE)


def _tags(tags: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    return [checks.check_registry_tag(k, v) for k, v in (tags or {}).items()]


class MlflowClientRegistry:
    """The registry half of :class:`~asynctrack.MlflowClient`."""

    _tracking_uri: str
    _registry_uri: str | None

    def _pipeline(self) -> Pipeline:  # provided by MlflowClient
        raise NotImplementedError

    def _registry(self) -> tuple[Pipeline, RegistryStore]:
        uri = self._registry_uri or registry_uri_or(self._tracking_uri)
        p = self._pipeline() if uri == self._tracking_uri else get_pipeline(uri)
        store = p.store
        if not isinstance(store, RegistryStore):
            raise MlflowException(
                f"The store at {uri} has no model registry in asynctrack yet "
                "(the embedded SQLite store and MLflow-compatible servers have one); "
                "see docs/api-coverage.md.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        return p, store

    def _reg(self, pick: Callable[[RegistryStore], Callable[[*Ts], Awaitable[T]]], *args: *Ts) -> T:
        """``await store.<method>(*args)`` on the registry's store, ``pick`` naming the method."""
        p, store = self._registry()
        return p.call(pick(store), *args)

    def _reg_read(
        self, pick: Callable[[RegistryStore], Callable[[*Ts], Coroutine[Any, Any, T]]], *args: *Ts
    ) -> T:
        """:meth:`_reg` for a read, which the embedded store answers in the calling thread."""
        p, store = self._registry()
        return p.read(pick(store), *args)

    def _existing(self, name: str) -> RegisteredModel:
        """The model (MLflow's client looks it up before acting on it); a prompt is reported missing."""
        model: RegisteredModel = self._reg_read(
            lambda s: s.get_registered_model, checks.check_model_name(name)
        )
        if IS_PROMPT_TAG in model.tags:
            raise _model_not_found(name)
        return model

    # -- registered models
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create a registered model (RESOURCE_ALREADY_EXISTS if the name is taken)."""
        _no_prompt_tags(tags)
        return self._reg(
            lambda s: s.create_registered_model, checks.check_model_name(name), _tags(tags), description
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._existing(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        new = checks.check_new_model_name(new_name)
        self._existing(name)
        return self._reg(lambda s: s.rename_registered_model, name, new)

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        self._existing(name)
        return self._reg(lambda s: s.update_registered_model, name, description)

    def delete_registered_model(self, name: str) -> None:
        """Delete the model, its versions, tags and aliases."""
        self._existing(name)
        self._reg(lambda s: s.delete_registered_model, name)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        k, v = checks.check_registry_tag(key, value)
        self._existing(name)
        self._reg(lambda s: s.set_registered_model_tag, name, k, v)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        checks.check_registry_tag_key(key)
        self._existing(name)
        self._reg(lambda s: s.delete_registered_model_tag, name, key)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """One page of registered models matching MLflow's filter (``name``, ``tags.<key>``)."""
        items, token = self._reg_read(
            lambda s: s.search_registered_models,
            filter_string or "",
            max_results,
            list(order_by or ()),
            page_token,
        )
        return PagedList(items, token)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each stage (deprecated in MLflow along with stages)."""
        self._existing(name)
        return self._reg_read(lambda s: s.get_latest_versions, name, list(stages or ()))

    # -- model versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        model_id: str | None = None,
    ) -> ModelVersion:
        """A new version of ``name`` from ``source`` (a ``runs:/``, ``models:/`` or artifact URI); a
        version is READY at once here, so ``await_creation_for`` has nothing to wait for."""
        _no_prompt_tags(tags)
        checks.check_model_name(name)
        if not source:
            raise MlflowException(
                "Missing value for required parameter 'source'.", error_code=INVALID_PARAMETER_VALUE
            )
        return self._reg(
            lambda s: s.create_model_version,
            name,
            source,
            run_id,
            _tags(tags),
            run_link,
            description,
            model_id,
        )

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        number = checks.check_version(version)
        mv: ModelVersion = self._reg_read(
            lambda s: s.get_model_version, checks.check_model_name(name), number
        )
        if IS_PROMPT_TAG in mv.tags:
            raise _model_not_found(name)
        return mv

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        self._existing(name)
        return self._reg(lambda s: s.update_model_version, name, checks.check_version(version), description)

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        """Move a version to ``stage`` (None, Staging, Production, Archived; any case); with
        ``archive_existing_versions`` the other versions in that stage become Archived."""
        self._existing(name)
        return self._reg(
            lambda s: s.transition_model_version_stage,
            name,
            checks.check_version(version),
            stage,
            archive_existing_versions,
        )

    def delete_model_version(self, name: str, version: str | int) -> None:
        self._existing(name)
        self._reg(lambda s: s.delete_model_version, name, checks.check_version(version))

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        """Where the version's files are (its source, or what a ``models:/`` source pointed at)."""
        self._existing(name)
        return self._reg_read(lambda s: s.get_model_version_download_uri, name, checks.check_version(version))

    def get_model_version_stages(self, name: str, version: str | int) -> list[str]:
        return list(ALL_STAGES)

    def _version_or_stage(self, name: str, version: str | int | None, stage: str | None) -> int:
        if version is None and stage is None:
            raise MlflowException("version or stage must be set.", error_code=INVALID_PARAMETER_VALUE)
        if version is not None and stage is not None:
            raise MlflowException(
                "version and stage cannot be set together.", error_code=INVALID_PARAMETER_VALUE
            )
        if stage is not None:
            latest = self.get_latest_versions(name, [stage])
            if not latest:
                raise MlflowException(f"Could not find any model version for {stage} stage")
            return int(latest[0].version)
        return checks.check_version(version)

    def set_model_version_tag(
        self,
        name: str,
        version: str | int | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        number = self._version_or_stage(name, version, stage)
        k, v = checks.check_registry_tag(key, value)
        self._existing(name)
        self._reg(lambda s: s.set_model_version_tag, name, number, k, v)

    def delete_model_version_tag(
        self, name: str, version: str | int | None = None, key: str | None = None, stage: str | None = None
    ) -> None:
        number = self._version_or_stage(name, version, stage)
        checked = checks.check_registry_tag_key(key)
        self._existing(name)
        self._reg(lambda s: s.delete_model_version_tag, name, number, checked)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = MODEL_VERSION_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """One page of versions matching MLflow's filter (``name``, ``version_number``, ``run_id``,
        ``source_path``, ``tags.<key>``); newest update first unless ``order_by`` says otherwise."""
        items, token = self._reg_read(
            lambda s: s.search_model_versions,
            filter_string or "",
            max_results,
            list(order_by or ()),
            page_token,
        )
        return PagedList(items, token)

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """A new version of ``dst_name`` (created if missing) from the version ``src_model_uri`` names."""
        if not is_models_uri(src_model_uri):
            raise MlflowException(
                f"Unsupported source model URI: '{src_model_uri}'. The `copy_model_version` API only copies "
                "models stored in the 'models:/' scheme."
            )
        try:
            name, version = resolve_model_uri(self, src_model_uri)
            src = self.get_model_version(name, version)
        except MlflowException as exc:
            raise MlflowException(
                f"Failed to fetch model version from source model URI: '{src_model_uri}'. "
                f"Error: {exc.message}"
            ) from exc
        try:
            self.create_registered_model(dst_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        return self.create_model_version(
            dst_name,
            f"models:/{src.name}/{src.version}",
            src.run_id,
            src.tags,
            src.run_link,
            src.description,
            model_id=src.model_id,
        )

    # -- aliases
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""
        checks.check_model_name(name)
        checks.check_new_alias(alias)
        number = checks.check_version(version)
        self._existing(name)
        self._reg(lambda s: s.set_registered_model_alias, name, alias, number)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        checks.check_model_name(name)
        checks.check_alias(alias)
        self._existing(name)
        self._reg(lambda s: s.delete_registered_model_alias, name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        checks.check_model_name(name)
        checks.check_alias(alias)
        mv: ModelVersion = self._reg_read(lambda s: s.get_model_version_by_alias, name, alias)
        if IS_PROMPT_TAG in mv.tags:
            raise _model_not_found(name)
        return mv


def resolve_model_uri(client: MlflowClientRegistry, uri: str) -> tuple[str, int]:
    """The (name, version) a ``models:/<name>/...`` URI names: a version number, an alias, a stage's
    newest version or (``latest``) the newest version of any stage."""
    parsed = parse_model_uri(uri)
    if parsed.model_id is not None:
        raise MlflowException(
            f"{uri} names a logged model (MLflow 3's models:/<model_id>), which asynctrack does not keep; "
            "see docs/api-coverage.md.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    name = parsed.name
    assert name is not None
    if parsed.version is not None:
        return name, int(parsed.version)
    if parsed.alias is not None:
        return name, int(client.get_model_version_by_alias(name, parsed.alias).version)
    latest = client.get_latest_versions(name, None if parsed.stage is None else [parsed.stage])
    if not latest:
        where = "" if parsed.stage is None else f" and stage '{parsed.stage}'"
        raise MlflowException(f"No versions of model with name '{name}'{where} found")
    return name, max(int(mv.version) for mv in latest)
