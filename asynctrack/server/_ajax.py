"""Endpoints MLflow's server has for its web UI only, under ``/ajax-api/2.0/mlflow/`` alone (as MLflow):
``metrics/get-history-bulk`` and ``experiments/search-datasets``.

get-history-bulk: every point of one metric for up to 100 runs, ordered by run id, then timestamp, step and
value, cut at ``max_results`` points in all (default and cap 25,000), each with its ``run_id``; unknown runs
have none. search-datasets: the (experiment, dataset name, digest, context) summaries of up to 20
experiments' logged dataset inputs, at most 1,000. The messages and limits are MLflow 3.17.2's.
"""

from __future__ import annotations

import functools
import math

import msgspec

from asynctrack._rest._datasets import DatasetSummaryJ, SearchDatasets, SearchDatasetsResponse
from asynctrack._rest._wire import MetricJ, float_to_wire
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.server._convert import opt_int
from asynctrack.server._request import invalid
from asynctrack.server._state import ServerState

__all__ = [
    "GetMetricHistoryBulk",
    "MetricsBulkResponse",
    "SearchDatasets",
    "SearchDatasetsResponse",
    "get_metric_history_bulk",
    "search_datasets",
]

MAX_HISTORY_RESULTS = 25_000
MAX_RUN_IDS_PER_REQUEST = 100
MAX_EXPERIMENT_IDS_PER_REQUEST = 20


class GetMetricHistoryBulk(msgspec.Struct, omit_defaults=True):
    run_id: list[str] | None = None
    metric_key: str | None = None
    max_results: int | str | None = None


class MetricsBulkResponse(msgspec.Struct):
    """Always carries ``metrics`` (``[]`` when there are none), as MLflow's handler writes it."""

    metrics: list[MetricJ]


async def get_metric_history_bulk(state: ServerState, msg: GetMetricHistoryBulk) -> MetricsBulkResponse:
    run_ids = msg.run_id or []
    if not run_ids:
        raise invalid("GetMetricHistoryBulk request must specify at least one run_id.")
    if len(run_ids) > MAX_RUN_IDS_PER_REQUEST:
        raise invalid(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_RUN_IDS_PER_REQUEST} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    if msg.metric_key is None:
        raise invalid("GetMetricHistoryBulk request must specify a metric_key.")
    key = msg.metric_key
    max_results = opt_int(msg.max_results, "max_results")
    if max_results is None:
        max_results = MAX_HISTORY_RESULTS
    if max_results < 0:
        raise invalid(f"Invalid value {max_results} for parameter 'max_results': it must not be negative.")
    max_results = min(max_results, MAX_HISTORY_RESULTS)
    store = state.store
    out: list[MetricJ] = []
    for run_id in sorted(set(run_ids)):
        if len(out) >= max_results:
            break
        try:
            series = await state.call(
                functools.partial(store.get_metric_series, run_id, key), "get_metric_history"
            )
        except MlflowException as exc:
            if exc.error_code in (RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE):
                continue  # an unknown (or impossible) run id has no history, as in MLflow
            raise
        rows = sorted(
            zip(series.timestamps.tolist(), series.steps.tolist(), series.values.tolist(), strict=True),
            key=lambda r: (r[0], r[1], 0.0 if math.isnan(r[2]) else r[2]),
        )
        out.extend(
            MetricJ(key, float_to_wire(v), t, s, run_id=run_id) for t, s, v in rows[: max_results - len(out)]
        )
    return MetricsBulkResponse(metrics=out)


async def search_datasets(state: ServerState, msg: SearchDatasets) -> SearchDatasetsResponse:
    experiment_ids = msg.experiment_ids or []
    if not experiment_ids:
        raise invalid("SearchDatasets request must specify at least one experiment_id.")
    if len(experiment_ids) > MAX_EXPERIMENT_IDS_PER_REQUEST:
        raise invalid(
            f"SearchDatasets request cannot specify more than {MAX_EXPERIMENT_IDS_PER_REQUEST} "
            f"experiment_ids. Received {len(experiment_ids)} experiment_ids."
        )
    store = state.store
    summaries = await state.call(lambda: store.search_datasets(experiment_ids), "search_datasets")
    return SearchDatasetsResponse(
        dataset_summaries=[DatasetSummaryJ(s.experiment_id, s.name, s.digest, s.context) for s in summaries]
        or None
    )
