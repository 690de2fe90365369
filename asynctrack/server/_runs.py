"""Run endpoints: create, get, update, delete, restore, search."""

from __future__ import annotations

from asynctrack._rest._messages import (
    CreateRun,
    Empty,
    GetRun,
    RunById,
    RunInfoResponse,
    RunResponse,
    SearchRuns,
    SearchRunsResponse,
    UpdateRun,
)
from asynctrack._rest._wire import run_info_to_wire, run_to_wire
from asynctrack.entities import RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.server._batch import at_path
from asynctrack.server._convert import now_ms, opt_int, run_status, view_type
from asynctrack.server._request import API_DOCS_HINT, invalid, required
from asynctrack.server._state import ServerState
from asynctrack.store.search import SEARCH_MAX_RESULTS_DEFAULT, SEARCH_MAX_RESULTS_THRESHOLD
from asynctrack.validation import check_run_id, check_tag

__all__ = ["create_run", "delete_run", "get_run", "restore_run", "search_runs", "update_run"]


async def create_run(state: ServerState, msg: CreateRun) -> RunResponse:
    """A new RUNNING run. ``experiment_id`` is required (MLflow's SQL store fails without one; every
    MLflow client sends it); ``start_time`` defaults to now, ``user_id`` to ``""``."""
    experiment_id: str = required(msg.experiment_id, "experiment_id")
    start_time = opt_int(msg.start_time, "start_time")
    tags = []
    for i, t in enumerate(msg.tags or ()):
        try:
            tags.append(RunTag(*check_tag(required(t.key, f"tags[{i}].key"), t.value or "")))
        except MlflowException as exc:
            raise at_path(exc, "key", f"tags[{i}].key") from None
    store = state.store
    run = await state.call(
        lambda: store.create_run(
            experiment_id,
            msg.user_id or "",
            now_ms() if start_time is None else start_time,
            tags,
            msg.run_name or None,
        ),
        "create_run",
    )
    return RunResponse(run=run_to_wire(run))


async def get_run(state: ServerState, msg: GetRun) -> RunResponse:
    run_id = check_run_id(required(msg.run_id or msg.run_uuid, "run_id"))
    run = await state.call(lambda: state.store.get_run(run_id), "get_run")
    return RunResponse(run=run_to_wire(run))


async def update_run(state: ServerState, msg: UpdateRun) -> RunInfoResponse:
    run_id = check_run_id(required(msg.run_id or msg.run_uuid, "run_id"))
    status = run_status(msg.status)
    end_time = opt_int(msg.end_time, "end_time")
    run_name = msg.run_name or None
    info = await state.call(
        lambda: state.store.update_run_info(run_id, status, end_time, run_name), "update_run"
    )
    return RunInfoResponse(run_info=run_info_to_wire(info))


async def delete_run(state: ServerState, msg: RunById) -> Empty:
    run_id = check_run_id(required(msg.run_id, "run_id"))
    await state.call(lambda: state.store.delete_run(run_id), "delete_run")
    return Empty()


async def restore_run(state: ServerState, msg: RunById) -> Empty:
    run_id = check_run_id(required(msg.run_id, "run_id"))
    await state.call(lambda: state.store.restore_run(run_id), "restore_run")
    return Empty()


async def search_runs(state: ServerState, msg: SearchRuns) -> SearchRunsResponse:
    """MLflow's run search: one page and the next page's token. No experiment ids: no runs."""
    max_results = opt_int(msg.max_results, "max_results")
    if max_results is None:
        max_results = SEARCH_MAX_RESULTS_DEFAULT
    if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied: it must be at most "
            f"{SEARCH_MAX_RESULTS_THRESHOLD}. {API_DOCS_HINT}"
        )
    view = view_type(msg.run_view_type, "run_view_type")
    experiment_ids = msg.experiment_ids or []
    if not experiment_ids:
        return SearchRunsResponse()
    store = state.store
    runs, token = await state.call(
        lambda: store.search_runs(
            experiment_ids, msg.filter or "", view, max_results, msg.order_by or [], msg.page_token or None
        ),
        "search_runs",
    )
    return SearchRunsResponse(runs=[run_to_wire(r) for r in runs] or None, next_page_token=token or None)
