"""Group commit: concurrent log-batch requests written together, each answered after its data is durable.

Every metric, param and tag write of the server (log-batch, log-metric, log-parameter, set-tag) is handed
to one :class:`GroupCommitWriter` per worker process. Its task takes everything queued while the previous
transaction ran, merges the requests of each run (in arrival order, within the store's ``BatchLimits``;
the points of one key become one series) and writes all runs' merged batches with one
``store.log_batches`` call: one SQLite transaction (a savepoint per batch) instead of one per request.
A request's coroutine returns only after the transaction holding its data committed. A request carrying
an ``Idempotency-Key`` header is written alone under that key, so a retried or replayed request applies
once.

Each request was checked whole before it was queued (``_batch.py``). If a merged write still fails for a
reason only the store knows (a param re-logged with another value, a deleted run), the requests of that
group are written again one by one, so each fails or succeeds on its own data only; a transaction is all
or nothing, so a failed request leaves nothing behind.

A locked or unavailable store is retried with back-off for at most ``write_timeout`` seconds; then the
requests fail with ``TEMPORARILY_UNAVAILABLE`` (503), which MLflow clients retry. (A transaction already
handed to SQLite when the time runs out may still commit: a retrying client then logs its metrics twice.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import anyio
import anyio.abc
import numpy as np

from asynctrack.exceptions import TEMPORARILY_UNAVAILABLE, MlflowException
from asynctrack.server._batch import ParsedBatch
from asynctrack.store import AbstractStore, BatchLimits, BatchWrite, MetricSeries
from asynctrack.store._retry import retry_transient

__all__ = ["GroupCommitWriter"]

_log = logging.getLogger("asynctrack.server")


class _Pending:
    __slots__ = ("batch", "done", "error")

    def __init__(self, batch: ParsedBatch) -> None:
        self.batch = batch
        self.done = anyio.Event()
        self.error: BaseException | None = None


class GroupCommitWriter:
    """The write path of one server process; ``run`` is its task, started in the app's lifespan."""

    def __init__(self, store: AbstractStore, write_timeout: float) -> None:
        self._store = store
        self._limits: BatchLimits = store.limits
        self._timeout = write_timeout
        self._queue: list[_Pending] = []
        self._wake = anyio.Event()
        #: How many store transactions wrote how many batches made of how many requests (for tests and the
        #: benchmark report).
        self.transactions = 0
        self.writes = 0
        self.requests = 0

    async def write(self, batch: ParsedBatch) -> None:
        """Return once ``batch`` is durable in the store, or raise the store's error for it."""
        pending = _Pending(batch)
        self._queue.append(pending)
        self._wake.set()
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            queued, self._queue = self._queue, []
            try:
                await self._write_all(queued)
            except Exception as exc:  # a bug: fail the requests, keep the writer alive for the next ones
                _log.exception("group commit failed")
                for p in queued:
                    if not p.done.is_set():
                        p.error = exc
                        p.done.set()

    async def _write_all(self, queued: list[_Pending]) -> None:
        """Everything queued in one ``log_batches`` call (one transaction, a savepoint per write): the
        keyless requests of each run merged (within the store's limits), requests with an idempotency key
        alone (their key must cover exactly their data). A merged write that fails is written again
        request by request, so each fails or succeeds on its own data only."""
        by_run: dict[str, list[_Pending]] = {}
        groups: list[list[_Pending]] = []
        for p in queued:
            if p.batch.key is not None:
                groups.append([p])
            else:
                by_run.setdefault(p.batch.run_id, []).append(p)
        for group in by_run.values():
            groups.extend(self._chunks(group))
        outcomes = await self._log_batches(groups)
        again: list[list[_Pending]] = []
        for group, outcome in zip(groups, outcomes, strict=True):
            if outcome is None or len(group) == 1 or outcome.error_code == TEMPORARILY_UNAVAILABLE:
                _finish(group, outcome)
            else:
                again.extend([p] for p in group)
        if again:
            for group, outcome in zip(again, await self._log_batches(again), strict=True):
                _finish(group, outcome)

    def _chunks(self, group: list[_Pending]) -> list[list[_Pending]]:
        """Consecutive requests of one run, cut so that no merged batch passes the store's limits."""
        limits = self._limits
        chunks: list[list[_Pending]] = []
        current: list[_Pending] = []
        n_metrics = n_params = n_tags = 0
        for p in group:
            m = sum(len(s) for s in p.batch.metrics)
            a, t = len(p.batch.params), len(p.batch.tags)
            if current and (
                n_metrics + m > limits.max_metrics
                or n_params + a > limits.max_params
                or n_tags + t > limits.max_tags
                or n_metrics + m + n_params + a + n_tags + t > limits.max_entities
            ):
                chunks.append(current)
                current, n_metrics, n_params, n_tags = [], 0, 0, 0
            current.append(p)
            n_metrics, n_params, n_tags = n_metrics + m, n_params + a, n_tags + t
        if current:
            chunks.append(current)
        return chunks

    async def _log_batches(self, groups: Sequence[Sequence[_Pending]]) -> list[MlflowException | None]:
        writes = [_merged(group) for group in groups]
        store = self._store
        outcomes: list[MlflowException | None] = []

        async def attempt() -> None:
            outcomes[:] = await store.log_batches(writes)

        with anyio.move_on_after(self._timeout) as scope:
            await retry_transient(attempt, what=f"writing {len(writes)} batches")
        if scope.cancelled_caught:
            unavailable = MlflowException(
                f"The backend store stayed unavailable (locked or unreachable) for {self._timeout:g} s; "
                "the request's data is not confirmed as written. Retry later.",
                error_code=TEMPORARILY_UNAVAILABLE,
            )
            return [unavailable] * len(writes)
        self.transactions += 1
        self.writes += len(writes)
        self.requests += sum(len(g) for g in groups)
        return outcomes


def _merged(group: Sequence[_Pending]) -> BatchWrite:
    first = group[0].batch
    if len(group) == 1:
        return BatchWrite(first.run_id, first.metrics, first.params, first.tags, first.key)
    return BatchWrite(
        first.run_id,
        _merge_series(s for p in group for s in p.batch.metrics),
        [a for p in group for a in p.batch.params],
        [t for p in group for t in p.batch.tags],
    )


def _merge_series(series: Iterable[MetricSeries]) -> list[MetricSeries]:
    """One series per key, points in arrival order: the store writes one chunk row per series, so eight
    requests of the same five keys cost five rows instead of forty."""
    by_key: dict[str, list[MetricSeries]] = {}
    for s in series:
        by_key.setdefault(s.key, []).append(s)
    return [
        parts[0]
        if len(parts) == 1
        else MetricSeries(
            key,
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.timestamps for p in parts]),
            np.concatenate([p.steps for p in parts]),
        )
        for key, parts in by_key.items()
    ]


def _finish(group: Sequence[_Pending], error: MlflowException | None) -> None:
    for p in group:
        p.error = error
        p.done.set()
