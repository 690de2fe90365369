"""Keras 3: :class:`AsynctrackCallback`, a ``keras.callbacks.Callback``.

::

    from asynctrack.integrations.keras import AsynctrackCallback

    model.fit(x, y, epochs=5, callbacks=[AsynctrackCallback(log_every_n_step=10)])

Params: ``fit``'s (epochs, steps per epoch, ...), the optimizer's name and config (``optimizer/...``).
Metrics: each epoch's logs at step = epoch (``loss``, ``val_loss``, ...), and with ``log_every_n_step`` the
batch logs every n batches as ``batch/<name>`` at the global batch number (separate keys, so the epoch
curves keep one point per epoch). ``log_models=True`` saves the trained model (``model.keras``) under
``model/``. Keras tells callbacks nothing when ``fit`` raises: wrap it in ``with asynctrack.start_run():``
or use ``asynctrack.autolog()`` to have the run end FAILED.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

from asynctrack.integrations._require import require
from asynctrack.integrations._run import TrainingRun, check_every_n_step, flatten, status_of_exception

__all__ = ["AsynctrackCallback"]

_keras = require("keras", "keras", "asynctrack.integrations.keras")
_Callback: Any = _keras.callbacks.Callback


class AsynctrackCallback(_Callback):  # type: ignore[misc]
    """Log a Keras ``fit`` to asynctrack without waiting in the training loop. Which run: ``run_id``; else
    the active run (left open); else a new one, ended when ``fit`` ends."""

    def __init__(
        self,
        experiment_name: str | None = None,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        log_every_epoch: bool = True,
        log_every_n_step: int | None = None,
        log_models: bool = False,
        log_system_metrics: bool | None = None,
        use_active: bool = True,
    ) -> None:
        super().__init__()
        check_every_n_step(log_every_n_step)
        self._run_kwargs: dict[str, Any] = dict(
            run_id=run_id,
            experiment_name=experiment_name,
            run_name=run_name,
            tags=tags,
            tracking_uri=tracking_uri,
            log_system_metrics=log_system_metrics,
            use_active=use_active,
        )
        self.run: TrainingRun | None = None
        self.log_every_epoch = log_every_epoch
        self.log_every_n_step = log_every_n_step
        self.log_models = log_models
        self._batch = 0  # global batch number across epochs

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        run = self.run = TrainingRun(**self._run_kwargs)
        self._batch = 0
        params: dict[str, Any] = {k: v for k, v in (self.params or {}).items() if v is not None}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            params["optimizer_name"] = type(optimizer).__name__
            try:
                config = optimizer.get_config()
            except Exception:  # an optimizer without a config: its name is enough
                config = {}
            params.update(flatten({k: v for k, v in config.items() if k != "name"}, "optimizer"))
        run.log_params(params)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._batch += 1
        n = self.log_every_n_step
        if n is None or self.run is None or not logs or self._batch % n:
            return
        self.run.log_metrics(logs, self._batch, "batch/")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.log_every_epoch and self.run is not None and logs:
            self.run.log_metrics(logs, epoch)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        run = self.run
        if run is None:
            return
        if self.log_models:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.keras")
                self.model.save(path)
                run.client.log_artifact(run.run_id, path, "model", synchronous=True)
        run.finish("FINISHED")

    def end_failed(self, exc: BaseException) -> None:
        """End the run this callback started as FAILED (KILLED for an interrupt); autolog calls this when
        ``fit`` raises."""
        if self.run is not None:
            self.run.finish(status_of_exception(exc))
