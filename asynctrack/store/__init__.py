"""Stores: the async protocol and its backends."""

from __future__ import annotations

from asynctrack.store._overview import ExperimentStats, RunKeys
from asynctrack.store._paged import PagedList
from asynctrack.store._protocol import (
    AbstractStore,
    BatchLimits,
    BatchWrite,
    ExpressWriter,
    MetricSeries,
    RunCounts,
    StoreUnavailable,
)

__all__ = [
    "AbstractStore",
    "BatchLimits",
    "BatchWrite",
    "ExperimentStats",
    "ExpressWriter",
    "MetricSeries",
    "PagedList",
    "RunCounts",
    "RunKeys",
    "StoreUnavailable",
]
