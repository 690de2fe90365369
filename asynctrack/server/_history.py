"""Metric history endpoints: get-history (MLflow's paging) and get-history-bulk-interval (the UI's charts).

get-history returns points in MLflow's order (timestamp, then step, then value) and pages them as
MLflow's SQL store does: without ``max_results`` every point in one response; with it, pages of that
size and a ``next_page_token`` (base64 JSON ``{"offset": N}``, MLflow's format) while more remain.
Histories of unknown runs are empty, as in MLflow.
"""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np
import numpy.typing as npt

from asynctrack._rest._messages import GetMetricHistory, GetMetricHistoryBulkInterval, MetricsResponse
from asynctrack._rest._wire import MetricJ, float_to_wire
from asynctrack.exceptions import RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.server._convert import opt_int
from asynctrack.server._request import API_DOCS_HINT, invalid, required
from asynctrack.server._state import ServerState
from asynctrack.store import MetricSeries

__all__ = ["get_metric_history", "get_metric_history_bulk_interval"]

MAX_RUNS_PER_BULK_REQUEST = 100
MAX_RESULTS_PER_RUN = 2500


async def _series(
    state: ServerState, run_id: str, key: str, sample: tuple[int, int | None, int | None] | None = None
) -> MetricSeries | None:
    """The whole history, or (``sample``: max_results, start, end) MLflow's sampled points of it, which
    the store may find without reading everything; None for an unknown run."""
    store = state.store
    try:
        if sample is None:
            return await state.call(lambda: store.get_metric_series(run_id, key), "get_metric_history")
        return await state.call(lambda: store.sample_metric(run_id, key, *sample), "get_metric_history")
    except MlflowException as exc:
        if exc.error_code == RESOURCE_DOES_NOT_EXIST:
            return None
        raise


def _offset(page_token: str | None) -> int:
    """MLflow's page token: base64 of ``{"offset": N}``, with MLflow's messages for bad ones."""
    if not page_token:
        return 0
    try:
        decoded = base64.b64decode(page_token, validate=False)
    except (binascii.Error, ValueError):
        raise invalid("Invalid page token, could not base64-decode") from None
    try:
        parsed = json.loads(decoded)
    except ValueError:
        raise invalid(f"Invalid page token, decoded value={decoded!r}") from None
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    if not offset:
        raise invalid(f"Invalid page token, parsed value={parsed}")
    try:
        value = int(offset)
    except (TypeError, ValueError):
        raise invalid(f"Invalid page token, not stringable {offset}") from None
    if value < 0:
        raise invalid(f"Invalid page token, negative offset {value}")
    return value


def _token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


async def get_metric_history(state: ServerState, msg: GetMetricHistory) -> MetricsResponse:
    run_id: str = required(msg.run_id or msg.run_uuid, "run_id")
    key: str = required(msg.metric_key, "metric_key")
    max_results = opt_int(msg.max_results, "max_results")
    if max_results is not None and max_results <= 0:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. "
            "It must be a positive integer."
        )
    offset = _offset(msg.page_token)
    series = await _series(state, run_id, key)
    if series is None or len(series) == 0:
        return MetricsResponse()
    order = np.lexsort((series.values, series.steps, series.timestamps))
    end = len(order) if max_results is None else min(len(order), offset + max_results)
    page = order[offset:end]
    token = _token(end) if end < len(order) else None
    return MetricsResponse(metrics=_points(series, page, None) or None, next_page_token=token)


async def get_metric_history_bulk_interval(
    state: ServerState, msg: GetMetricHistoryBulkInterval
) -> MetricsResponse:
    """Per run, at most ``max_results`` points of the metric spread evenly over the steps in
    ``[start_step, end_step]`` (first and last kept), in step order, each with its ``run_id``."""
    run_ids: list[str] = required(msg.run_ids, "run_ids")
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise invalid(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_PER_BULK_REQUEST} "
            f"run_ids. Received {len(run_ids)} run_ids. {API_DOCS_HINT}"
        )
    key: str = required(msg.metric_key, "metric_key")
    max_results = opt_int(msg.max_results, "max_results")
    if max_results is None:
        max_results = MAX_RESULTS_PER_RUN
    if not 1 <= max_results <= MAX_RESULTS_PER_RUN:
        raise invalid(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}. {API_DOCS_HINT}")
    start = opt_int(msg.start_step, "start_step")
    end = opt_int(msg.end_step, "end_step")
    if (start is None) != (end is None):
        raise invalid("If either start step or end step are specified, both must be specified.")
    if start is not None and end is not None and start > end:
        raise invalid(
            f"end_step must be greater than start_step. Found start_step={start} and end_step={end}."
        )
    out: list[MetricJ] = []
    for run_id in run_ids:
        series = await _series(state, run_id, key, (max_results, start, end))
        if series is None or len(series) == 0:
            continue
        out.extend(_points(series, np.arange(len(series)), run_id))
    return MetricsResponse(metrics=out or None)


def _points(series: MetricSeries, take: npt.NDArray[np.intp], run_id: str | None) -> list[MetricJ]:
    key = series.key
    return [
        MetricJ(key, float_to_wire(v), t, s, run_id=run_id)
        for v, t, s in zip(
            series.values[take].tolist(),
            series.timestamps[take].tolist(),
            series.steps[take].tolist(),
            strict=True,
        )
    ]
