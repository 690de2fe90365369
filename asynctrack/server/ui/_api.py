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
from asynctrack._system_tags import MLFLOW_PARENT_RUN_ID as PARENT_RUN_TAG
from asynctrack._system_tags import MLFLOW_SOURCE_NAME as SOURCE_TAG
from asynctrack.entities import Experiment, Run, ViewType
from asynctrack.server._request import invalid, read_message
from asynctrack.server.ui._common import csv_param, int_param, json_response, state_of, str_param
from asynctrack.store.search import SEARCH_MAX_RESULTS_THRESHOLD
from asynctrack.validation import check_run_id

__all__ = ["experiments", "keys", "run", "runs"]

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
    #: Also send the experiments' param, metric and tag keys (the column picker's choices).
    keys: bool = False
    #: With no column asked: send the default columns (the first metrics and params) and say which.
    default_columns: bool = False


#: The columns a table shows before the user picks any: the first metrics, then the first params.
DEFAULT_METRIC_COLUMNS = 6
DEFAULT_PARAM_COLUMNS = 4


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


def _runs_query_from_url(request: Request) -> RunsQuery:
    """``GET runs``' query string as a :class:`RunsQuery`: list fields as repeated parameters
    (``order_by``, ``params``, ``metrics``, ``tags``; never split on commas, which a filter or an order_by
    may hold), ``experiment_ids`` comma-separated, flags as ``1``."""
    q = request.query_params
    return RunsQuery(
        experiment_ids=csv_param(request, "experiment_ids", required=True),
        filter=q.get("filter", ""),
        order_by=[v for v in q.getlist("order_by") if v],
        run_view=q.get("run_view") or "active",
        max_results=int_param(request, "max_results", 100, 1, SEARCH_MAX_RESULTS_THRESHOLD),
        page_token=q.get("page_token") or None,
        columns=Columns(
            params=[v for v in q.getlist("params") if v],
            metrics=[v for v in q.getlist("metrics") if v],
            tags=[v for v in q.getlist("tags") if v],
        ),
        keys=_flag(request, "keys"),
        default_columns=_flag(request, "default_columns"),
    )


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw in (None, "", "0"):
        return False
    if raw == "1":
        return True
    raise invalid(f"Invalid value {raw[:100]!r} for parameter '{name}' supplied: expected 0 or 1.")


async def runs(request: Request) -> Response:
    """``GET runs?experiment_ids=1&order_by=...&metrics=loss&keys=1`` (the page's form: a GET needs no
    CSRF token, so the page can ask before its session is known) or ``POST runs`` with a JSON
    :class:`RunsQuery`: one page of the runs table through the store's search (filter grammar, order_by,
    keyset page tokens); each run carries only the chosen params, metrics and tags.

    ``keys`` adds the experiments' keys and ``default_columns`` (when no column is asked) picks the first
    metrics and params as columns, so the table's first view is one request instead of two in a row."""
    state = state_of(request)
    if request.method == "GET":
        query = _runs_query_from_url(request)
    else:
        query = await read_message(request, RunsQuery, state.config.max_body_bytes)
    if not 1 <= query.max_results <= SEARCH_MAX_RESULTS_THRESHOLD:
        raise invalid(
            f"Invalid value {query.max_results} for parameter 'max_results' supplied: it must be between 1 "
            f"and {SEARCH_MAX_RESULTS_THRESHOLD}."
        )
    view = _view(query.run_view, "run_view")
    cols = query.columns
    want_defaults = query.default_columns and not (cols.params or cols.metrics or cols.tags)
    want_keys = query.keys or want_defaults
    found_keys = None
    if want_keys:
        found_keys = await state.call(lambda: state.store.run_keys(query.experiment_ids), "run_keys")
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
    answer: dict[str, object] = {}
    if found_keys is not None and want_defaults:
        cols = Columns(
            params=list(found_keys.params[:DEFAULT_PARAM_COLUMNS]),
            metrics=list(found_keys.metrics[:DEFAULT_METRIC_COLUMNS]),
        )
        answer["columns"] = cols
    answer["runs"] = [_row(r, cols) for r in found]
    answer["next_page_token"] = token
    if found_keys is not None and query.keys:
        answer["keys"] = found_keys
    return json_response(answer)


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
