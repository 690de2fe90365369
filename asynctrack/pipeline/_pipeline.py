"""A pipeline: one store, its queue, and the worker that drains one into the other."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from asynctrack._tracking_uri import StoreLocation
from asynctrack.environment import ASYNCTRACK_LINGER_MS, ASYNCTRACK_QUEUE_FULL, ASYNCTRACK_QUEUE_SIZE
from asynctrack.pipeline._loop import BackgroundLoop
from asynctrack.pipeline._operations import RunOperations
from asynctrack.pipeline._ops import (
    BarrierOp,
    MetricArrayOp,
    MetricOp,
    ParamOp,
    TagOp,
    UpdateRunOp,
    decode_many,
)
from asynctrack.pipeline._queue import OpQueue
from asynctrack.pipeline._worker import Worker
from asynctrack.store import AbstractStore
from asynctrack.store._open import open_store

__all__ = ["Pipeline"]

T = TypeVar("T")
_log = logging.getLogger("asynctrack")


class Pipeline:
    """Everything asynctrack runs for one tracking URI in this process."""

    def __init__(self, location: StoreLocation, store: AbstractStore, loop: BackgroundLoop) -> None:
        self.location = location
        self.store = store
        self.loop = loop
        self.queue = OpQueue(ASYNCTRACK_QUEUE_SIZE.get(), ASYNCTRACK_QUEUE_FULL.get())
        self.worker = Worker(
            self.queue, store, linger=ASYNCTRACK_LINGER_MS.get() / 1000.0, name=location.uri
        )
        self._task = loop.submit(self.worker.run)
        self._task.add_done_callback(self._worker_ended)

    @classmethod
    def open(cls, location: StoreLocation, loop: BackgroundLoop) -> Pipeline:
        return cls(location, loop.call(open_store, location), loop)

    def _worker_ended(self, fut: Any) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            _log.error("asynctrack: the logging worker for %s died", self.location.uri,
                       exc_info=fut.exception())

    # -- store calls from sync code
    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a store coroutine on the background loop and return its result."""
        return self.loop.call(fn, *args)

    # -- flushing
    def barrier(self) -> RunOperations:
        return self.queue.put(lambda pid, seq: BarrierOp(pid, seq))

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything enqueued before this call is written (or failed)."""
        self.barrier().wait(timeout)

    def sync_own_writes(self) -> None:
        """Wait for this thread's earlier operations, so a read sees what the caller wrote."""
        p = self.queue.producer()
        if p.done < p.issued:
            self.queue.wait_done(p, p.issued, None)

    # -- shutdown
    def shutdown(self, deadline: float) -> str | None:
        """Flush until ``deadline`` (a ``time.monotonic`` value), then stop; return a report of what
        could not be written, or None when everything was."""
        try:
            self.barrier().wait(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            pass
        except Exception as exc:  # a closed queue, a failed barrier: report below
            _log.debug("asynctrack: flush at shutdown failed: %r", exc)
        self.queue.close("the interpreter is exiting")
        report = self._unwritten_report()
        self._task.cancel()
        try:
            self.loop.call(self._aclose_store, 2.0)
        except Exception as exc:
            _log.debug("asynctrack: closing the store failed: %r", exc)
        return report

    async def _aclose_store(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self.store.aclose()

    def _unwritten_report(self) -> str | None:
        frames = list(self.queue.dq)
        inflight = self.worker.inflight
        kinds: Counter[str] = Counter()
        runs: set[str] = set()
        n_ops = 0
        for op in decode_many(frames) if frames else []:
            if isinstance(op, BarrierOp):
                continue
            n_ops += 1
            runs.add(op.run_id)
            if isinstance(op, MetricOp):
                kinds["metric points"] += 1
            elif isinstance(op, MetricArrayOp):
                kinds["metric points"] += len(op.values) // 8
            elif isinstance(op, ParamOp):
                kinds["params"] += 1
            elif isinstance(op, TagOp):
                kinds["tags"] += 1
            elif isinstance(op, UpdateRunOp):
                kinds["run updates"] += 1
            else:
                kinds["tag deletions"] += 1
        if not n_ops and not inflight:
            return None
        detail = ", ".join(f"{n} {what}" for what, n in kinds.items()) or "none queued"
        return (
            f"asynctrack: {n_ops + inflight} logging operations were NOT written to "
            f"{self.location.uri} before exit ({inflight} in flight; queued: {detail}; "
            f"runs: {', '.join(sorted(runs)) or '-'}). The store did not accept them within "
            f"ASYNCTRACK_EXIT_TIMEOUT; {self.worker.written} operations were written in this process."
        )
