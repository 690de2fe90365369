"""Experiment endpoints: create, get, get-by-name, delete, restore, update, search, and experiment tags."""

from __future__ import annotations

from asynctrack._rest._messages import (
    CreateExperiment,
    CreateExperimentResponse,
    DeleteExperimentTag,
    Empty,
    ExperimentById,
    ExperimentResponse,
    GetExperimentByName,
    SearchExperiments,
    SearchExperimentsResponse,
    SetExperimentTag,
    UpdateExperiment,
)
from asynctrack._rest._wire import experiment_to_wire
from asynctrack.exceptions import RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.server._batch import at_path
from asynctrack.server._convert import opt_int, view_type
from asynctrack.server._locations import check_artifact_location
from asynctrack.server._request import required
from asynctrack.server._state import ServerState
from asynctrack.store.search import SEARCH_MAX_RESULTS_DEFAULT
from asynctrack.validation import check_experiment_name, check_experiment_tag

__all__ = [
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "get_experiment",
    "get_experiment_by_name",
    "restore_experiment",
    "search_experiments",
    "set_experiment_tag",
    "update_experiment",
]


async def create_experiment(state: ServerState, msg: CreateExperiment) -> CreateExperimentResponse:
    name = check_experiment_name(required(msg.name, "name"))
    tags = []
    for i, t in enumerate(msg.tags or ()):
        try:
            tags.append(check_experiment_tag(required(t.key, f"tags[{i}].key"), t.value or ""))
        except MlflowException as exc:
            raise at_path(exc, "key", f"tags[{i}].key") from None
    location = check_artifact_location(msg.artifact_location, state.config)  # hostile until checked
    store = state.store
    experiment_id = await state.call(
        lambda: store.create_experiment(name, location, tags), "create_experiment"
    )
    return CreateExperimentResponse(experiment_id=experiment_id)


async def get_experiment(state: ServerState, msg: ExperimentById) -> ExperimentResponse:
    experiment_id: str = required(msg.experiment_id, "experiment_id")
    experiment = await state.call(lambda: state.store.get_experiment(experiment_id), "get_experiment")
    return ExperimentResponse(experiment=experiment_to_wire(experiment))


async def get_experiment_by_name(state: ServerState, msg: GetExperimentByName) -> ExperimentResponse:
    name: str = required(msg.experiment_name, "experiment_name")
    experiment = await state.call(lambda: state.store.get_experiment_by_name(name), "get_experiment_by_name")
    if experiment is None:
        raise MlflowException(
            f"Could not find experiment with name '{name}'", error_code=RESOURCE_DOES_NOT_EXIST
        )
    return ExperimentResponse(experiment=experiment_to_wire(experiment))


async def delete_experiment(state: ServerState, msg: ExperimentById) -> Empty:
    experiment_id: str = required(msg.experiment_id, "experiment_id")
    await state.call(lambda: state.store.delete_experiment(experiment_id), "delete_experiment")
    return Empty()


async def restore_experiment(state: ServerState, msg: ExperimentById) -> Empty:
    experiment_id: str = required(msg.experiment_id, "experiment_id")
    await state.call(lambda: state.store.restore_experiment(experiment_id), "restore_experiment")
    return Empty()


async def update_experiment(state: ServerState, msg: UpdateExperiment) -> Empty:
    experiment_id: str = required(msg.experiment_id, "experiment_id")
    new_name = check_experiment_name(required(msg.new_name, "new_name"))
    await state.call(lambda: state.store.rename_experiment(experiment_id, new_name), "rename_experiment")
    return Empty()


async def set_experiment_tag(state: ServerState, msg: SetExperimentTag) -> Empty:
    experiment_id: str = required(msg.experiment_id, "experiment_id")
    key, value = check_experiment_tag(required(msg.key, "key"), msg.value or "")
    await state.call(lambda: state.store.set_experiment_tag(experiment_id, key, value), "set_experiment_tag")
    return Empty()


async def delete_experiment_tag(state: ServerState, msg: DeleteExperimentTag) -> Empty:
    experiment_id: str = required(msg.experiment_id, "experiment_id")
    key: str = required(msg.key, "key")
    await state.call(lambda: state.store.delete_experiment_tag(experiment_id, key), "delete_experiment_tag")
    return Empty()


async def search_experiments(state: ServerState, msg: SearchExperiments) -> SearchExperimentsResponse:
    """MLflow's experiment search. Without ``max_results`` a page holds 1000 experiments (MLflow's
    server would reject the request: its protobuf default is 0; every MLflow client sends the field)."""
    max_results = opt_int(msg.max_results, "max_results")
    view = view_type(msg.view_type, "view_type")
    store = state.store
    experiments, token = await state.call(
        lambda: store.search_experiments(
            view,
            SEARCH_MAX_RESULTS_DEFAULT if max_results is None else max_results,
            msg.filter or "",
            msg.order_by or [],
            msg.page_token or None,
        ),
        "search_experiments",
    )
    return SearchExperimentsResponse(
        experiments=[experiment_to_wire(e) for e in experiments] or None, next_page_token=token or None
    )
