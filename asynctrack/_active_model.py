"""The active logged model of each thread (MLflow 3's ``set_active_model`` / ``get_active_model_id``).

A thread's active model starts as ``MLFLOW_ACTIVE_MODEL_ID`` (or the legacy ``_MLFLOW_ACTIVE_MODEL_ID``),
read when the thread first asks; ``set_active_model`` replaces it for the calling thread only, as in MLflow.
``maybe_active`` is the fluent logging calls' cheap test: it stays False until a model was set, the
variable was found, or an active run was found to have model outputs (:func:`note_run_outputs`: fluent
``log_metric`` links a point to the run's output models at its step), so the hot path of ``log_metric``
pays one global read.
"""

from __future__ import annotations

import os
import threading

from asynctrack.environment import _MLFLOW_ACTIVE_MODEL_ID, MLFLOW_ACTIVE_MODEL_ID

__all__ = ["clear", "get", "maybe_active", "note_run_outputs", "set_id"]


class _Local(threading.local):
    model_id: str | None = None
    read_env: bool = False


_local = _Local()
#: True once any thread may have an active model (set, or named by the environment at import).
maybe_active = bool(MLFLOW_ACTIVE_MODEL_ID.get() or _MLFLOW_ACTIVE_MODEL_ID.get())


def _from_env() -> str | None:
    return MLFLOW_ACTIVE_MODEL_ID.get() or _MLFLOW_ACTIVE_MODEL_ID.get()


def get() -> str | None:
    """This thread's active model id (None when there is none)."""
    loc = _local
    if not loc.read_env:
        loc.read_env = True
        if loc.model_id is None:
            loc.model_id = _from_env()
            if loc.model_id is not None:
                global maybe_active
                maybe_active = True
    return loc.model_id


def set_id(model_id: str | None) -> None:
    global maybe_active
    _local.read_env = True
    _local.model_id = model_id
    if model_id is not None:
        maybe_active = True


def note_run_outputs() -> None:
    """An active run has logged-model outputs: fluent logging leaves its hot path to link points to them."""
    global maybe_active
    maybe_active = True


def clear() -> None:
    """Forget this thread's active model and unset the environment variables, as MLflow's
    ``clear_active_model`` does."""
    os.environ.pop("MLFLOW_ACTIVE_MODEL_ID", None)
    os.environ.pop("_MLFLOW_ACTIVE_MODEL_ID", None)
    set_id(None)
