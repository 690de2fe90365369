"""The batching worker: one task on the background loop per pipeline.

It sleeps until woken, lingers a few milliseconds for a batch to fill (unless a caller is waiting),
drains a chunk, coalesces it into per-run ``log_batch`` writes, retries transient store errors with
capped back-off, splits a batch that fails permanently until only the bad operations fail, and finally
advances the producers' watermarks. Nothing escapes its loop: an unexpected error fails the operations
it hit, is logged, and the worker carries on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import anyio

from asynctrack.exceptions import INTERNAL_ERROR, MlflowException
from asynctrack.pipeline._batch import Batch, coalesce, rebuild
from asynctrack.pipeline._ops import BarrierOp, DeleteTagOp, Op, UpdateRunOp, decode_many
from asynctrack.pipeline._queue import BIG_FRAME, OpQueue
from asynctrack.store import AbstractStore
from asynctrack.store._retry import retry_transient

__all__ = ["Worker"]

_log = logging.getLogger("asynctrack")
_MAX_DISTINCT_LOGGED = 1000


class Worker:
    """Drains one :class:`OpQueue` into one store."""

    def __init__(
        self,
        queue: OpQueue,
        store: AbstractStore,
        *,
        linger: float,
        chunk_size: int = 8192,
        batch_target: int = 1000,
        name: str = "",
    ) -> None:
        self._queue = queue
        self._store = store
        self._linger = linger
        self._chunk_size = chunk_size
        self._target = batch_target
        self._name = name
        self._event = anyio.Event()
        self.inflight = 0  # operations taken from the queue and not yet completed
        self.written = 0  # operations completed successfully, for statistics and the exit report
        self.failed = 0
        self._logged: set[str] = set()

    def _on_wake(self) -> None:
        self._event.set()

    async def run(self) -> None:
        q = self._queue
        q.attach(asyncio.get_running_loop(), self._on_wake)
        try:
            while True:
                await self._wait_for_work()
                frames = self._take()
                if frames:
                    await self._process(frames)
        finally:
            q.stopped = True
            with q.cond:
                q.cond.notify_all()

    async def _wait_for_work(self) -> None:
        q = self._queue
        if not q.dq:
            self._event = event = anyio.Event()
            q.idle = True
            if not q.dq:  # re-check after raising the flag: see OpQueue's docstring
                await event.wait()
            q.idle = False
        if self._linger > 0 and len(q.dq) < self._target and not q.waiters and not q.blocked:
            self._event = event = anyio.Event()
            q.lingering = True
            with anyio.move_on_after(self._linger):
                await event.wait()
            q.lingering = False

    def _take(self) -> list[bytes]:
        q = self._queue
        dq = q.dq
        n = min(len(dq), self._chunk_size)
        popleft = dq.popleft
        frames = [popleft() for _ in range(n)]
        self.inflight = n
        big = sum(1 for f in frames if len(f) >= BIG_FRAME)
        if big:
            q.big_taken += big
        if q.blocked:
            q.notify()
        return frames

    async def _process(self, frames: list[bytes]) -> None:
        try:
            ops = decode_many(frames)
        except Exception:  # a bug, never user input: frames are produced by our own encoder
            _log.exception("asynctrack: could not decode %d queued operations", len(frames))
            self.inflight = 0
            return
        failed_before = self.failed
        for batch in coalesce(ops, self._store.limits):
            await self._apply(batch)
        # Reached only when every batch was written or failed; a cancelled chunk stays in flight and is
        # counted as not written.
        self._complete(ops, self.failed - failed_before)

    async def _apply(self, batch: Batch) -> None:
        if not batch.ops or isinstance(batch.ops[0], BarrierOp):
            return
        try:
            await retry_transient(lambda: self._write(batch), what=f"logging to run {batch.run_id}")
        except MlflowException as exc:
            await self._split(batch, exc)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            _log.exception("asynctrack: unexpected error writing a batch for run %s", batch.run_id)
            await self._split(batch, MlflowException(f"{type(exc).__name__}: {exc}", INTERNAL_ERROR))

    async def _write(self, batch: Batch) -> None:
        first = batch.ops[0]
        if isinstance(first, DeleteTagOp):
            await self._store.delete_tag(batch.run_id, first.key)
            return
        if isinstance(first, UpdateRunOp):
            await self._store.update_run_info(
                batch.run_id, first.status, first.end_time, first.run_name
            )
            return
        await self._store.log_batch(
            batch.run_id, batch.metric_series(), batch.param_list(), batch.tag_list()
        )

    async def _split(self, batch: Batch, exc: MlflowException) -> None:
        ops = batch.ops
        if len(ops) == 1:
            self._fail(ops[0], exc)
            return
        # Halve until the failing operations are alone; good ones around them are written.
        mid = len(ops) // 2
        for half in (ops[:mid], ops[mid:]):
            await self._apply(rebuild(batch.run_id, half))

    def _fail(self, op: Op, exc: MlflowException) -> None:
        self.failed += 1
        producer = self._queue.producers.get(op.producer)
        if producer is not None:
            producer.fail(op.seq, exc)
        if exc.message not in self._logged and len(self._logged) < _MAX_DISTINCT_LOGGED:
            self._logged.add(exc.message)
            _log.warning(
                "asynctrack: a logging operation for run %s failed: %s (%s)",
                op.run_id, exc.message, exc.error_code,
            )

    def _complete(self, ops: Sequence[Op], n_failed: int) -> None:
        last: dict[int, int] = {}
        for op in ops:
            last[op.producer] = op.seq
        producers = self._queue.producers
        for pid, seq in last.items():
            p = producers.get(pid)
            if p is not None and seq > p.done:
                p.done = seq
        self.written += len(ops) - n_failed
        self.inflight = 0
        self._queue.notify()
