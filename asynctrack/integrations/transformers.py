"""Hugging Face Transformers: :class:`AsynctrackCallback`, a ``TrainerCallback``.

::

    from transformers import Trainer
    from asynctrack.integrations.transformers import AsynctrackCallback

    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[AsynctrackCallback()])
    trainer.train()

What it logs, like Transformers' own ``MLflowCallback`` but without waiting in the training loop: the
``TrainingArguments`` and the model's config as params (MLflow's truncation of long values), every
``on_log`` dict as metrics at ``state.global_step`` (numbers only; keys with characters MLflow does not
allow are cleaned), and with ``log_models=True`` the final model (``save_pretrained``) under ``model/``.
``on_train_end`` ends the run it started, queued behind everything logged (it does not wait for the store:
``TrainingRun.finish``).

Transformers tells callbacks nothing when training raises, so a run this callback started would be left
RUNNING; wrap ``trainer.train()`` in ``with asynctrack.start_run():`` (the callback then uses that run and
the ``with`` block ends it FAILED), or use ``asynctrack.autolog()``, which does that for you.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any

from asynctrack.integrations._require import require
from asynctrack.integrations._run import TrainingRun, check_every_n_step, flatten

__all__ = ["AsynctrackCallback"]

_transformers = require("transformers", "transformers", "asynctrack.integrations.transformers")
_TrainerCallback: Any = _transformers.TrainerCallback


class AsynctrackCallback(_TrainerCallback):  # type: ignore[misc]
    """Log a ``transformers.Trainer``'s arguments, model config and logs to asynctrack (world process zero
    only). Which run: ``run_id``; else the active run (left open); else a new one, ended at the end of
    training. ``log_every_n_step`` keeps one ``on_log`` call in n (by global step); ``flatten_params``
    flattens nested config values as ``outer.inner`` (``MLFLOW_FLATTEN_PARAMS`` in ``MLflowCallback``)."""

    def __init__(
        self,
        experiment_name: str | None = None,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        log_models: bool = False,
        log_system_metrics: bool | None = None,
        use_active: bool = True,
        log_every_n_step: int | None = None,
        flatten_params: bool = False,
    ) -> None:
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
        self.log_models = log_models
        self._every = log_every_n_step or 1
        self._flatten = flatten_params

    def _begin(self, args: Any, state: Any, model: Any) -> TrainingRun | None:
        if not state.is_world_process_zero:
            return None
        if self.run is not None and self.run.finished_status is None:
            return self.run
        kwargs = dict(self._run_kwargs)
        if kwargs["run_name"] is None and getattr(args, "run_name", None):
            kwargs["run_name"] = args.run_name
        run = self.run = TrainingRun(**kwargs)
        params: dict[str, Any] = {}
        config = getattr(model, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            params.update(config.to_dict())
        params.update(args.to_dict())  # the arguments win over a config key of the same name, as in MLflow
        if self._flatten:
            params = flatten(params, sep=".")
        run.log_params(params)
        return run

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._begin(args, state, model)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        run = self.run if self.run is not None else self._begin(args, state, kwargs.get("model"))
        if run is None or not logs:
            return
        step = int(state.global_step)
        if self._every > 1 and step % self._every:
            return
        run.log_metrics(logs, step)

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        run = self.run
        if run is None or not state.is_world_process_zero:
            return
        if self.log_models and model is not None and hasattr(model, "save_pretrained"):
            with tempfile.TemporaryDirectory() as tmp:
                model.save_pretrained(tmp)
                # Uploaded before the directory goes away: once at the end of training, not per step.
                run.client.log_artifacts(run.run_id, tmp, "model", synchronous=True)
        run.finish("FINISHED")

    def end_failed(self, exc: BaseException) -> None:
        """End the run this callback started as FAILED (KILLED for an interrupt), after a flush; autolog
        calls this when ``Trainer.train`` raises."""
        from asynctrack.integrations._run import status_of_exception

        if self.run is not None:
            self.run.finish(status_of_exception(exc))
