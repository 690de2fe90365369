"""``MlflowClient``'s MLflow 3 logged-model methods, a base class (mixin) of the client.

Each method checks its input as MLflow 3.17.2's client does (``model_id`` non-empty; tags and params
stringified) and calls the tracking store's :class:`~asynctrack.store._logged_model_protocol.LoggedModelStore`
(the embedded SQLite store, PostgreSQL, or the REST store for an ``http(s)://`` tracking URI) on the
background loop. ``log_model_params`` and ``set_logged_model_tags`` look the model up first and report a
missing one with MLflow's INVALID_PARAMETER_VALUE message, as MLflow's client does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from asynctrack import _logging_calls as calls
from asynctrack.entities import LoggedModel, LoggedModelInput, LoggedModelOutput, LoggedModelStatus, Metric
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store import PagedList
from asynctrack.store._logged_model_protocol import LoggedModelStore

if TYPE_CHECKING:
    from asynctrack.pipeline._pipeline import Pipeline

__all__ = ["MlflowClientLoggedModels", "check_model_id"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def check_model_id(model_id: object) -> str:
    """MLflow's ``_validate_model_id_specified``."""
    if not model_id or not isinstance(model_id, str):
        raise MlflowException(
            f"`model_id` must be a non-empty string, but got {model_id!r}", error_code=INVALID_PARAMETER_VALUE
        )
    return model_id


def _pairs(items: Mapping[Any, Any] | None) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in (items or {}).items()]


def _status(status: object) -> LoggedModelStatus:
    if isinstance(status, LoggedModelStatus):
        return status
    try:
        return LoggedModelStatus(status if isinstance(status, str) else repr(status))
    except ValueError:
        raise MlflowException(
            f"Invalid logged model status {status!r}: expected one of READY, FAILED, PENDING",
            error_code=INVALID_PARAMETER_VALUE,
        ) from None


class MlflowClientLoggedModels:
    """The logged-model part of :class:`~asynctrack.MlflowClient`."""

    _tracking_uri: str

    def _pipeline(self) -> Pipeline:  # provided by MlflowClient
        raise NotImplementedError

    def _lm(self, pick: Callable[[LoggedModelStore], Callable[[*Ts], Awaitable[T]]], *args: *Ts) -> T:
        p = self._pipeline()
        store = p.store
        if not isinstance(store, LoggedModelStore):
            raise MlflowException(
                f"The store at {self._tracking_uri} keeps no MLflow 3 logged models; "
                "see docs/api-coverage.md.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        return p.call(pick(store), *args)

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a logged model (status PENDING) in ``experiment_id``; a random name when none is given.

        >>> model = client.create_logged_model("0", name="clf", params={"alpha": 0.1})  # doctest: +SKIP
        >>> model.model_uri                                                          # doctest: +SKIP
        'models:/m-...'
        """
        return self._lm(
            lambda s: s.create_logged_model,
            str(experiment_id),
            name,
            source_run_id,
            _pairs(tags),
            _pairs(params),
            model_type,
        )

    def get_logged_model(self, model_id: str) -> LoggedModel:
        """The logged model with its tags, params and linked metrics (RESOURCE_DOES_NOT_EXIST if none)."""
        check_model_id(model_id)
        return self._lm(lambda s: s.get_logged_model, model_id, False)

    def delete_logged_model(self, model_id: str) -> None:
        check_model_id(model_id)
        self._lm(lambda s: s.delete_logged_model, model_id)

    def finalize_logged_model(self, model_id: str, status: str | LoggedModelStatus) -> LoggedModel:
        """Set the model's status (``"READY"`` or ``"FAILED"``) and return the model."""
        check_model_id(model_id)
        return self._lm(lambda s: s.finalize_logged_model, model_id, _status(status))

    def _existing_logged_model(self, model_id: str, doing: str) -> None:
        try:
            self._lm(lambda s: s.get_logged_model, model_id, False)
        except MlflowException as exc:
            raise MlflowException(
                f"Failed to get logged model with ID {model_id}. You may not have access to the logged "
                f"model, or the logged model may have been deleted. {doing}",
                error_code=INVALID_PARAMETER_VALUE,
            ) from exc

    def log_model_params(self, model_id: str, params: dict[str, str]) -> None:
        """Record params on a logged model (each key once)."""
        check_model_id(model_id)
        self._existing_logged_model(
            model_id,
            "If you are attempting to log parameters to a Registered Model Version, this is not supported.",
        )
        self._lm(lambda s: s.log_logged_model_params, model_id, _pairs(params))

    def set_logged_model_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        """Set (or overwrite) tags on a logged model."""
        check_model_id(model_id)
        self._existing_logged_model(
            model_id,
            "If you are attempting to set tags on a Registered Model Version, use `set_model_version_tag` "
            "instead.",
        )
        self._lm(lambda s: s.set_logged_model_tags, model_id, _pairs(tags))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove a tag (RESOURCE_DOES_NOT_EXIST when the model has no such tag, as in MLflow)."""
        check_model_id(model_id)
        self._lm(lambda s: s.delete_logged_model_tag, model_id, key)

    def search_logged_models(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        datasets: list[dict[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: list[dict[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """Logged models of ``experiment_ids`` matching ``filter_string`` (MLflow's grammar), by pages.

        >>> client.search_logged_models(["0"], "metrics.acc > 0.9 AND params.lr = '0.1'",   # doctest: +SKIP
        ...     order_by=[{"field_name": "metrics.acc", "ascending": False}])
        """
        if not isinstance(experiment_ids, list) or not all(isinstance(e, str) for e in experiment_ids):
            raise MlflowException(
                f"experiment_ids must be a list of strings, got {type(experiment_ids)}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        models, token = self._lm(
            lambda s: s.search_logged_models,
            list(experiment_ids),
            filter_string,
            datasets,
            max_results,
            order_by,
            page_token,
        )
        return PagedList(models, token)

    def _log_model_inputs(self, run_id: str, models: list[LoggedModelInput]) -> None:
        """``log_inputs(models=...)``'s part, after the caller's earlier logging."""
        self._pipeline().sync_own_writes()
        self._lm(lambda s: s.log_model_inputs, run_id, models)

    def log_outputs(self, run_id: str, models: list[LoggedModelOutput]) -> None:
        """Record logged models as outputs of an active run (``run.outputs.model_outputs``), each with the
        step it was produced at; a model already an output of the run is BAD_REQUEST, as in MLflow.

        >>> client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=10)])  # doctest: +SKIP
        """
        calls.valid_run_id(run_id)
        items = list(models or ())
        for item in items:
            if not isinstance(item, LoggedModelOutput):
                raise MlflowException(
                    f"log_outputs takes LoggedModelOutput entities, got {type(item).__name__}",
                    error_code=INVALID_PARAMETER_VALUE,
                )
            check_model_id(item.model_id)
            if not isinstance(item.step, int) or isinstance(item.step, bool):
                raise MlflowException(
                    f"The step of a LoggedModelOutput must be an integer, got {item.step!r}",
                    error_code=INVALID_PARAMETER_VALUE,
                )
        self._pipeline().sync_own_writes()
        self._lm(lambda s: s.log_model_outputs, run_id, items)

    def _log_model_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Metric points linked to logged models: written at once (not through the pipeline's queue), to
        the run's history and to each model."""
        self._lm(lambda s: s.log_model_metrics, run_id, list(metrics))
