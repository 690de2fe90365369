"""Turning validated logging calls into queued operations: shared by MlflowClient and the fluent API.

This is the caller's side of the pipeline contract: cheap checks here, at once, in the caller's thread;
everything that needs the store is reported through the returned RunOperations.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from asynctrack._batching._ops import (
    METRIC_TAG,
    DeleteTagOp,
    MetricArrayOp,
    ParamOp,
    TagOp,
    UpdateRunOp,
    encode,
    pack_metric,
)
from asynctrack._int64 import INT64_MAX
from asynctrack.config import is_async_logging_enabled
from asynctrack.entities import Metric, Param, RunTag
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.pipeline._operations import RunOperations
from asynctrack.pipeline._queue import OpQueue
from asynctrack.validation import (
    check_metric,
    check_metric_key,
    check_param,
    check_run_id,
    check_tag,
    check_tag_key,
)

__all__ = [
    "ARRAY_CHUNK_POINTS",
    "batch_makers",
    "log_metric_array",
    "now_ms",
    "submit",
    "valid_run_id",
]

Maker = Callable[[int, int], bytes]

ARRAY_CHUNK_POINTS = 16_384  # points per queued array operation (about 384 KiB encoded)

_known_run_ids: set[str] = set()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def valid_run_id(run_id: object) -> str:
    """Check a run id's form once per id (the store checks that it exists)."""
    if run_id in _known_run_ids:
        return run_id
    check_run_id(run_id)
    if len(_known_run_ids) > 100_000:
        _known_run_ids.clear()
    _known_run_ids.add(run_id)  # type: ignore[arg-type]
    return run_id  # type: ignore[return-value]


def submit(
    queue: OpQueue,
    synchronous: bool | None,
    put: Callable[[], RunOperations | None],
    makers: Sequence[Maker] | None = None,
) -> RunOperations | None:
    """Enqueue with ``put()`` and apply the ``synchronous`` rule: wait (and return None) or hand the
    RunOperations back.

    A synchronous call whose checked operations are given as ``makers`` (what ``put()`` would enqueue)
    is written from this thread when the pipeline is idle (the express lane, ``pipeline/_express.py``);
    otherwise, or when that lane cannot settle it, it goes through the queue. A synchronous caller
    registers as a waiter *before* it enqueues, so the worker it wakes never lingers for a batch to fill.
    """
    if synchronous is None:
        synchronous = not is_async_logging_enabled()
    if not synchronous:
        return put()
    express = queue.express
    if express is not None and makers is not None and express.write(makers):
        return None
    with queue.waiting():
        ops = put()
        if ops is not None:
            # Bounded: a store failing for longer than its retry budget raises here (``_outage.py``).
            ops.wait(give_up=queue.give_up_check("This synchronous logging call"))
    return None


# Each *_op function checks its input and returns a maker: ``make(producer_id, seq) -> encoded frame``.


def metric_op(queue: OpQueue, run_id: str, key: str, value: object, timestamp: object, step: object) -> Maker:
    v, ts, st = check_metric(key, value, timestamp, step)
    r, k = queue.intern(run_id), queue.intern(key)
    return lambda pid, seq: pack_metric(METRIC_TAG, pid, seq, r, k, v, ts, st)


def param_op(run_id: str, key: object, value: object) -> Maker:
    k, v = check_param(key, value)
    return lambda pid, seq: encode(ParamOp(pid, seq, run_id, k, v))


def tag_op(run_id: str, key: object, value: object) -> Maker:
    k, v = check_tag(key, value)
    return lambda pid, seq: encode(TagOp(pid, seq, run_id, k, v))


def delete_tag_op(run_id: str, key: object) -> Maker:
    k = check_tag_key(key)
    return lambda pid, seq: encode(DeleteTagOp(pid, seq, run_id, k))


def update_run_op(run_id: str, status: str | None, end_time: int | None, run_name: str | None) -> Maker:
    return lambda pid, seq: encode(UpdateRunOp(pid, seq, run_id, status, end_time, run_name))


def batch_makers(
    queue: OpQueue,
    run_id: str,
    metrics: Iterable[Metric] = (),
    params: Iterable[Param] = (),
    tags: Iterable[RunTag] = (),
) -> list[Maker]:
    """Check every item of a batch first (nothing is queued if one is bad); their makers, in order."""
    makers = [metric_op(queue, run_id, m.key, m.value, m.timestamp, m.step) for m in metrics]
    makers += [param_op(run_id, p.key, p.value) for p in params]
    makers += [tag_op(run_id, t.key, t.value) for t in tags]
    return makers


def _as_column(name: str, key: str, data: object, dtype: Any, n: int | None) -> np.ndarray[Any, Any]:
    try:
        arr = np.asarray(data)
    except Exception as exc:
        raise MlflowException(
            f"log_metric_array('{key}'): {name} could not be read as an array ({exc})",
            error_code=INVALID_PARAMETER_VALUE,
        ) from None
    if arr.ndim != 1:
        raise MlflowException(
            f"log_metric_array('{key}'): {name} must be one-dimensional, got shape {arr.shape}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if n is not None and len(arr) != n:
        raise MlflowException(
            f"log_metric_array('{key}'): {name} has {len(arr)} entries but values has {n}; "
            "they must be the same length",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if dtype is np.float64:
        if arr.dtype.kind not in "biuf":
            raise MlflowException(
                f"log_metric_array('{key}'): values must be real numbers, got dtype {arr.dtype}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        return np.ascontiguousarray(arr, "<f8")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.floor(arr)):
            raise MlflowException(
                f"log_metric_array('{key}'): {name} must be integers (got non-integral floats)",
                error_code=INVALID_PARAMETER_VALUE,
            )
    elif arr.dtype.kind not in "biu":
        raise MlflowException(
            f"log_metric_array('{key}'): {name} must be integers, got dtype {arr.dtype}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if arr.dtype.kind == "u" and len(arr) and int(arr.max()) > INT64_MAX:
        raise MlflowException(
            f"log_metric_array('{key}'): {name} must fit in 64-bit signed integers",
            error_code=INVALID_PARAMETER_VALUE,
        )
    out = np.ascontiguousarray(arr, "<i8")
    if name == "timestamps" and len(out) and int(out.min()) < 0:
        raise MlflowException(
            f"log_metric_array('{key}'): timestamps must be nonnegative milliseconds since the epoch",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return out


def _array_frame(
    run_id: str, key: str, values: bytes, timestamps: bytes, steps: bytes, pid: int, seq: int
) -> bytes:
    return encode(MetricArrayOp(pid, seq, run_id, key, values, timestamps, steps))


def log_metric_array(
    queue: OpQueue,
    run_id: str,
    key: str,
    values: object,
    steps: object = None,
    timestamps: object = None,
) -> RunOperations | None:
    """Queue many points of one metric as array operations (16,384 points each)."""
    check_metric_key(key)
    vals = _as_column("values", key, values, np.float64, None)
    n = len(vals)
    st = np.arange(n, dtype="<i8") if steps is None else _as_column("steps", key, steps, np.int64, n)
    ts = (
        np.full(n, now_ms(), dtype="<i8")
        if timestamps is None
        else _as_column("timestamps", key, timestamps, np.int64, n)
    )
    makers: list[Maker] = []
    for lo in range(0, n, ARRAY_CHUNK_POINTS):
        hi = min(n, lo + ARRAY_CHUNK_POINTS)
        makers.append(
            functools.partial(
                _array_frame, run_id, key, vals[lo:hi].tobytes(), ts[lo:hi].tobytes(), st[lo:hi].tobytes()
            )
        )
    return queue.put_many(makers)
