"""Metric points between numpy columns and MLflow's JSON: log-batch bodies out, history pages in.

The hot path is :func:`encode_log_batch`. Each point becomes a ``gc=False`` Struct built by ``map()``
from ``.tolist()`` columns, which msgspec encodes in C; measured on this machine, 1,000 points take about
0.16 ms (a dict per point: 0.33 ms; formatting the columns with numpy into fixed-width JSON: 1.3 ms).
Finite values, the usual case, need no per-value check; non-finite ones are written as protobuf's JSON
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from asynctrack._rest._messages import LogBatchPoints, MetricPointJ
from asynctrack._rest._wire import KeyValueJ
from asynctrack.entities import Param, RunTag
from asynctrack.store._protocol import BatchLimits, MetricSeries

__all__ = ["encode_log_batch", "points_to_columns", "split_batch"]

_encoder = msgspec.json.Encoder()
_repeat = itertools.repeat


def _wire_values(values: npt.NDArray[np.float64]) -> list[float | str]:
    out: list[float | str] = values.tolist()
    finite = np.isfinite(values)
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            v = out[i]
            out[i] = "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")  # type: ignore[operator]
    return out


def _points(series: Sequence[MetricSeries]) -> list[MetricPointJ]:
    points: list[MetricPointJ] = []
    for s in series:
        n = len(s.values)
        points.extend(
            map(
                MetricPointJ,
                _repeat(s.key, n),
                _wire_values(s.values),
                s.timestamps.tolist(),
                s.steps.tolist(),
            )
        )
    return points


def encode_log_batch(
    run_id: str, metrics: Sequence[MetricSeries], params: Sequence[Param], tags: Sequence[RunTag]
) -> bytes:
    """The JSON body of one ``runs/log-batch`` request."""
    return _encoder.encode(
        LogBatchPoints(
            run_id=run_id,
            metrics=_points(metrics) or None,
            params=[KeyValueJ(p.key, p.value) for p in params] or None,
            tags=[KeyValueJ(t.key, t.value) for t in tags] or None,
        )
    )


def _fits(n_points: int, n_params: int, n_tags: int, limits: BatchLimits) -> bool:
    return (
        n_points <= limits.max_metrics
        and n_params <= limits.max_params
        and n_tags <= limits.max_tags
        and n_points + n_params + n_tags <= limits.max_entities
    )


def split_batch(
    metrics: Sequence[MetricSeries], params: Sequence[Param], tags: Sequence[RunTag], limits: BatchLimits
) -> Iterator[tuple[list[MetricSeries], Sequence[Param], Sequence[RunTag]]]:
    """``(metrics, params, tags)`` parts that each fit the server's limits, in order.

    Nearly always one part: the pipeline coalesces within the limits. Only a single metric array longer
    than ``max_metrics`` (or a direct caller) exceeds them; params and tags then go with the first part.
    """
    n_points = sum(len(s) for s in metrics)
    if _fits(n_points, len(params), len(tags), limits):
        yield list(metrics), params, tags
        return
    pending = [(s, 0) for s in metrics if len(s)]
    p_at = t_at = 0
    while pending or p_at < len(params) or t_at < len(tags):
        part_params = params[p_at : p_at + limits.max_params]
        part_tags = tags[t_at : t_at + limits.max_tags]
        p_at += len(part_params)
        t_at += len(part_tags)
        room = max(0, min(limits.max_metrics, limits.max_entities - len(part_params) - len(part_tags)))
        part: list[MetricSeries] = []
        while pending and room:
            s, start = pending[0]
            end = min(len(s), start + room)
            if start == 0 and end == len(s):
                part.append(s)
            else:
                part.append(
                    MetricSeries(s.key, s.values[start:end], s.timestamps[start:end], s.steps[start:end])
                )
            room -= end - start
            if end == len(s):
                pending.pop(0)
            else:
                pending[0] = (s, end)
        yield part, part_params, part_tags


def points_to_columns(
    points: Sequence[MetricPointJ],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(values, timestamps, steps)`` of decoded history points; numpy parses the "NaN"/"Infinity"
    strings and int64 strings itself. Raises ValueError on a value that is neither."""
    values = np.array([p.value for p in points], np.float64)
    timestamps = np.array([p.timestamp for p in points], np.int64)
    steps = np.array([p.step for p in points], np.int64)
    return values, timestamps, steps
