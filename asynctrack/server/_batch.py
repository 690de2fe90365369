"""A log-batch request checked whole and turned into the store's columnar form before anything is written.

MLflow's rules, in MLflow's words: required fields (``metrics[3].timestamp``), batch limits (1000 metrics,
100 params, 100 tags, 1000 in all), key syntax, value types, duplicate param keys. Only a request that
passes all of them reaches the store, whose ``log_batch`` is one transaction: a rejected request writes
nothing.

Metrics become one :class:`~asynctrack.store.MetricSeries` per key with numpy. The common case (float
values, int timestamps and steps) is checked and converted a column at a time; only a batch with strings
(``"NaN"``, int64 as decimal strings) or a bad value goes through the per-point path, which also finds
the first bad point for the error message.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from asynctrack._rest._wire import KeyValueJ, MetricJ, float_from_wire, int_from_wire
from asynctrack.entities import Param, RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.server._request import invalid, missing, required
from asynctrack.store import MetricSeries
from asynctrack.validation import (
    check_batch_limits,
    check_metric,
    check_metric_key,
    check_param,
    check_run_id,
    check_tag,
)

__all__ = ["ParsedBatch", "at_path", "parse_log_batch", "metric_series"]


class ParsedBatch(msgspec.Struct, frozen=True):
    """A checked log-batch: what the store's ``log_batch`` takes, and how many entities it holds."""

    run_id: str
    metrics: list[MetricSeries]
    params: list[Param]
    tags: list[RunTag]
    key: str | None = None  # the request's Idempotency-Key


def at_path(exc: MlflowException, field: str, path: str) -> MlflowException:
    """``exc`` with its ``parameter 'field'`` spelled as MLflow's JSON path (``params[2].key``)."""
    message = exc.message.replace(f"parameter '{field}'", f"parameter '{path}'", 1)
    return MlflowException(message, error_code=exc.error_code)


def parse_log_batch(
    run_id: str | None,
    metrics: Sequence[MetricJ] | None,
    params: Sequence[KeyValueJ] | None,
    tags: Sequence[KeyValueJ] | None,
) -> ParsedBatch:
    """Check a whole log-batch request; raise MLflow's INVALID_PARAMETER_VALUE for the first problem."""
    rid = check_run_id(required(run_id, "run_id"))
    metrics = metrics or ()
    params = params or ()
    tags = tags or ()
    check_batch_limits(len(metrics), len(params), len(tags))
    series = metric_series(metrics)
    checked_params = [_param(i, p) for i, p in enumerate(params)]
    _unique_param_keys(checked_params)
    checked_tags = [_tag(i, t) for i, t in enumerate(tags)]
    return ParsedBatch(rid, series, checked_params, checked_tags)


def _param(i: int, p: KeyValueJ) -> Param:
    key = required(p.key, f"params[{i}].key")
    try:
        k, v = check_param(key, "" if p.value is None else p.value)
    except MlflowException as exc:
        raise at_path(exc, "key", f"params[{i}].key") from None
    return Param(k, v)


def _tag(i: int, t: KeyValueJ) -> RunTag:
    key = required(t.key, f"tags[{i}].key")
    try:
        k, v = check_tag(key, "" if t.value is None else t.value)
    except MlflowException as exc:
        raise at_path(exc, "key", f"tags[{i}].key") from None
    return RunTag(k, v)


def _unique_param_keys(params: Sequence[Param]) -> None:
    seen: set[str] = set()
    dupes = [p.key for p in params if p.key in seen or seen.add(p.key)]  # type: ignore[func-returns-value]
    if dupes:
        raise invalid(
            f"Duplicate parameter keys have been submitted: {dupes}. Please ensure the request contains "
            "only one param value per param key."
        )


def metric_series(metrics: Sequence[MetricJ]) -> list[MetricSeries]:
    """The points of a request as one series per key, in first-seen key order, points in request order."""
    n = len(metrics)
    if n == 0:
        return []
    keys = [m.key for m in metrics]
    unique = dict.fromkeys(keys)
    if None in unique or "" in unique:
        _raise_missing(metrics)
    columns = _fast_columns(
        [m.value for m in metrics], [m.timestamp for m in metrics], [m.step for m in metrics]
    )
    if columns is None:
        _raise_missing(metrics)
    for key in unique:
        try:
            check_metric_key(key)
        except MlflowException as exc:
            raise _at_metric(exc, keys.index(key)) from None
    if columns is None:
        columns = _checked_columns(metrics)
    v, ts, st = columns
    if len(unique) == 1:
        return [MetricSeries(keys[0], v, ts, st)]  # type: ignore[arg-type]
    index = {k: i for i, k in enumerate(unique)}
    codes = np.fromiter(map(index.__getitem__, keys), np.intp, n)
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=len(index))).tolist()
    out = []
    start = 0
    for key, end in zip(unique, ends, strict=True):
        take = order[start:end]
        out.append(MetricSeries(key, v[take], ts[take], st[take]))  # type: ignore[arg-type]
        start = end
    return out


def _raise_missing(metrics: Sequence[MetricJ]) -> None:
    for i, m in enumerate(metrics):
        for field in ("key", "value", "timestamp"):
            if getattr(m, field) in (None, ""):
                raise missing(f"metrics[{i}].{field}")


_Columns = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]
_FLOAT = {float}
_INT = {int}
_NONE = {type(None)}


def _fast_columns(
    values: Sequence[object], stamps: Sequence[object], steps: Sequence[object]
) -> _Columns | None:
    """The three columns when every value is a float and every timestamp and step an int in range
    (None when anything needs the per-point path: strings, absent fields, out-of-range numbers)."""
    n = len(values)
    if set(map(type, values)) != _FLOAT or set(map(type, stamps)) != _INT:
        return None
    step_types = set(map(type, steps))
    try:
        if step_types == _INT:
            st = np.fromiter(steps, np.int64, n)
        elif step_types == _NONE:
            st = np.zeros(n, np.int64)
        else:
            return None
        ts = np.fromiter(stamps, np.int64, n)
    except OverflowError:
        return None
    if int(ts.min()) < 0:
        return None
    return np.fromiter(values, np.float64, n), ts, st


def _checked_columns(metrics: Sequence[MetricJ]) -> _Columns:
    """Point by point, with MLflow's conversions and messages (path ``metrics[i].field``)."""
    n = len(metrics)
    v = np.empty(n, np.float64)
    ts = np.empty(n, np.int64)
    st = np.empty(n, np.int64)
    for i, m in enumerate(metrics):
        try:
            value = float_from_wire(m.value, "value")
            stamp = int_from_wire(m.timestamp, "timestamp")
            step = 0 if m.step is None else int_from_wire(m.step, "step")
            v[i], ts[i], st[i] = check_metric(m.key, value, stamp, step)
        except MlflowException as exc:
            raise _at_metric(exc, i) from None
    return v, ts, st


def _at_metric(exc: MlflowException, i: int) -> MlflowException:
    for field in ("value", "timestamp", "step", "name"):
        if f"parameter '{field}'" in exc.message:
            return at_path(exc, field, f"metrics[{i}].{field}")
    return exc
