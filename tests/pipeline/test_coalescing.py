"""Coalescing: operations become log_batch writes within the store's limits, per run, in order."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import asynctrack as mlflow
from asynctrack._batching._batch import coalesce, split_by, split_rows
from asynctrack._batching._ops import (
    METRIC_DTYPE,
    METRIC_TAG,
    BarrierOp,
    DeleteTagOp,
    MetricPoints,
    ParamOp,
    TagOp,
    decode_chunk,
    encode,
    pack_metric,
)
from asynctrack._tracking_uri import resolve
from asynctrack.entities import Param, RunTag
from asynctrack.pipeline._pipeline import Pipeline
from asynctrack.pipeline._registry import _loop
from asynctrack.store import BatchLimits, MetricSeries
from asynctrack.store.sqlite import SqliteStore

NAMES = ["run-a", "run-b", "loss", "acc"]


def metric(seq: int, run: int, key: int, step: int) -> bytes:
    return pack_metric(METRIC_TAG, 1, seq, run, key, float(step), 1000, step)


def test_split_by_groups_rows_by_value_in_their_original_order() -> None:
    rng = np.random.default_rng(7)
    for column in (
        np.array([], np.int32),
        np.array([5], np.int32),
        np.full(9, 3, np.int32),
        np.tile(np.arange(4, dtype=np.int32), 50),
        rng.integers(0, 7, 1000).astype(np.int32),
    ):
        groups = split_by(column)
        expected = {int(v): np.flatnonzero(column == v) for v in np.unique(column)}
        assert [v for v, _ in groups] == sorted(expected)
        for v, idx in groups:
            assert idx.tolist() == expected[v].tolist()


def test_split_rows_takes_each_values_rows_in_order_and_views_a_repeating_pattern() -> None:
    """split_rows gives the rows split_by's indexes select; a column repeating a pattern of distinct
    values (a training loop's keys, step after step) comes out as views of the rows, nothing copied;
    anything else (a value twice in the pattern, a cut-off pattern, a longer one) as copies."""
    rng = np.random.default_rng(11)
    pattern = np.tile(np.array([7, 3, 9, 4], np.uint32), 400)
    cases = {
        "repeating": (pattern, True),
        "one value": (np.full(50, 5, np.uint32), True),
        "single row": (np.array([2], np.uint32), True),
        "all distinct": (np.arange(10, dtype=np.uint32)[::-1].copy(), True),
        "a value twice in the pattern": (np.tile(np.array([1, 2, 2], np.uint32), 20), False),
        "cut off": (pattern[:-1], False),
        "pattern changes": (np.concatenate([pattern[:8], pattern[8:][::-1]]), False),
        "longer than 256": (np.tile(np.arange(300, dtype=np.uint32), 3), False),
        "random": (rng.integers(0, 6, 999).astype(np.uint32), False),
        "empty": (np.array([], np.uint32), True),
    }
    for name, (column, views) in cases.items():
        rows = np.zeros(len(column), METRIC_DTYPE)
        rows["key"] = column
        rows["step"] = np.arange(len(column))
        got = split_rows(rows, rows["key"])
        expected = {value: rows[idx] for value, idx in split_by(column)}
        assert sorted(value for value, _ in got) == sorted(expected), name
        for value, sub in got:
            assert sub.tobytes() == expected[value].tobytes(), name  # the same rows, in order
            if len(got) > 1:
                assert np.shares_memory(sub, rows) == views, name


def test_coalesce_respects_limits_and_keeps_run_order() -> None:
    """Batches never exceed the limits; each run's batches keep its operations in order."""
    limits = BatchLimits(max_metrics=10, max_params=3, max_tags=2, max_entities=12)
    frames: list[bytes] = []
    seq = 0
    for i in range(25):
        seq += 1
        frames.append(metric(seq, i % 2, 2 + i % 2, i))
    for i in range(7):
        seq += 1
        frames.append(encode(ParamOp(1, seq, "run-a", f"p{i}", "v")))
    for i in range(5):
        seq += 1
        frames.append(encode(TagOp(1, seq, "run-a", f"t{i}", "v")))
    seq += 1
    frames.append(encode(DeleteTagOp(1, seq, "run-a", "t0")))
    seq += 1
    frames.append(encode(TagOp(1, seq, "run-a", "t0", "again")))
    batches = coalesce(decode_chunk(frames), NAMES, limits)
    for b in batches:
        assert b.n_points <= limits.max_metrics
        assert len(b.params) <= limits.max_params and len(b.tags) <= limits.max_tags
        assert b.n_points + len(b.params) + len(b.tags) <= limits.max_entities
    points = {run: [] for run in ("run-a", "run-b")}  # type: dict[str, list[int]]
    for b in batches:
        for item in b.items:
            if isinstance(item, MetricPoints):
                points[b.run_id].extend(int(s) for s in item.rows["step"])
    assert points["run-a"] == list(range(0, 25, 2)) and points["run-b"] == list(range(1, 25, 2))
    kinds = [type(b.items[0]).__name__ for b in batches if b.run_id == "run-a" and b.items]
    delete_at = kinds.index("DeleteTagOp")
    after = batches[[i for i, b in enumerate(batches) if b.run_id == "run-a"][delete_at + 1]]
    assert after.tags == {"t0": "again"}  # the re-set tag comes after the deletion, in its own batch


def test_param_relogged_with_other_value_starts_a_new_batch() -> None:
    """A param re-logged with a different value is not merged into the batch holding the first."""
    frames = [
        encode(ParamOp(1, 1, "run-a", "p", "1")),
        encode(ParamOp(1, 2, "run-a", "p", "1")),
        encode(ParamOp(1, 3, "run-a", "p", "2")),
    ]
    batches = coalesce(decode_chunk(frames), NAMES, BatchLimits())
    assert [b.params for b in batches] == [{"p": "1"}, {"p": "2"}]
    assert len(batches[0].items) == 2


def test_barrier_travels_alone() -> None:
    """A barrier is its own batch and closes nothing else."""
    frames = [metric(1, 0, 2, 0), encode(BarrierOp(1, 2)), metric(3, 0, 2, 1)]
    batches = coalesce(decode_chunk(frames), NAMES, BatchLimits())
    assert [type(b.items[0]).__name__ for b in batches] == ["MetricPoints", "BarrierOp"]
    assert batches[0].n_points == 2


class RecordingStore(SqliteStore):
    """The real SQLite store with MLflow's REST batch limits, recording each log_batch's size."""

    limits = BatchLimits()
    sizes: list[tuple[int, int, int]]

    async def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricSeries],
        params: Sequence[Param],
        tags: Sequence[RunTag],
        on_durable: Callable[[], None] | None = None,
    ) -> None:
        self.sizes.append((sum(len(s) for s in metrics), len(params), len(tags)))
        await super().log_batch(run_id, metrics, params, tags, on_durable)


def test_worker_writes_within_mlflow_limits(db: Path) -> None:
    """With MLflow's limits, 5,000 metrics, 250 params and 250 tags go in batches within them."""
    location = resolve(f"sqlite:///{db}")

    async def open_store() -> RecordingStore:
        store = await RecordingStore.open(location.db_path, location.artifact_root)
        store.sizes = []
        return store

    store = _loop.call(open_store)
    pipeline = Pipeline(location, store, _loop)
    try:
        run = mlflow.MlflowClient().create_run("0")
        rid = run.info.run_id
        queue = pipeline.queue
        ops: list[Any] = [queue.put_metric(rid, "m", float(i), 1, i) for i in range(5000)]
        for i in range(250):
            ops.append(queue.put(lambda pid, seq, i=i: encode(ParamOp(pid, seq, rid, f"p{i}", "v"))))
            ops.append(queue.put(lambda pid, seq, i=i: encode(TagOp(pid, seq, rid, f"t{i}", "v"))))
        mlflow.RunOperations.combine(ops).wait()  # type: ignore[union-attr]
        sizes = store.sizes
        assert sum(s[0] for s in sizes) == 5000
        assert sum(s[1] for s in sizes) == 250 and sum(s[2] for s in sizes) == 250
        for m, p, t in sizes:
            assert m <= 1000 and p <= 100 and t <= 100 and m + p + t <= 1000
        assert len(sizes) < 5000 / 100  # coalesced, not one write per operation
    finally:
        assert pipeline.shutdown(deadline=time.monotonic() + 30) is None
