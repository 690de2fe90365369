"""``mlflow.transformers.autolog()`` for asynctrack: Hugging Face ``Trainer`` runs logged without code
changes.

MLflow's own ``transformers.autolog`` only keeps its other flavours from logging the sub-models a
``Trainer`` builds (the logging itself is Transformers' ``MLflowCallback``); asynctrack's gives each
``Trainer`` an :class:`~asynctrack.integrations.transformers.AsynctrackCallback`, and ends the run FAILED
(KILLED on Ctrl-C) when ``train()`` raises. Only ``autolog`` is here; MLflow's model flavour functions
(``log_model``, ``load_model``, ...) raise an error saying they are out of scope. See docs/integrations.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asynctrack._mlflow_names import flavour_getattr
from asynctrack.integrations._autolog import disable_flavours, enable, settings
from asynctrack.integrations._run import check_every_n_step

__all__ = ["autolog"]


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = False,
    log_models: bool = False,
    log_datasets: bool = False,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: Mapping[str, Any] | None = None,
    log_every_n_step: int | None = None,
    log_system_metrics: bool | None = None,
) -> None:
    """Log every Hugging Face ``Trainer`` to asynctrack, with ``mlflow.transformers.autolog``'s arguments.

    - ``log_models``: the final model's ``save_pretrained`` files under ``model/``.
    - ``disable``, ``exclusive``, ``silent``, ``extra_tags``: as in :func:`asynctrack.autolog`, for
      Transformers only; plus ``log_every_n_step`` (each n-th ``on_log``) and ``log_system_metrics``.
    - ``log_input_examples``, ``log_model_signatures``, ``log_datasets``,
      ``disable_for_unsupported_versions`` concern MLflow's model flavour and are accepted.
    """
    if disable:
        disable_flavours(["transformers"])
        return
    check_every_n_step(log_every_n_step)
    chosen = settings(log_every_n_step, log_models, silent, exclusive, extra_tags, log_system_metrics)
    enable(["transformers"], chosen, "asynctrack.transformers.autolog()")


__getattr__ = flavour_getattr(__name__)
