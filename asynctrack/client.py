"""``MlflowClient``: the explicit, run-id based API, a thin sync facade over the async core.

Logging calls go through the pipeline (validated here, written by the worker); reads and run/experiment
management call the store's coroutines on the background loop. A read first waits for the calling
thread's own queued writes, so a caller always reads back what it logged.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar, TypeVarTuple

import numpy as np
import numpy.typing as npt

from asynctrack import _logging_calls as calls
from asynctrack._client_artifacts import MlflowClientArtifacts
from asynctrack._client_datasets import MlflowClientDatasets
from asynctrack._client_logged_models import MlflowClientLoggedModels
from asynctrack._client_registry import MlflowClientRegistry, resolve_model_uri
from asynctrack._context import current_user
from asynctrack._system_tags import MLFLOW_PARENT_RUN_ID as PARENT_RUN_TAG
from asynctrack._system_tags import MLFLOW_USER
from asynctrack._tracking_uri import get_tracking_uri
from asynctrack.artifacts import _api as _artifacts_api
from asynctrack.config import is_async_logging_enabled
from asynctrack.entities import Experiment, Metric, Param, Run, RunStatus, RunTag, ViewType
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.pipeline import _registry
from asynctrack.pipeline._operations import RunOperations
from asynctrack.pipeline._pipeline import Pipeline
from asynctrack.pipeline._registry import get_pipeline
from asynctrack.store import MetricSeries, PagedList
from asynctrack.store._sampling import sample_steps
from asynctrack.validation import check_experiment_name, check_experiment_tag, check_metric, check_tag

SEARCH_MAX_RESULTS_DEFAULT = 1000

__all__ = ["MlflowClient"]


T = TypeVar("T")
Ts = TypeVarTuple("Ts")


# The artifact, registry and dataset methods live in _client_artifacts, _client_registry, _client_datasets.
class MlflowClient(
    MlflowClientArtifacts, MlflowClientRegistry, MlflowClientDatasets, MlflowClientLoggedModels
):
    """Client for a tracking store: ``MlflowClient(tracking_uri=None)``.

    >>> client = MlflowClient()                                   # doctest: +SKIP
    >>> run = client.create_run("0")                              # doctest: +SKIP
    >>> client.log_metric(run.info.run_id, "loss", 0.25, step=1)  # doctest: +SKIP
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        self._tracking_uri = tracking_uri if tracking_uri is not None else get_tracking_uri()
        self._registry_uri = registry_uri
        self._pipe: Pipeline | None = None
        self._generation = -1

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    def _pipeline(self) -> Pipeline:
        p = self._pipe
        if p is None or self._generation != _registry.generation:  # first use, or after fork()
            p = self._pipe = get_pipeline(self._tracking_uri)
            self._generation = _registry.generation
        return p

    def _current_pipeline(self) -> Pipeline | None:
        """The pipeline this client already holds, when still current (no I/O: safe on an event loop)."""
        p = self._pipe
        return p if p is not None and self._generation == _registry.generation else None

    def _read(self, fn: Callable[[*Ts], Coroutine[Any, Any, T]], *args: *Ts) -> T:
        # The caller's own queued operations first; then the read, in this thread where the store can.
        p = self._pipeline()
        p.sync_own_writes()
        return p.read(fn, *args)

    # -- experiments
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """Create an experiment; return its id. RESOURCE_ALREADY_EXISTS if the name is taken."""
        check_experiment_name(name)
        pairs = [(str(k), str(v)) for k, v in (tags or {}).items()]
        p = self._pipeline()
        return p.call(p.store.create_experiment, name, artifact_location, pairs)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._read(self._pipeline().store.get_experiment, str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self._read(self._pipeline().store.get_experiment_by_name, name)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an experiment and its runs deleted (restorable)."""
        p = self._pipeline()
        p.call(p.store.delete_experiment, str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        """Restore a deleted experiment and its runs."""
        p = self._pipeline()
        p.call(p.store.restore_experiment, str(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        check_experiment_name(new_name)
        p = self._pipeline()
        p.call(p.store.rename_experiment, str(experiment_id), new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        k, v = check_experiment_tag(key, value)
        p = self._pipeline()
        p.call(p.store.set_experiment_tag, str(experiment_id), k, v)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        p = self._pipeline()
        p.call(p.store.delete_experiment_tag, str(experiment_id), key)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """One page of experiments matching MLflow's experiment filter grammar; ``.token`` pages on."""
        p = self._pipeline()
        items, token = p.call(
            p.store.search_experiments,
            view_type,
            max_results,
            filter_string or "",
            list(order_by or ()),
            page_token,
        )
        return PagedList(items, token)

    # -- runs
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Create a RUNNING run in ``experiment_id``; a name is generated when none is given."""
        tag_list = [RunTag(*check_tag(k, v)) for k, v in (tags or {}).items()]
        user = next((t.value for t in tag_list if t.key == MLFLOW_USER), None) or current_user()
        p = self._pipeline()
        return p.call(
            p.store.create_run,
            str(experiment_id),
            user,
            calls.now_ms() if start_time is None else int(start_time),
            tag_list,
            run_name,
        )

    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params and tags (RESOURCE_DOES_NOT_EXIST if unknown)."""
        calls.valid_run_id(run_id)
        return self._read(self._pipeline().store.get_run, run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        """The run named by ``run_id``'s ``mlflow.parentRunId`` tag, or None for a top-level run."""
        parent = self.get_run(run_id).data.tags.get(PARENT_RUN_TAG)
        return None if parent is None else self.get_run(parent)

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run, after this thread's queued operations on it are written."""
        calls.valid_run_id(run_id)
        p = self._pipeline()
        p.sync_own_writes()
        p.call(p.store.delete_run, run_id)

    def restore_run(self, run_id: str) -> None:
        calls.valid_run_id(run_id)
        p = self._pipeline()
        p.call(p.store.restore_run, run_id)

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of runs matching MLflow's filter grammar; ``.token`` fetches the next page.

        The caller's own queued operations are written first, so a search sees what it logged.
        """
        ids = [experiment_ids] if isinstance(experiment_ids, str) else [str(e) for e in experiment_ids]
        items, token = self._read(
            self._pipeline().store.search_runs,
            ids,
            filter_string or "",
            run_view_type,
            max_results,
            list(order_by or ()),
            page_token,
        )
        return PagedList(items, token)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        if status is not None:
            RunStatus.from_string(status)
        calls.valid_run_id(run_id)
        queue = self._pipeline().queue
        calls.submit(queue, True, lambda: queue.put(calls.update_run_op(run_id, status, None, name)))

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        """Mark a run ended (default FINISHED), ordered after everything already queued for it."""
        self._terminate(run_id, status, end_time, synchronous=True)

    def _terminate(
        self, run_id: str, status: str | None, end_time: int | None, *, synchronous: bool
    ) -> RunOperations | None:
        """``set_terminated``; with ``synchronous=False`` (the integrations' end of training) queued without
        waiting, and the worker nudged to write it now, since nobody will wait for it."""
        status = status or "FINISHED"
        RunStatus.from_string(status)
        calls.valid_run_id(run_id)
        end = calls.now_ms() if end_time is None else int(end_time)
        queue = self._pipeline().queue
        ops = calls.submit(
            queue, synchronous, lambda: queue.put(calls.update_run_op(run_id, status, end, None))
        )
        if not synchronous:
            queue.nudge()
        return ops

    # -- logging (through the pipeline)
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
        model_id: str | None = None,
    ) -> RunOperations | None:
        """Log one metric point. ``synchronous=False`` returns a RunOperations at once.

        Raises:
            MlflowException: ``INVALID_PARAMETER_VALUE`` at once for bad input (MLflow's checks and messages);
                nothing is queued.
            QueueFull: the queue is full and ``ASYNCTRACK_QUEUE_FULL=raise`` (``RESOURCE_EXHAUSTED``); with
                the default policy the call blocks until there is room instead.
            PipelineClosed: the pipeline is closed (at exit, after ``close_pipelines()``;
                ``RESOURCE_EXHAUSTED``).
            MlflowException: when synchronous, the store's error for this operation (e.g. an unknown run, a
                param re-logged with another value) or ``TEMPORARILY_UNAVAILABLE`` once the store has failed
                past its retry budget; asynchronous calls report these through ``RunOperations.wait()``.
        """
        calls.valid_run_id(run_id)
        ts = calls.now_ms() if timestamp is None else timestamp
        st = 0 if step is None else step
        if model_id is not None or dataset_name is not None or dataset_digest is not None:
            # Linked to a logged model (or a dataset): written at once, to the run and to the model.
            v, ts, st = check_metric(key, value, ts, st)
            self._log_model_metrics(
                run_id, [Metric(key, v, ts, st, model_id, dataset_name, dataset_digest, run_id)]
            )
            return None
        queue = self._pipeline().queue
        if queue.express is not None and (
            synchronous or (synchronous is None and not is_async_logging_enabled())
        ):
            maker = calls.metric_op(queue, run_id, key, value, ts, st)
            return calls.submit(queue, True, lambda: queue.put(maker), (maker,))
        return calls.submit(queue, synchronous, lambda: queue.put_metric(run_id, key, value, ts, st))

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log a param (stringified). Returns ``value`` when synchronous, as MLflow does.

        Raises: as :meth:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
        """
        calls.valid_run_id(run_id)
        queue, maker = self._pipeline().queue, calls.param_op(run_id, key, value)
        result = calls.submit(queue, synchronous, lambda: queue.put(maker), (maker,))
        return value if result is None else result

    def set_tag(
        self, run_id: str, key: str, value: Any, synchronous: bool | None = None
    ) -> RunOperations | None:
        """Set a run tag (last write wins).

        Raises: as :meth:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
        """
        calls.valid_run_id(run_id)
        queue, maker = self._pipeline().queue, calls.tag_op(run_id, key, value)
        return calls.submit(queue, synchronous, lambda: queue.put(maker), (maker,))

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a run tag (RESOURCE_DOES_NOT_EXIST if it is not set). Ordered after earlier logging.

        Raises: as :meth:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
        """
        calls.valid_run_id(run_id)
        queue, maker = self._pipeline().queue, calls.delete_tag_op(run_id, key)
        calls.submit(queue, True, lambda: queue.put(maker))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log many items; any size (the pipeline splits into the store's batch limits).

        Raises: as :meth:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
        """
        calls.valid_run_id(run_id)
        linked = [m for m in metrics if m.model_id is not None]
        if linked:  # points linked to logged models: written at once, to the run and to the model
            self._log_model_metrics(run_id, linked)
            metrics = [m for m in metrics if m.model_id is None]
        queue = self._pipeline().queue
        makers = calls.batch_makers(queue, run_id, metrics, params, tags)
        return calls.submit(queue, synchronous, lambda: queue.put_many(makers), makers)

    def log_metric_array(
        self,
        run_id: str,
        key: str,
        values: npt.ArrayLike,
        steps: npt.ArrayLike | None = None,
        timestamps: npt.ArrayLike | None = None,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log many points of one metric from arrays (beyond MLflow; mlflow#5269).

        ``steps`` default to ``0..n-1`` and ``timestamps`` to now. The points travel the pipeline as a
        few large operations instead of one per point.

        Raises: as :meth:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
        """
        calls.valid_run_id(run_id)
        queue = self._pipeline().queue
        return calls.submit(
            queue, synchronous, lambda: calls.log_metric_array(queue, run_id, key, values, steps, timestamps)
        )

    # -- metric history
    def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        metric_key: str,
        max_results: int = 320,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[Metric]:
        """For charts: per run, at most ``max_results`` points of ``metric_key`` in ``[start_step,
        end_step]``, chosen by MLflow's rule (``store/_sampling.py``: evenly over the points, first and
        last kept), each with its ``run_id``."""
        if max_results <= 0:
            raise MlflowException(
                f"max_results must be positive, got {max_results}", error_code=INVALID_PARAMETER_VALUE
            )
        out: list[Metric] = []
        for run_id in run_ids:
            steps, values, stamps = self.get_metric_history_arrays(run_id, metric_key)
            keep = sample_steps(steps, max_results, start_step, end_step, stamps, values)
            out.extend(
                Metric(metric_key, v, t, s, run_id=run_id)
                for v, t, s in zip(
                    values[keep].tolist(), stamps[keep].tolist(), steps[keep].tolist(), strict=True
                )
            )
        return out

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of metric ``key``, in step order."""
        calls.valid_run_id(run_id)
        # The points are read as columns; the Metric objects are made here, in the caller's thread, not
        # on the background loop (a million of them would hold the loop, and the worker, for 0.3 s).
        series: MetricSeries = self._read(self._pipeline().store.get_metric_series, run_id, key)
        return series.to_metrics(run_id)

    def get_metric_history_arrays(
        self, run_id: str, key: str
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """``(steps, values, timestamps)`` numpy arrays of one metric, in step order: fast bulk read."""
        calls.valid_run_id(run_id)
        s: MetricSeries = self._read(self._pipeline().store.get_metric_series, run_id, key)
        return s.steps, s.values, s.timestamps

    def get_metric_histories_arrays(
        self, run_id: str, keys: Sequence[str]
    ) -> dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
        """``{key: (steps, values, timestamps)}`` for several metrics of one run, in one store call."""
        calls.valid_run_id(run_id)
        store = self._pipeline().store

        async def read_all() -> list[MetricSeries]:
            return [await store.get_metric_series(run_id, k) for k in keys]

        return {s.key: (s.steps, s.values, s.timestamps) for s in self._read(read_all)}

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every operation queued so far for this client's store is written."""
        self._pipeline().flush(timeout)


def _model_download_uri(model_uri: str, tracking_uri: str | None, registry_uri: str | None) -> str:
    client = MlflowClient(tracking_uri, registry_uri)
    name, version = resolve_model_uri(client, model_uri)
    return client.get_model_version_download_uri(name, version)


# ``mlflow.artifacts.download_artifacts("models:/...")`` resolves through the registry, which lives here,
# above the artifacts package.
_artifacts_api.set_model_uri_resolver(_model_download_uri)
