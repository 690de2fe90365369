"""Exact chart reductions: a metric's points in an x range cut into at most ``n`` buckets, each keeping the
min, max and last value of exactly the points it holds (never a stride or reservoir sample).

The points of a series are put in *x order*: by x (step, wall time or relative time), ties in logging order.
A bucket is a run of consecutive points in that order, so every point counts in exactly one bucket and a
one-step spike is in ``max`` at every zoom. Bucket edges are evenly spaced in x over the range; a store may
hand in pre-summarised *units* (runs of consecutive points with their min/max/last, written at write time)
instead of points, and a unit goes whole into the bucket of its last point: edges then snap to unit
boundaries, which keeps the cost proportional to the number of units read, not of points.

Min and max ignore NaN (a NaN never hides a spike; a bucket of only NaN has NaN min and max); ±inf count as
values. Each bucket also counts its NaN, +inf and -inf points, so none goes unreported.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "MAX_BUCKETS",
    "X_KINDS",
    "MetricBuckets",
    "MetricUpdate",
    "Units",
    "check_bucket_query",
    "empty_buckets",
    "invalid_cursor",
    "parse_count_cursor",
    "point_units",
    "raw_buckets",
    "reduce_units",
    "x_order",
]

X_KINDS = ("step", "wall", "relative")
MAX_BUCKETS = 5000


def invalid_cursor(cursor: str, key: str) -> MlflowException:
    """A live-update cursor this store never gave out: refused, never read as "start over" (a forged or
    garbled cursor must not silently make a page re-read whole histories)."""
    shown = cursor if len(cursor) <= 60 else f"{cursor[:40]}...({len(cursor)} characters)"
    return MlflowException(
        f"Invalid cursor {shown!r} for metric '{key}': pass the cursor from series or updates unchanged.",
        error_code=INVALID_PARAMETER_VALUE,
    )


def parse_count_cursor(cursor: str, key: str) -> int:
    """The embedded stores' cursor: a point count, a plain non-negative decimal."""
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 19:
        raise invalid_cursor(cursor, key)
    return int(cursor)


F8 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int64]


class MetricBuckets(msgspec.Struct):
    """One series reduced for a chart. Arrays have one entry per non-empty bucket, in x order.

    ``x``: the x of each bucket's last point (a step, or ms: wall time, or wall time minus the run's start
    for ``relative``); ``counts``: points per bucket; ``min``/``max``: NaN-ignoring; ``last``: the value of
    the bucket's last point; ``nan``/``pos_inf``/``neg_inf``: how many such points each bucket holds.
    ``raw``: the range holds no more points than buckets asked, and each bucket is one point. ``count``:
    points in range; ``x_first``/``x_last``: x of the first and last of them. ``cursor``: where live updates
    (:meth:`AbstractStore.metric_updates`) continue from, read in the same snapshot.
    """

    key: str
    x_kind: str
    raw: bool
    count: int
    x: I8
    counts: I8
    min: F8
    max: F8
    last: F8
    nan: I8
    pos_inf: I8
    neg_inf: I8
    x_first: int | None
    x_last: int | None
    cursor: str


class MetricUpdate(msgspec.Struct):
    """Points written after a cursor, in logging order, and the cursor to continue from. ``reset``: the
    cursor did not fit the series any more (the data was rewritten): reload it whole."""

    series: Any  # MetricSeries (kept untyped here to avoid an import cycle with _protocol)
    cursor: str
    reset: bool = False


class Units(msgspec.Struct):
    """Runs of consecutive points in x order (one point each, or a pre-summarised block)."""

    x0: I8
    x1: I8
    n: I8
    vmin: F8
    vmax: F8
    last: F8
    nan: I8
    pos_inf: I8
    neg_inf: I8

    def __len__(self) -> int:
        return len(self.n)

    def take(self, index: npt.NDArray[np.intp] | slice) -> Units:
        return Units(*(getattr(self, f)[index] for f in self.__struct_fields__))

    @classmethod
    def concat(cls, parts: list[Units]) -> Units:
        if not parts:
            return point_units(np.empty(0, np.int64), np.empty(0, np.float64))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__struct_fields__))


def check_bucket_query(x_kind: str, start: float | None, end: float | None, n_buckets: int) -> None:
    """MLflow-style errors for a bad reduction request."""
    if x_kind not in X_KINDS:
        raise MlflowException(
            f"Invalid x {x_kind!r}: expected one of {list(X_KINDS)}", error_code=INVALID_PARAMETER_VALUE
        )
    if not 1 <= n_buckets <= MAX_BUCKETS:
        raise MlflowException(
            f"Invalid number of buckets {n_buckets}: it must be between 1 and {MAX_BUCKETS}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if start is not None and end is not None and start > end:
        raise MlflowException(
            f"Invalid range: start {start} is after end {end}", error_code=INVALID_PARAMETER_VALUE
        )


def x_order(x: I8) -> npt.NDArray[np.intp]:
    """The x order of points given in logging order: by x, ties keeping logging order."""
    return np.argsort(x, kind="stable")


def point_units(x: I8, values: F8) -> Units:
    """Each point a unit of its own."""
    nan = np.isnan(values)
    return Units(
        x,
        x,
        np.ones(len(x), np.int64),
        values,
        values,
        values,
        nan.astype(np.int64),
        (values == np.inf).astype(np.int64),
        (values == -np.inf).astype(np.int64),
    )


def in_range(x: I8, start: float | None, end: float | None) -> npt.NDArray[np.bool_]:
    keep = np.ones(len(x), np.bool_)
    if start is not None:
        keep &= x >= start
    if end is not None:
        keep &= x <= end
    return keep


def empty_buckets(key: str, x_kind: str, cursor: str) -> MetricBuckets:
    i = np.empty(0, np.int64)
    f = np.empty(0, np.float64)
    return MetricBuckets(key, x_kind, True, 0, i, i, f, f, f, i, i, i, None, None, cursor)


def raw_buckets(key: str, x_kind: str, units: Units, cursor: str, shift: int = 0) -> MetricBuckets:
    """Units that are single points, as they are (``raw``)."""
    if len(units) == 0:
        return empty_buckets(key, x_kind, cursor)
    return MetricBuckets(
        key,
        x_kind,
        True,
        len(units),
        units.x1 - shift,
        units.n,
        units.vmin,
        units.vmax,
        units.last,
        units.nan,
        units.pos_inf,
        units.neg_inf,
        int(units.x0[0]) - shift,
        int(units.x1[-1]) - shift,
        cursor,
    )


def reduce_units(
    key: str,
    x_kind: str,
    units: Units,
    start: float | None,
    end: float | None,
    n_buckets: int,
    cursor: str,
    shift: int = 0,
) -> MetricBuckets:
    """Cut ``units`` (in x order, all inside the range) into at most ``n_buckets`` buckets with edges evenly
    spaced over ``[start, end]`` (the units' own extent where not given); a unit goes to the bucket of its
    last point. ``shift`` is subtracted from every x reported (relative time)."""
    if len(units) == 0:
        return empty_buckets(key, x_kind, cursor)
    lo = float(units.x0[0]) if start is None else float(start)
    hi = float(units.x1[-1]) if end is None else float(end)
    width = hi - lo
    if width > 0:
        position = (units.x1.astype(np.float64) - lo) * (n_buckets / width)
        idx = np.clip(np.floor(position), 0, n_buckets - 1).astype(np.int64)
    else:
        idx = np.zeros(len(units), np.int64)
    # x order makes idx non-decreasing: buckets are runs of equal idx.
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ends = np.r_[starts[1:], len(units)] - 1
    counts = np.add.reduceat(units.n, starts)
    return MetricBuckets(
        key,
        x_kind,
        False,
        int(counts.sum()),
        units.x1[ends] - shift,
        counts,
        np.fmin.reduceat(units.vmin, starts),
        np.fmax.reduceat(units.vmax, starts),
        units.last[ends],
        np.add.reduceat(units.nan, starts),
        np.add.reduceat(units.pos_inf, starts),
        np.add.reduceat(units.neg_inf, starts),
        int(units.x0[0]) - shift,
        int(units.x1[-1]) - shift,
        cursor,
    )


def reduce_points(
    key: str,
    x_kind: str,
    x: I8,
    values: F8,
    start: float | None,
    end: float | None,
    n_buckets: int,
    cursor: str,
    shift: int = 0,
) -> MetricBuckets:
    """The reduction of points given in logging order (x already in the store's domain, shift applied on
    output): sorted into x order, clipped to the range, raw when few enough."""
    order = x_order(x)
    x, values = x[order], values[order]
    keep = in_range(x, start, end)
    if not keep.all():
        x, values = x[keep], values[keep]
    units = point_units(x, values)
    if len(units) <= n_buckets:
        return raw_buckets(key, x_kind, units, cursor, shift)
    return reduce_units(key, x_kind, units, start, end, n_buckets, cursor, shift)
