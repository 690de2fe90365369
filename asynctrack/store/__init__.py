"""Stores: the async protocol and its backends."""

from __future__ import annotations

from asynctrack.store._paged import PagedList
from asynctrack.store._protocol import AbstractStore, BatchLimits, MetricSeries, StoreUnavailable

__all__ = ["AbstractStore", "BatchLimits", "MetricSeries", "PagedList", "StoreUnavailable"]
