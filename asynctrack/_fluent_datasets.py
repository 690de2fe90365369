"""``mlflow.log_input`` and ``mlflow.log_inputs``: datasets the active run used, with their context, and
MLflow 3 logged models it used (``LoggedModelInput``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asynctrack._system_tags import MLFLOW_DATASET_CONTEXT as DATASET_CONTEXT_TAG
from asynctrack.data._datasets import to_entity
from asynctrack.entities import DatasetInput, InputTag, LoggedModelInput
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["log_input", "log_inputs"]


def _input(dataset: Any, context: str | None, tags: Mapping[str, str] | None) -> DatasetInput:
    """MLflow's tags for one input: the caller's, then the context (``mlflow.data.context``)."""
    items = [InputTag(str(k), str(v)) for k, v in (tags or {}).items()]
    if context:
        items.append(InputTag(DATASET_CONTEXT_TAG, context))
    return DatasetInput(dataset=to_entity(dataset), tags=items)


def log_input(
    dataset: Any = None,
    context: str | None = None,
    tags: Mapping[str, str] | None = None,
    model: LoggedModelInput | None = None,
) -> None:
    """Log that the active run (started if there is none) used ``dataset`` (``asynctrack.data.from_numpy``
    / ``from_pandas``, or a Dataset entity), in ``context`` (e.g. ``"training"``), with input ``tags``;
    and/or the logged ``model`` (``LoggedModelInput(model_id)``)."""
    from asynctrack.client import MlflowClient
    from asynctrack.fluent import _current

    if dataset is None and model is None:
        return
    run_id, _ = _current(None)
    MlflowClient().log_inputs(
        run_id,
        [] if dataset is None else [_input(dataset, context, tags)],
        None if model is None else [model],
    )


def log_inputs(
    datasets: Sequence[Any] | None = None,
    contexts: Sequence[str | None] | None = None,
    tags_list: Sequence[Mapping[str, str] | None] | None = None,
    models: Sequence[LoggedModelInput] | None = None,
) -> None:
    """:func:`log_input` for several datasets and models at once; ``contexts`` and ``tags_list``, when
    given, have one entry per dataset."""
    from asynctrack.client import MlflowClient
    from asynctrack.fluent import _current

    items = list(datasets or ())
    if not items and not models:
        return
    for name, values in (("contexts", contexts), ("tags_list", tags_list)):
        if values is not None and len(values) != len(items):
            raise MlflowException(
                f"log_inputs: {name} has {len(values)} entries for {len(items)} datasets; "
                "give one per dataset",
                error_code=INVALID_PARAMETER_VALUE,
            )
    run_id, _ = _current(None)
    inputs = [
        _input(d, None if contexts is None else contexts[i], None if tags_list is None else tags_list[i])
        for i, d in enumerate(items)
    ]
    MlflowClient().log_inputs(run_id, inputs, list(models or ()))
