"""A run's logged-model links over REST: ``models`` of log-inputs and the log-outputs endpoint
(``POST /runs/outputs``), checked as MLflow 3.17.2's handlers check them, written by the store's
``log_model_inputs`` / ``log_model_outputs`` (:mod:`asynctrack.store._logged_model_protocol`)."""

from __future__ import annotations

from collections.abc import Sequence

from asynctrack._rest._messages import Empty, LogOutputs
from asynctrack._rest._wire import ModelInputJ, model_output_from_wire
from asynctrack.entities import LoggedModelInput
from asynctrack.exceptions import MlflowException
from asynctrack.server._request import required
from asynctrack.server._state import ServerState
from asynctrack.store._logged_model_protocol import LoggedModelStore
from asynctrack.validation import check_run_id

__all__ = ["log_model_inputs", "log_outputs", "logged_model_store"]

ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"


def logged_model_store(state: ServerState) -> LoggedModelStore:
    """The server's store as a logged-model store; ENDPOINT_NOT_FOUND when its backend keeps none."""
    store = state.store
    if not isinstance(store, LoggedModelStore):
        raise MlflowException(
            "This server's backend store keeps no MLflow 3 logged models.", error_code=ENDPOINT_NOT_FOUND
        )
    return store


async def log_model_inputs(state: ServerState, run_id: str, models: Sequence[ModelInputJ]) -> None:
    """The ``models`` of a log-inputs request: each needs its ``model_id``."""
    items = [LoggedModelInput(required(m.model_id, "model_id")) for m in models]
    store = logged_model_store(state)
    await state.call(lambda: store.log_model_inputs(run_id, items), "log_inputs")


async def log_outputs(state: ServerState, msg: LogOutputs) -> Empty:
    """MLflow's LogOutputs: ``run_id`` and ``models`` required (an empty list still checks the run)."""
    run_id = check_run_id(required(msg.run_id, "run_id"))
    models = [model_output_from_wire(m) for m in required(msg.models, "models")]
    for m in models:
        required(m.model_id, "model_id")
    store = logged_model_store(state)
    await state.call(lambda: store.log_model_outputs(run_id, models), "log_outputs")
    return Empty()
