"""``AsyncClient``: MlflowClient's operations as coroutines, for asyncio and trio code (via anyio).

Logging calls enqueue on the calling thread when the queue has room (a few microseconds, no await
needed for that part); anything that may wait (a full queue, ``synchronous=True``, reads, run and
experiment management) runs in a worker thread, so the caller's event loop is never blocked. The same
pipeline serves sync and async callers, so their operations on one run stay in order.

    async with AsyncClient() as client:
        run = await client.create_run("0")
        ops = await client.log_metric(run.info.run_id, "loss", 0.1, synchronous=False)
        await ops
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import anyio
import numpy.typing as npt

from asynctrack._client_artifacts import AsyncClientArtifacts
from asynctrack.client import MlflowClient
from asynctrack.config import is_async_logging_enabled
from asynctrack.entities import Experiment, Metric, Param, Run, RunTag
from asynctrack.pipeline._operations import RunOperations

__all__ = ["AsyncClient"]

T = TypeVar("T")
P = ParamSpec("P")


class AsyncClient(AsyncClientArtifacts):  # artifact methods: asynctrack/_client_artifacts.py
    """Coroutine twin of :class:`~asynctrack.MlflowClient` (same arguments, same errors)."""

    _client: MlflowClient

    def __init__(self, tracking_uri: str | None = None) -> None:
        self._client = MlflowClient(tracking_uri)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.flush()

    @property
    def tracking_uri(self) -> str:
        return self._client.tracking_uri

    async def _in_thread(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def _log(
        self, fn: Callable[..., RunOperations | None], synchronous: bool | None, *args: Any, **kwargs: Any
    ) -> RunOperations | None:
        # Enqueue here when there is room (never blocks); otherwise let a thread wait for room. The first
        # call opens the pipeline (resolving the URI, opening the store) in a thread too.
        pipeline = self._client._current_pipeline()
        if pipeline is None:
            pipeline = await self._in_thread(self._client._pipeline)
        queue = pipeline.queue
        if queue.has_room():
            ops = fn(*args, synchronous=False, **kwargs)
        else:
            ops = await self._in_thread(fn, *args, synchronous=False, **kwargs)
        if synchronous is None:
            synchronous = not is_async_logging_enabled()
        if synchronous:
            if ops is not None:
                # Bounded like the sync facade's: a store failing past its retry budget raises (_outage.py).
                give_up = queue.give_up_check("This synchronous logging call")
                wait = functools.partial(ops.wait, give_up=give_up)
                await anyio.to_thread.run_sync(wait, abandon_on_cancel=True)
            return None
        return ops

    # -- experiments and runs
    async def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> str:
        return await self._in_thread(self._client.create_experiment, name, artifact_location, tags)

    async def get_experiment(self, experiment_id: str) -> Experiment:
        return await self._in_thread(self._client.get_experiment, experiment_id)

    async def get_experiment_by_name(self, name: str) -> Experiment | None:
        return await self._in_thread(self._client.get_experiment_by_name, name)

    async def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        return await self._in_thread(self._client.create_run, experiment_id, start_time, tags, run_name)

    async def get_run(self, run_id: str) -> Run:
        return await self._in_thread(self._client.get_run, run_id)

    async def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        await self._in_thread(self._client.set_terminated, run_id, status, end_time)

    async def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        await self._in_thread(self._client.update_run, run_id, status, name)

    # -- logging
    async def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log one metric point; never blocks the event loop (a full queue is waited for in a thread).

        Raises: as :meth:`MlflowClient.log_metric <asynctrack.MlflowClient.log_metric>`: ``QueueFull``,
        ``PipelineClosed``, MLflow's errors.
        """
        return await self._log(self._client.log_metric, synchronous, run_id, key, value, timestamp, step)

    async def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        result = await self._log(self._client.log_param, synchronous, run_id, key, value)
        return value if result is None else result

    async def set_tag(
        self, run_id: str, key: str, value: Any, synchronous: bool | None = None
    ) -> RunOperations | None:
        return await self._log(self._client.set_tag, synchronous, run_id, key, value)

    async def delete_tag(self, run_id: str, key: str) -> None:
        await self._in_thread(self._client.delete_tag, run_id, key)

    async def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        return await self._log(self._client.log_batch, synchronous, run_id, metrics, params, tags)

    async def log_metric_array(
        self,
        run_id: str,
        key: str,
        values: npt.ArrayLike,
        steps: npt.ArrayLike | None = None,
        timestamps: npt.ArrayLike | None = None,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        return await self._log(
            self._client.log_metric_array, synchronous, run_id, key, values, steps, timestamps
        )

    # -- reads
    async def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return await self._in_thread(self._client.get_metric_history, run_id, key)

    async def get_metric_history_arrays(self, run_id: str, key: str) -> tuple[Any, Any, Any]:
        return await self._in_thread(self._client.get_metric_history_arrays, run_id, key)

    async def flush(self) -> None:
        """Wait until everything queued so far for this client's store is written."""
        await self._in_thread(self._client.flush)
