"""``mlflow.pytorch.autolog()`` for asynctrack: PyTorch Lightning training logged without code changes.

As in MLflow, this entry point covers Lightning (``lightning`` and ``pytorch_lightning``): each
``Trainer.fit`` gets an :class:`~asynctrack.integrations.lightning.AsynctrackLogger`. Only ``autolog`` is
here; MLflow's model flavour functions (``log_model``, ``load_model``, ...) raise an error saying they are
out of scope. See docs/integrations.md.
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
_FLAVOURS = ("lightning", "pytorch_lightning")
# mlflow.pytorch.autolog's own checkpoint callback settings; asynctrack logs the checkpoints the Trainer's
# ModelCheckpoint callbacks save, so these are set there instead.
_CHECKPOINT_DEFAULTS: dict[str, Any] = {
    "checkpoint_monitor": "val_loss",
    "checkpoint_mode": "min",
    "checkpoint_save_best_only": True,
    "checkpoint_save_weights_only": False,
    "checkpoint_save_freq": "epoch",
}


def autolog(
    log_every_n_epoch: int = 1,
    log_every_n_step: int | None = None,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    checkpoint: bool = True,
    checkpoint_monitor: str | None = "val_loss",
    checkpoint_mode: str = "min",
    checkpoint_save_best_only: bool = True,
    checkpoint_save_weights_only: bool = False,
    checkpoint_save_freq: int | str = "epoch",
    log_model_signatures: bool = True,
    log_system_metrics: bool | None = None,
) -> None:
    """Log every Lightning ``Trainer.fit`` to asynctrack, with ``mlflow.pytorch.autolog``'s arguments.

    - ``log_every_n_step``: log the step metrics every n steps (the Trainer's ``log_every_n_steps``);
      ``None`` keeps the Trainer's own setting. ``log_every_n_epoch`` must be 1: Lightning's epoch metrics
      are logged each epoch.
    - ``checkpoint`` (default): each checkpoint the Trainer saves is logged as an artifact as it is saved;
      ``checkpoint=False, log_models=True``: the final checkpoints, once fit ends; both False: none. Which
      checkpoints are saved is the Trainer's ``ModelCheckpoint``'s business: ``checkpoint_monitor`` and the
      other ``checkpoint_*`` arguments, if changed, are refused with a message saying so.
    - ``disable``, ``exclusive``, ``silent``, ``extra_tags``: as in :func:`asynctrack.autolog`, for
      Lightning only. ``log_system_metrics``: system metrics for the runs it starts.
    - ``log_datasets``, ``log_model_signatures``, ``disable_for_unsupported_versions`` concern MLflow's
      model flavour and are accepted; ``registered_model_name`` is warned about and ignored (asynctrack
      logs checkpoints, not registered models).
    """
    if disable:
        disable_flavours(_FLAVOURS)
        return
    if log_every_n_epoch != 1:
        raise ValueError(
            f"log_every_n_epoch={log_every_n_epoch!r} is not supported: asynctrack logs Lightning's epoch "
            "metrics every epoch (log_every_n_epoch=1); use log_every_n_step for step metrics"
        )
    check_every_n_step(log_every_n_step)
    given = {
        "checkpoint_monitor": checkpoint_monitor,
        "checkpoint_mode": checkpoint_mode,
        "checkpoint_save_best_only": checkpoint_save_best_only,
        "checkpoint_save_weights_only": checkpoint_save_weights_only,
        "checkpoint_save_freq": checkpoint_save_freq,
    }
    changed = sorted(k for k, v in given.items() if v != _CHECKPOINT_DEFAULTS[k])
    if changed:
        raise ValueError(
            f"asynctrack.pytorch.autolog() does not take {', '.join(changed)}: it logs the checkpoints the "
            "Trainer's own ModelCheckpoint callbacks save, so configure those instead "
            "(lightning.pytorch.callbacks.ModelCheckpoint(monitor=..., mode=..., save_top_k=...))"
        )
    if registered_model_name is not None and not silent:
        _log.warning(
            "asynctrack.pytorch.autolog(): registered_model_name=%r is ignored: asynctrack logs Lightning "
            "checkpoints as artifacts, not MLflow models to register",
            registered_model_name,
        )
    log_model: bool | str = "all" if checkpoint else bool(log_models)
    chosen = settings(log_every_n_step, log_model, silent, exclusive, extra_tags, log_system_metrics)
    enable(_FLAVOURS, chosen, "asynctrack.pytorch.autolog()")


__getattr__ = flavour_getattr(__name__)
