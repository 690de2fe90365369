"""Exactly once over an unreliable network: a log-batch whose answer is lost after the server committed it
is retried with the same ``Idempotency-Key``, and asynctrack's server applies it once.

Between the REST store and a real ``asynctrack server`` sits a real TCP proxy on loopback that forwards each
request and, for the first few log-batch requests, reads the server's answer and then drops the client's
connection instead of delivering it: the client sees a dropped connection after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest
from servers import ServerProcess, asynctrack_server, running

from asynctrack.entities import Param
from asynctrack.exceptions import INVALID_PARAMETER_VALUE
from asynctrack.store import BatchWrite, MetricSeries
from asynctrack.store.rest import RestStore


@pytest.fixture(scope="module")
def at_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(asynctrack_server(tmp_path_factory.mktemp("idem"))) as srv:
        yield srv


async def _read_http(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 message with a Content-Length body, or None at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


class LossyProxy:
    """Forwards HTTP/1.1 requests to ``upstream``; swallows the answers of the first ``drops`` log-batch
    requests (after the upstream answered) by closing the client connection."""

    def __init__(self, upstream_port: int, drops: int) -> None:
        self.upstream_port = upstream_port
        self.drops = drops
        self.dropped = 0
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            while (request := await _read_http(reader)) is not None:
                up_writer.write(request)
                await up_writer.drain()
                answer = await _read_http(up_reader)
                if answer is None:
                    break
                if b"/runs/log-batch" in request.split(b"\r\n", 1)[0] and self.dropped < self.drops:
                    self.dropped += 1
                    break  # the server committed; the client never hears of it
                writer.write(answer)
                await writer.drain()
        finally:
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            self.server.close()
            for task in self.handlers:  # connections still open (keep-alive): end them, and wait
                task.cancel()
            await asyncio.gather(*self.handlers, return_exceptions=True)
            await self.server.wait_closed()


def _series(n: int, start: int = 0) -> MetricSeries:
    steps = np.arange(start, start + n, dtype=np.int64)
    return MetricSeries("m", steps * 1.0, steps + 1, steps)


@pytest.mark.anyio
async def test_a_lost_answer_is_retried_and_applied_once(
    at_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    proxy = LossyProxy(int(at_server.url.rsplit(":", 1)[1]), drops=3)
    async with proxy.running() as url:
        store = await RestStore.open(url)
        try:
            run_id = (await store.create_run("0", "u", 1, [], "lossy")).info.run_id
            await store.log_batch(run_id, [_series(100)], [], [])  # the answers of 2 attempts are lost
            # 1 more lost answer, then applied once
            assert await store.log_batches([BatchWrite(run_id, [_series(50, 100)], key="replay:1")]) == [None]
            # a journal replay of the same write after a crash: same key, applied once
            assert await store.log_batches([BatchWrite(run_id, [_series(50, 100)], key="replay:1")]) == [None]
            history = await store.get_metric_series(run_id, "m")
        finally:
            await store.aclose()
    assert proxy.dropped == 3
    assert history.steps.tolist() == list(range(150))


@pytest.mark.anyio
async def test_on_durable_runs_only_when_a_write_was_written(at_server: ServerProcess) -> None:
    """The protocol's rule for ``log_batches(on_durable=...)`` on the REST store (the default outcome
    loop): not when every write failed, once when one was written; so for one write it means that write
    is in the store (the pipeline completes a chunk on it)."""
    store = await RestStore.open(at_server.url)
    try:
        run_id = (await store.create_run("0", "u", 1, [], "durable")).info.run_id
        calls: list[int] = []
        assert await store.log_batches(
            [BatchWrite(run_id, [_series(3)], [Param("p", "1")])], lambda: calls.append(1)
        ) == [None]
        assert calls == [1]
        bad = BatchWrite(run_id, [_series(1, 10)], [Param("p", "2")])  # p re-logged with another value
        (outcome,) = await store.log_batches([bad], lambda: calls.append(2))
        assert outcome is not None and outcome.error_code == INVALID_PARAMETER_VALUE
        assert calls == [1]
        outcomes = await store.log_batches([bad, bad], lambda: calls.append(3))
        assert all(o is not None for o in outcomes)
        assert calls == [1]
        assert (await store.get_metric_series(run_id, "m")).steps.tolist() == [0, 1, 2]
    finally:
        await store.aclose()
