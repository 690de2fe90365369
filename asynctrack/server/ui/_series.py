"""The charts' data: ``series`` (a metric of some runs reduced to buckets, exactly: see
``asynctrack/store/_buckets.py``) and ``updates`` (only the points written since a cursor, for live charts).

Series travel columnar: one array per field with one entry per bucket, NaN and ±inf as ``null`` (JSON has
no such numbers; a ``nonfinite`` object then counts them per bucket, so none goes unreported). The cursor is
opaque to the page: base64url of ``[[run_id, key, store cursor], ...]``; ``updates`` takes any number of
them (repeated or comma-separated) and answers with one covering everything it was asked about.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
import numpy.typing as npt
from starlette.requests import Request
from starlette.responses import Response

from asynctrack._rest._wire import float_to_wire
from asynctrack.entities import Run
from asynctrack.server._request import invalid
from asynctrack.server.ui._common import csv_param, float_param, int_param, json_response, state_of, str_param
from asynctrack.store._buckets import MAX_BUCKETS, X_KINDS, MetricBuckets, reduce_points
from asynctrack.validation import check_run_id

__all__ = ["series", "updates"]

MAX_RUNS = 100
MAX_KEYS = 50
DEFAULT_BUCKETS = 1000
#: An update with more new points than this is sent reduced to UPDATE_BUCKETS buckets (``raw`` false).
MAX_UPDATE_POINTS = 5000
UPDATE_BUCKETS = 1000


def _floats(a: npt.NDArray[np.float64]) -> list[float | None]:
    out: list[float | None] = a.tolist()
    for i in np.flatnonzero(~np.isfinite(a)).tolist():
        out[i] = None
    return out


def _nonfinite(b: MetricBuckets) -> dict[str, list[int]] | None:
    if not (b.nan.any() or b.pos_inf.any() or b.neg_inf.any()):
        return None
    return {"nan": b.nan.tolist(), "pos_inf": b.pos_inf.tolist(), "neg_inf": b.neg_inf.tolist()}


def _columns(b: MetricBuckets) -> dict[str, Any]:
    return {
        "x": b.x.tolist(),
        "min": _floats(b.min),
        "max": _floats(b.max),
        "last": _floats(b.last),
        "counts": None if b.raw else b.counts.tolist(),
        "nonfinite": _nonfinite(b),
        "raw": b.raw,
    }


def encode_cursor(entries: list[tuple[str, str, str]]) -> str:
    return base64.urlsafe_b64encode(json.dumps(entries, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursors(raw: list[str]) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for token in raw:
        try:
            entries = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            for run_id, key, at in entries:
                if not all(isinstance(v, str) for v in (run_id, key, at)):
                    raise ValueError(token)
                out[(run_id, key)] = at
        except (ValueError, TypeError, binascii.Error):
            raise invalid(
                f"Invalid cursor {token[:100]!r}: pass a cursor from series or updates unchanged."
            ) from None
    return out


def _run_ids(request: Request) -> list[str]:
    return [check_run_id(r) for r in csv_param(request, "run_ids", required=True, limit=MAX_RUNS)]


def _x_kind(request: Request) -> str:
    x = str_param(request, "x", "step") or "step"
    if x not in X_KINDS:
        raise invalid(f"Invalid value {x!r} for parameter 'x' supplied: expected one of {list(X_KINDS)}.")
    return x


async def series(request: Request) -> Response:
    """``GET series?run_ids=a,b&key=loss&x=step|wall|relative&buckets=1000&start=&end=``."""
    state = state_of(request)
    run_ids = _run_ids(request)
    key = str_param(request, "key", required=True)
    assert key is not None
    x = _x_kind(request)
    buckets = min(int_param(request, "buckets", DEFAULT_BUCKETS, 1, 10**9), MAX_BUCKETS)
    start, end = float_param(request, "start"), float_param(request, "end")
    if start is not None and end is not None and start > end:
        raise invalid(f"Invalid range: start {start:g} is after end {end:g}.")
    out = []
    for run_id in run_ids:
        b = await state.call(
            lambda run_id=run_id: state.store.metric_buckets(run_id, key, x, start, end, buckets),  # type: ignore[misc]
            "metric_buckets",
        )
        out.append(
            {
                "run_id": run_id,
                "count": b.count,
                **_columns(b),
                "x_first": b.x_first,
                "x_last": b.x_last,
                "cursor": encode_cursor([(run_id, key, b.cursor)]),
            }
        )
    return json_response({"key": key, "x": x, "series": out})


def _x_of(points: Any, x: str, run: Run) -> npt.NDArray[np.int64]:
    if x == "step":
        return np.asarray(points.steps, np.int64)
    shift = (run.info.start_time or 0) if x == "relative" else 0
    return np.asarray(points.timestamps, np.int64) - shift


async def updates(request: Request) -> Response:
    """``GET updates?run_ids=a,b&keys=loss,acc&x=step&cursor=...``: points written since the cursor(s),
    and each run's status, end time and latest values of those keys."""
    state = state_of(request)
    store = state.store
    # Each run and key once (in the order first named): a repeated one would be read and sent twice.
    run_ids = list(dict.fromkeys(_run_ids(request)))
    keys = list(dict.fromkeys(csv_param(request, "keys", required=True, limit=MAX_KEYS)))
    x = _x_kind(request)
    cursors = decode_cursors(csv_param(request, "cursor", limit=MAX_RUNS * MAX_KEYS))
    series_out: list[dict[str, Any]] = []
    runs_out: list[dict[str, Any]] = []
    entries: list[tuple[str, str, str]] = []
    for run_id in run_ids:
        run = await state.call(lambda run_id=run_id: store.get_run(run_id), "get_run")  # type: ignore[misc]
        metrics = run.data.metrics
        runs_out.append(
            {
                "run_id": run_id,
                "status": run.info.status,
                "end_time": run.info.end_time,
                "metrics": {k: float_to_wire(metrics[k]) for k in keys if k in metrics},
            }
        )
        for key in keys:
            at = cursors.get((run_id, key))
            got = await state.call(
                lambda run_id=run_id, key=key, at=at: store.metric_updates(run_id, key, at),  # type: ignore[misc]
                "metric_updates",
            )
            entries.append((run_id, key, got.cursor))
            points = got.series
            if len(points) == 0 and not got.reset:
                continue
            xs = _x_of(points, x, run)
            n = MAX_UPDATE_POINTS if len(points) <= MAX_UPDATE_POINTS else UPDATE_BUCKETS
            b = reduce_points(key, x, xs, np.asarray(points.values, np.float64), None, None, n, got.cursor)
            series_out.append({"run_id": run_id, "key": key, "reset": got.reset, **_columns(b)})
    return json_response({"series": series_out, "runs": runs_out, "cursor": encode_cursor(entries)})
