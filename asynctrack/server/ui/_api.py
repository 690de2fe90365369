"""The web UI's list and detail endpoints: experiments (with run counts and last activity), a page of the
runs table (only the chosen columns), the keys for the column picker, and one run with its children.

Everything goes through the store protocol (``state.store``), so the UI works on every backend the server
has. Names, params and tags are returned as data, never interpreted: the page escapes them.
"""

from __future__ import annotations

import functools

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from asynctrack._rest._wire import float_to_wire, run_to_wire
from asynctrack.entities import Experiment, Run, ViewType
from asynctrack.server._request import invalid, read_message
from asynctrack.server.ui._common import csv_param, json_response, state_of, str_param
from asynctrack.store.search import SEARCH_MAX_RESULTS_THRESHOLD
from asynctrack.validation import check_run_id

__all__ = ["experiments", "keys", "run", "runs"]

PARENT_RUN_TAG = "mlflow.parentRunId"
SOURCE_TAG = "mlflow.source.name"
_VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}
_EXPERIMENT_PAGE = 1000
MAX_EXPERIMENTS = 10_000
MAX_CHILDREN = 1000


def _view(value: str | None, name: str) -> int:
    if value is None or value == "":
        return ViewType.ACTIVE_ONLY
    view = _VIEWS.get(value)
    if view is None:
        raise invalid(
            f"Invalid value {value!r} for parameter '{name}' supplied: expected one of {list(_VIEWS)}."
        )
    return view


class ExperimentRow(msgspec.Struct):
    experiment_id: str
    name: str
    lifecycle_stage: str
    artifact_location: str
    creation_time: int | None
    last_update_time: int | None
    run_count: int
    last_activity: int | None


async def experiments(request: Request) -> Response:
    """``GET experiments?view=active|deleted|all&q=<case-insensitive name substring>``."""
    state = state_of(request)
    view = _view(str_param(request, "view"), "view")
    needle = (str_param(request, "q") or "").casefold()
    found: list[Experiment] = []
    token: str | None = None
    while len(found) < MAX_EXPERIMENTS:
        page, token = await state.call(
            functools.partial(state.store.search_experiments, view, _EXPERIMENT_PAGE, "", (), token),
            "search_experiments",
        )
        found.extend(e for e in page if needle in e.name.casefold())
        if not token:
            break
    found = found[:MAX_EXPERIMENTS]
    ids = [e.experiment_id for e in found]
    stats = await state.call(lambda: state.store.experiment_stats(ids), "experiment_stats")
    rows = []
    for e in found:
        s = stats.get(e.experiment_id)
        count = s.run_count if s else 0
        # The latest start or end of its active runs; the experiment's creation when it has none.
        last = s.last_activity if s and s.last_activity is not None else e.creation_time
        rows.append(
            ExperimentRow(
                e.experiment_id,
                e.name,
                e.lifecycle_stage,
                e.artifact_location,
                e.creation_time,
                e.last_update_time,
                count,
                last,
            )
        )
    return json_response({"experiments": rows})


class Columns(msgspec.Struct, forbid_unknown_fields=True):
    params: list[str] = msgspec.field(default_factory=list)
    metrics: list[str] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)


class RunsQuery(msgspec.Struct, forbid_unknown_fields=True):
    experiment_ids: list[str] = msgspec.field(default_factory=list)
    filter: str = ""
    order_by: list[str] = msgspec.field(default_factory=list)
    run_view: str = "active"
    max_results: int = 100
    page_token: str | None = None
    columns: Columns = msgspec.field(default_factory=Columns)


class RunRow(msgspec.Struct):
    run_id: str
    run_name: str | None
    experiment_id: str
    status: str
    user_id: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    source: str | None
    parent_run_id: str | None
    params: dict[str, str]
    metrics: dict[str, float | str]
    tags: dict[str, str]


def _row(run: Run, cols: Columns) -> RunRow:
    info, data = run.info, run.data
    tags = data.tags
    return RunRow(
        run_id=info.run_id,
        run_name=info.run_name,
        experiment_id=info.experiment_id,
        status=info.status,
        user_id=info.user_id,
        start_time=info.start_time,
        end_time=info.end_time,
        lifecycle_stage=info.lifecycle_stage,
        source=tags.get(SOURCE_TAG),
        parent_run_id=tags.get(PARENT_RUN_TAG) or None,
        params={k: data.params[k] for k in cols.params if k in data.params},
        metrics={k: float_to_wire(data.metrics[k]) for k in cols.metrics if k in data.metrics},
        tags={k: tags[k] for k in cols.tags if k in tags},
    )


async def runs(request: Request) -> Response:
    """``POST runs``: one page of the runs table through the store's search (filter grammar, order_by,
    keyset page tokens); each run carries only the chosen params, metrics and tags."""
    state = state_of(request)
    query = await read_message(request, RunsQuery, state.config.max_body_bytes)
    if not 1 <= query.max_results <= SEARCH_MAX_RESULTS_THRESHOLD:
        raise invalid(
            f"Invalid value {query.max_results} for parameter 'max_results' supplied: it must be between 1 "
            f"and {SEARCH_MAX_RESULTS_THRESHOLD}."
        )
    view = _view(query.run_view, "run_view")
    found, token = await state.call(
        lambda: state.store.search_runs(
            query.experiment_ids,
            query.filter,
            view,
            query.max_results,
            query.order_by,
            query.page_token or None,
        ),
        "search_runs",
    )
    return json_response({"runs": [_row(r, query.columns) for r in found], "next_page_token": token})


async def keys(request: Request) -> Response:
    """``GET keys?experiment_ids=1,2``: the distinct param, metric and tag keys of those experiments' runs."""
    state = state_of(request)
    ids = csv_param(request, "experiment_ids", required=True)
    found = await state.call(lambda: state.store.run_keys(ids), "run_keys")
    return json_response(found)


class Child(msgspec.Struct):
    run_id: str
    run_name: str | None
    status: str


async def run(request: Request) -> Response:
    """``GET run?run_id=...``: the run as ``runs/get`` gives it, its child runs and its metric keys."""
    state = state_of(request)
    run_id = check_run_id(str_param(request, "run_id", required=True))
    found = await state.call(lambda: state.store.get_run(run_id), "get_run")
    # run_id passed check_run_id (letters, digits, '_', '-'), so it is safe inside a quoted filter value.
    children, _ = await state.call(
        lambda: state.store.search_runs(
            [found.info.experiment_id],
            f"tags.`{PARENT_RUN_TAG}` = '{run_id}'",
            ViewType.ACTIVE_ONLY,
            MAX_CHILDREN,
            ("attributes.start_time ASC",),
            None,
        ),
        "search_runs",
    )
    return json_response(
        {
            "run": run_to_wire(found),
            "children": [Child(c.info.run_id, c.info.run_name, c.info.status) for c in children],
            "metric_keys": sorted(found.data.metrics),
        }
    )
