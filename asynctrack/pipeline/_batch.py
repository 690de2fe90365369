"""Coalescing: consecutive operations of one run become ``log_batch`` writes within the store's limits.

Operations of one run keep their order: a run's batches are applied in the order they were opened, and a
batch never reorders what it holds in a way that changes the outcome (tags: last write wins; a param
re-logged with another value, or a tag deletion, closes the batch so the later operation sees the earlier
one applied).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from asynctrack.entities import Param, RunTag
from asynctrack.pipeline._ops import (
    BarrierOp,
    DeleteTagOp,
    MetricArrayOp,
    MetricOp,
    Op,
    ParamOp,
    TagOp,
    UpdateRunOp,
)
from asynctrack.store import BatchLimits, MetricSeries

__all__ = ["Batch", "coalesce", "rebuild"]


class Batch:
    """Operations of one run written together; or one tag deletion, run update or barrier alone."""

    __slots__ = ("_arrays", "_points", "closed", "n_points", "ops", "params", "run_id", "tags")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.ops: list[Op] = []
        self.n_points = 0
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self._points: dict[str, tuple[list[float], list[int], list[int]]] = {}
        self._arrays: dict[str, list[MetricArrayOp]] = {}
        self.closed = False  # holds a deletion or barrier: nothing may join it

    @property
    def is_write(self) -> bool:
        return not self.closed

    def accepts(self, op: Op, limits: BatchLimits) -> bool:
        if self.closed:
            return False
        if isinstance(op, (DeleteTagOp, BarrierOp, UpdateRunOp)):
            return not self.ops
        n_entities = self.n_points + len(self.params) + len(self.tags)
        if isinstance(op, MetricOp):
            return self.n_points < limits.max_metrics and n_entities < limits.max_entities
        if isinstance(op, MetricArrayOp):
            if not self.ops:
                return True  # an array larger than the limit travels alone
            n = len(op.values) // 8
            return self.n_points + n <= limits.max_metrics and n_entities + n <= limits.max_entities
        if isinstance(op, ParamOp):
            old = self.params.get(op.key)
            if old is not None:
                return old == op.value
            return len(self.params) < limits.max_params and n_entities < limits.max_entities
        if isinstance(op, TagOp):
            if op.key in self.tags:
                return True
            return len(self.tags) < limits.max_tags and n_entities < limits.max_entities
        return False

    def add(self, op: Op) -> None:
        self.ops.append(op)
        if isinstance(op, MetricOp):
            pts = self._points.get(op.key)
            if pts is None:
                pts = self._points[op.key] = ([], [], [])
            pts[0].append(op.value)
            pts[1].append(op.timestamp)
            pts[2].append(op.step)
            self.n_points += 1
        elif isinstance(op, MetricArrayOp):
            self._arrays.setdefault(op.key, []).append(op)
            self.n_points += len(op.values) // 8
        elif isinstance(op, ParamOp):
            self.params[op.key] = op.value
        elif isinstance(op, TagOp):
            self.tags[op.key] = op.value
        else:
            self.closed = True

    def metric_series(self) -> list[MetricSeries]:
        series = []
        for key, (values, stamps, steps) in self._points.items():
            series.append(
                MetricSeries(
                    key,
                    np.array(values, np.float64),
                    np.array(stamps, np.int64),
                    np.array(steps, np.int64),
                )
            )
        for key, arrays in self._arrays.items():
            series.append(
                MetricSeries(
                    key,
                    np.frombuffer(b"".join(a.values for a in arrays), "<f8"),
                    np.frombuffer(b"".join(a.timestamps for a in arrays), "<i8"),
                    np.frombuffer(b"".join(a.steps for a in arrays), "<i8"),
                )
            )
        return series

    def param_list(self) -> list[Param]:
        return [Param(k, v) for k, v in self.params.items()]

    def tag_list(self) -> list[RunTag]:
        return [RunTag(k, v) for k, v in self.tags.items()]


def rebuild(run_id: str, ops: Sequence[Op]) -> Batch:
    """A batch of exactly ``ops`` (used when a failed batch is split)."""
    batch = Batch(run_id)
    for op in ops:
        batch.add(op)
    return batch


def coalesce(ops: Sequence[Op], limits: BatchLimits) -> list[Batch]:
    """Group a drained chunk into batches: per run, in order, within ``limits``."""
    open_batch: dict[str, Batch] = {}
    batches: list[Batch] = []
    for op in ops:
        b = open_batch.get(op.run_id)
        if b is None or not b.accepts(op, limits):
            b = Batch(op.run_id)
            open_batch[op.run_id] = b
            batches.append(b)
        b.add(op)
    return batches
