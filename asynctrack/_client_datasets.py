"""``MlflowClient.log_inputs``, a base class (mixin) of the client: dataset and logged-model inputs of a
run, checked with MLflow's rules and written straight to the store (ordered after the caller's earlier
logging)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from asynctrack import _logging_calls as calls
from asynctrack.entities import DatasetInput, LoggedModelInput
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

if TYPE_CHECKING:
    from asynctrack.pipeline._pipeline import Pipeline

__all__ = ["MlflowClientDatasets", "check_dataset_inputs", "check_model_inputs"]

# MLflow's limits (mlflow/utils/validation.py).
_LIMITS = (("name", 500), ("digest", 36), ("source", 65535), ("schema", 1048575), ("profile", 16777215))
_MAX_TAG_KEY = 255
_MAX_TAG_VALUE = 500


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def check_dataset_inputs(datasets: Sequence[Any]) -> list[DatasetInput]:
    """``datasets`` as a list of DatasetInput, or MLflow's error for the first bad one."""
    out = []
    for item in datasets:
        if not isinstance(item, DatasetInput):
            raise _invalid(f"log_inputs takes DatasetInput entities, got {type(item).__name__}")
        ds = item.dataset
        if ds is None:
            raise _invalid("Dataset cannot be None")
        for field in ("name", "digest", "source_type", "source"):
            if getattr(ds, field) is None:
                raise _invalid(f"Dataset {field} cannot be None")
        for field, limit in _LIMITS:
            value = getattr(ds, field)
            if value is not None and len(value) > limit:
                raise _invalid(f"'{field}' exceeds the maximum length of {limit} characters")
        for tag in item.tags:
            if tag.key is None:
                raise _invalid("InputTag key cannot be None")
            if tag.value is None:
                raise _invalid("InputTag value cannot be None")
            if len(tag.key) > _MAX_TAG_KEY:
                raise _invalid(f"'key' exceeds the maximum length of {_MAX_TAG_KEY} characters")
            if len(tag.value) > _MAX_TAG_VALUE:
                raise _invalid(f"'value' exceeds the maximum length of {_MAX_TAG_VALUE} characters")
        out.append(item)
    return out


def check_model_inputs(models: Sequence[Any]) -> list[LoggedModelInput]:
    """``models`` as a list of LoggedModelInput with non-empty ids, or an INVALID_PARAMETER_VALUE."""
    out = []
    for item in models:
        if not isinstance(item, LoggedModelInput):
            raise _invalid(f"log_inputs takes LoggedModelInput entities as models, got {type(item).__name__}")
        if not item.model_id or not isinstance(item.model_id, str):
            raise _invalid(f"`model_id` must be a non-empty string, but got {item.model_id!r}")
        out.append(item)
    return out


class MlflowClientDatasets:
    def _pipeline(self) -> Pipeline:  # provided by MlflowClient
        raise NotImplementedError

    # MlflowClientLoggedModels's (a later base of MlflowClient): only declared here.
    _log_model_inputs: Callable[[str, list[LoggedModelInput]], None]

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        """Record inputs of an active run (MLflow's ``log_inputs``): datasets, each kept once per experiment
        by (name, digest) and a run's use of it once, with the tags given first; and MLflow 3 logged models
        (``LoggedModelInput(model_id)``, ``run.inputs.model_inputs``), each once.

        >>> client.log_inputs(run_id, models=[LoggedModelInput(model.model_id)])  # doctest: +SKIP
        """
        calls.valid_run_id(run_id)
        inputs = check_dataset_inputs(list(datasets or ()))
        model_inputs = check_model_inputs(list(models or ()))
        if inputs:
            p = self._pipeline()
            p.sync_own_writes()
            p.call(p.store.log_inputs, run_id, inputs)
        if model_inputs:
            self._log_model_inputs(run_id, model_inputs)
