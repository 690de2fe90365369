"""The group-commit writer, in process on a real SQLite store: concurrent requests share transactions,
each request still fails alone, and a request's data is durable when its write returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from loops import PRODUCTION_LOOP
from postgres_db import STORE_BACKENDS, backend_uri, open_test_store

from asynctrack.entities import Param, RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.server._batch import ParsedBatch
from asynctrack.server._writer import GroupCommitWriter
from asynctrack.store import AbstractStore, MetricSeries


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP  # asyncio on uvloop, in debug mode: the loop asynctrack runs (tests/loops.py)


def _series(key: str, start: int, n: int) -> MetricSeries:
    steps = np.arange(start, start + n, dtype=np.int64)
    return MetricSeries(key, steps.astype(np.float64), steps + 1, steps)


@pytest.fixture(params=STORE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _with_writer(tmp_path: Path, body, backend: str = "sqlite") -> None:  # type: ignore[no-untyped-def]
    with backend_uri(backend, str(tmp_path)) as uri:
        await _with_store(uri, tmp_path, body)


async def _with_store(uri: str, tmp_path: Path, body) -> None:  # type: ignore[no-untyped-def]
    store = await open_test_store(uri, str(tmp_path / "artifacts"))
    try:
        writer = GroupCommitWriter(store, write_timeout=30)
        async with anyio.create_task_group() as tasks:
            await tasks.start(writer.run)
            await body(store, writer)
            tasks.cancel_scope.cancel()
    finally:
        await store.aclose()


@pytest.mark.anyio
async def test_concurrent_requests_share_transactions(tmp_path: Path, backend: str) -> None:
    """40 concurrent requests to 2 runs are written in far fewer transactions, and all of them land."""

    async def body(store: AbstractStore, writer: GroupCommitWriter) -> None:
        runs = [(await store.create_run("0", "u", 1, [], None)).info.run_id for _ in range(2)]
        async with anyio.create_task_group() as tasks:
            for i in range(40):
                batch = ParsedBatch(runs[i % 2], [_series("m", i * 10, 10)], [Param(f"p{i}", "v")], [])
                tasks.start_soon(writer.write, batch)
        assert writer.requests == 40
        assert writer.transactions < 20
        for r, run_id in enumerate(runs):
            series = await store.get_metric_series(run_id, "m")
            expected = [s for i in range(r, 40, 2) for s in range(i * 10, i * 10 + 10)]
            assert series.steps.tolist() == expected  # merged per key, every point, in step order
            assert series.values.tolist() == [float(s) for s in expected]
            assert series.timestamps.tolist() == [s + 1 for s in expected]
            assert len((await store.get_run(run_id)).data.params) == 20

    await _with_writer(tmp_path, body, backend)


@pytest.mark.anyio
async def test_a_bad_request_fails_alone_in_a_group(tmp_path: Path, backend: str) -> None:
    """A param re-logged with another value fails only its own request; the other requests merged with it
    are written, and nothing of the failed request is (its metric and tag are absent)."""

    async def body(store: AbstractStore, writer: GroupCommitWriter) -> None:
        run_id = (await store.create_run("0", "u", 1, [], None)).info.run_id
        await store.log_batch(run_id, [], [Param("p", "1")], [])
        outcomes: dict[int, BaseException | None] = {}

        async def send(i: int, batch: ParsedBatch) -> None:
            try:
                await writer.write(batch)
                outcomes[i] = None
            except MlflowException as exc:
                outcomes[i] = exc

        async with anyio.create_task_group() as tasks:
            for i in range(10):
                params = [Param("p", "2")] if i == 5 else [Param(f"q{i}", "v")]
                tags = [RunTag(f"t{i}", "x")]
                tasks.start_soon(send, i, ParsedBatch(run_id, [_series(f"m{i}", 0, 3)], params, tags))
        failed = {i for i, exc in outcomes.items() if exc is not None}
        assert failed == {5}
        assert "Changing param values is not allowed" in str(outcomes[5])
        run = await store.get_run(run_id)
        assert set(run.data.metrics) == {f"m{i}" for i in range(10) if i != 5}
        assert "t5" not in run.data.tags and run.data.params["p"] == "1"

    await _with_writer(tmp_path, body, backend)


@pytest.mark.anyio
async def test_merged_batches_stay_within_the_store_limits(tmp_path: Path, backend: str) -> None:
    """Requests are merged only up to the store's BatchLimits (here 100 params per transaction)."""

    async def body(store: AbstractStore, writer: GroupCommitWriter) -> None:
        run_id = (await store.create_run("0", "u", 1, [], None)).info.run_id
        async with anyio.create_task_group() as tasks:
            for i in range(6):
                params = [Param(f"r{i}-{j}", "v") for j in range(60)]
                tasks.start_soon(writer.write, ParsedBatch(run_id, [], params, []))
        assert writer.writes == 6  # 60 + 60 params would pass the limit of 100: no two are merged
        assert len((await store.get_run(run_id)).data.params) == 360

    await _with_writer(tmp_path, body, backend)


@pytest.mark.anyio
async def test_requests_for_different_runs_share_one_transaction(tmp_path: Path, backend: str) -> None:
    """8 runs, one request each, queued together: one log_batches call, 8 writes, every run complete."""

    async def body(store: AbstractStore, writer: GroupCommitWriter) -> None:
        runs = [(await store.create_run("0", "u", 1, [], None)).info.run_id for _ in range(8)]
        async with anyio.create_task_group() as tasks:
            for run_id in runs:
                tasks.start_soon(writer.write, ParsedBatch(run_id, [_series("m", 0, 10)], [], []))
        assert writer.requests == 8 and writer.writes == 8
        assert writer.transactions <= 2  # the first request may be written before the others arrive
        for run_id in runs:
            assert (await store.get_metric_series(run_id, "m")).steps.tolist() == list(range(10))

    await _with_writer(tmp_path, body, backend)


@pytest.mark.anyio
async def test_keyed_requests_are_written_once(tmp_path: Path, backend: str) -> None:
    """A request with an idempotency key is written alone under it; the same key again is a no-op success."""

    async def body(store: AbstractStore, writer: GroupCommitWriter) -> None:
        run_id = (await store.create_run("0", "u", 1, [], None)).info.run_id
        keyed = ParsedBatch(run_id, [_series("m", 0, 5)], [Param("p", "1")], [], key="client-1:1")
        async with anyio.create_task_group() as tasks:
            for _ in range(3):
                tasks.start_soon(writer.write, keyed)
            tasks.start_soon(writer.write, ParsedBatch(run_id, [_series("m", 5, 5)], [], []))
        await writer.write(keyed)
        assert (await store.get_metric_series(run_id, "m")).steps.tolist() == list(range(10))

    await _with_writer(tmp_path, body, backend)
