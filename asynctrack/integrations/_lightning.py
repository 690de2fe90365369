"""The PyTorch Lightning ``Logger``, built for whichever package is in use: ``lightning``
(``lightning.pytorch``) or the older ``pytorch_lightning``. They are separate packages with separate base
classes, so the class is made once per package by :func:`logger_class`;
``asynctrack.integrations.lightning`` and ``asynctrack.integrations.pytorch_lightning`` each expose theirs as
``AsynctrackLogger``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from asynctrack.integrations._run import TrainingRun, check_every_n_step, flatten, status_of_exception

__all__ = ["logger_class"]

_log = logging.getLogger("asynctrack")

_classes: dict[str, type] = {}

# Lightning's finalize(status) words -> MLflow's run statuses.
_STATUSES = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED"}


def logger_class(package: Any) -> type:
    """``AsynctrackLogger`` for ``package`` (the ``lightning.pytorch`` or ``pytorch_lightning`` module)."""
    name = package.__name__
    cls = _classes.get(name)
    if cls is None:
        cls = _classes[name] = _build(package)
    return cls


def _build(pl: Any) -> type:
    from lightning_utilities.core.rank_zero import rank_zero_only

    base = pl.loggers.Logger
    rank_zero_experiment = pl.loggers.logger.rank_zero_experiment

    def rank() -> int:
        # Lightning sets the global rank on this function object (shared by both packages) in each process.
        return int(getattr(rank_zero_only, "rank", 0) or 0)

    class AsynctrackLogger(base):  # type: ignore[misc,valid-type]
        """A Lightning logger writing to asynctrack without ever waiting in the training loop.

        Hyperparameters become params (nested ones flattened as ``outer/inner``; MLflow's truncation of
        long values), ``log_metrics`` queues every value at Lightning's global step, ``finalize`` ends the run
        it started as FINISHED, FAILED (an exception) or KILLED (Ctrl-C), queued behind everything logged
        (without waiting for the store: ``TrainingRun.finish``).
        ``log_model`` is Lightning's ``MLFlowLogger`` option: ``True`` uploads the checkpoints of each
        ``ModelCheckpoint`` when training ends, ``"all"`` each one as it is saved. Under DDP only global
        rank 0 logs (the other ranks never start a run).

        Which run: ``run_id``; else the active run (left open); else a new one in ``experiment_name``.
        """

        LOGGER_JOIN_CHAR = "-"

        def __init__(
            self,
            experiment_name: str | None = None,
            run_name: str | None = None,
            tracking_uri: str | None = None,
            tags: Mapping[str, Any] | None = None,
            run_id: str | None = None,
            log_model: bool | str = False,
            prefix: str = "",
            log_system_metrics: bool | None = None,
            log_every_n_step: int | None = None,
            use_active: bool = True,
        ) -> None:
            super().__init__()
            if log_model not in (True, False, "all"):
                raise ValueError(f"log_model must be True, False or 'all', got {log_model!r}")
            check_every_n_step(log_every_n_step)
            self.run = TrainingRun(
                run_id=run_id,
                experiment_name=experiment_name,
                run_name=run_name,
                tags=tags,
                tracking_uri=tracking_uri,
                log_system_metrics=log_system_metrics,
                use_active=use_active,
            )
            self._log_model = log_model
            self._prefix = prefix + self.LOGGER_JOIN_CHAR if prefix else ""
            self._every = log_every_n_step or 1
            self._checkpoint_callbacks: list[Any] = []
            self._uploaded: dict[str, float] = {}  # checkpoint path -> mtime uploaded

        # -- Lightning's Logger interface
        @property
        def name(self) -> str | None:
            return self.run.experiment_name or "asynctrack"

        @property
        def version(self) -> str | None:
            return self.run.run_id if rank() == 0 else None

        @property
        @rank_zero_experiment  # type: ignore[untyped-decorator]
        def experiment(self) -> Any:
            """The ``MlflowClient`` of the run (``logger.experiment.log_text(logger.run_id, ...)``); Lightning
            reads it on every rank at setup, so other ranks get Lightning's dummy and start no run."""
            return self.run.client

        @property
        def run_id(self) -> str | None:
            return self.run.run_id if rank() == 0 else None

        @rank_zero_only  # type: ignore[untyped-decorator]
        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            if isinstance(params, argparse.Namespace):
                params = vars(params)
            elif not isinstance(params, Mapping):
                params = dict(params) if params is not None else {}
            self.run.log_params(flatten(params))

        def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
            # Once per step: rank zero's check inline rather than through ``rank_zero_only``, whose
            # ``*args, **kwargs`` wrapper costs a frame and a dict per call (about 2 µs after a step).
            if getattr(rank_zero_only, "rank", 0):
                return
            if step is None:
                step = 0
            elif type(step) is not int:
                step = int(step)
            if self._every == 1 or not step % self._every:
                self.run.log_metrics(metrics, step, self._prefix)

        def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
            if rank() != 0 or not self._log_model:
                return
            if checkpoint_callback not in self._checkpoint_callbacks:
                self._checkpoint_callbacks.append(checkpoint_callback)
            if self._log_model == "all" or getattr(checkpoint_callback, "save_top_k", None) == -1:
                # Lightning's rule: "all", or True while every checkpoint is kept, uploads each one as it is
                # saved. Lightning may delete or overwrite the file once a better one is saved, so it is
                # uploaded now (checkpoints are rare next to steps), not later from a queue.
                self._upload_checkpoints(checkpoint_callback, wait=True)

        @rank_zero_only  # type: ignore[untyped-decorator]
        def finalize(self, status: str = "success") -> None:
            if not self.run.started:
                return
            mlflow_status = _STATUSES.get(status, "FINISHED")
            if mlflow_status == "FAILED":
                # Lightning calls finalize("failed") from inside its ``except`` block, for Ctrl-C too.
                mlflow_status = status_of_exception(sys.exc_info()[1]) if sys.exc_info()[1] else "FAILED"
            if self._log_model is True:
                for cb in self._checkpoint_callbacks:
                    self._upload_checkpoints(cb, wait=False)
            self.run.finish(mlflow_status)

        # -- checkpoints
        def _upload_checkpoints(self, cb: Any, wait: bool) -> None:
            paths = [
                *getattr(cb, "best_k_models", {}).keys(),
                getattr(cb, "best_model_path", ""),
                getattr(cb, "last_model_path", ""),
            ]
            for path in paths:
                if not path or not os.path.isfile(path):
                    continue
                mtime = os.path.getmtime(path)
                if self._uploaded.get(path) == mtime:
                    continue
                self._uploaded[path] = mtime
                if wait:
                    self.run.client.log_artifact(self.run.run_id, path, "checkpoints", synchronous=True)
                else:
                    self.run.log_artifact(path, "checkpoints")

    AsynctrackLogger.__module__ = f"asynctrack.integrations.{pl.__name__.split('.')[0]}"
    return AsynctrackLogger
