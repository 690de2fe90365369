"""``mlflow.keras.autolog()`` for asynctrack: Keras 3 ``Model.fit`` logged without code changes.

Each ``fit`` gets an :class:`~asynctrack.integrations.keras.AsynctrackCallback`. Only ``autolog`` is here;
MLflow's model flavour functions (``log_model``, ``load_model``, ...) raise an error saying they are out of
scope. See docs/integrations.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from asynctrack._mlflow_names import flavour_getattr
from asynctrack.integrations._autolog import disable_flavours, enable, settings
from asynctrack.integrations._run import check_every_n_step

__all__ = ["autolog"]

_log = logging.getLogger("asynctrack")


def autolog(
    log_every_epoch: bool = True,
    log_every_n_steps: int | None = None,
    log_models: bool = True,
    log_model_signatures: bool = True,
    save_exported_model: bool = False,
    log_datasets: bool = True,
    log_input_examples: bool = False,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    save_model_kwargs: Mapping[str, Any] | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    log_system_metrics: bool | None = None,
) -> None:
    """Log every Keras ``Model.fit`` to asynctrack, with ``mlflow.keras.autolog``'s arguments.

    - ``log_every_epoch``: each epoch's logs at step = epoch; ``log_every_n_steps``: the batch logs every n
      batches (as ``batch/<name>``). As in MLflow, ``log_every_n_steps`` needs ``log_every_epoch=False``,
      and one of the two must be set.
    - ``log_models``: the trained model (``model.keras``) under ``model/`` when ``fit`` ends.
    - ``disable``, ``exclusive``, ``silent``, ``extra_tags``: as in :func:`asynctrack.autolog`, for Keras
      only. ``log_system_metrics``: system metrics for the runs it starts.
    - ``log_model_signatures``, ``log_datasets``, ``log_input_examples``, ``disable_for_unsupported_versions``
      concern MLflow's model flavour and are accepted; ``registered_model_name``, ``save_exported_model``
      and ``save_model_kwargs`` are warned about and ignored.
    """
    if disable:
        disable_flavours(["keras"])
        return
    # MLflow's MlflowCallback rules, with its words.
    if log_every_epoch and log_every_n_steps is not None:
        raise ValueError(
            "`log_every_n_steps` must be None if `log_every_epoch=True`, received "
            f"`log_every_epoch={log_every_epoch}` and `log_every_n_steps={log_every_n_steps}`."
        )
    if not log_every_epoch and log_every_n_steps is None:
        raise ValueError(
            "`log_every_n_steps` must be specified if `log_every_epoch=False`, received "
            f"`log_every_epoch={log_every_epoch}` and `log_every_n_steps={log_every_n_steps}`."
        )
    check_every_n_step(log_every_n_steps)
    ignored = [
        name
        for name, value in (
            ("registered_model_name", registered_model_name),
            ("save_exported_model", save_exported_model or None),
            ("save_model_kwargs", save_model_kwargs),
        )
        if value is not None
    ]
    if ignored and not silent:
        _log.warning(
            "asynctrack.keras.autolog(): %s ignored: asynctrack saves the model as model.keras, not as an "
            "MLflow model",
            ", ".join(ignored),
        )
    chosen = settings(
        log_every_n_steps, log_models, silent, exclusive, extra_tags, log_system_metrics, log_every_epoch
    )
    enable(["keras"], chosen, "asynctrack.keras.autolog()")


__getattr__ = flavour_getattr(__name__)
