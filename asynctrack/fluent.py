"""The module-level API (``mlflow.start_run``, ``mlflow.log_metric``, ...) and the active-run stack.

As in MLflow, the stack of active runs is per thread, logging without an active run starts one, and
``with start_run():`` ends the run as FINISHED, or FAILED when the block raised.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from time import monotonic as _monotonic
from time import time_ns as _time_ns
from types import ModuleType
from typing import Any, TypeVar, cast

import numpy.typing as npt

from asynctrack import _active_model
from asynctrack import _logging_calls as calls
from asynctrack import system_metrics as _system_metrics
from asynctrack._context import context_tags
from asynctrack._system_tags import MLFLOW_PARENT_RUN_ID as _PARENT_TAG
from asynctrack._system_tags import MLFLOW_RUN_NOTE as _NOTE_TAG
from asynctrack._tracking_uri import get_tracking_uri, set_tracking_uri
from asynctrack.artifacts._queue import flush_artifacts
from asynctrack.client import MlflowClient
from asynctrack.config import is_async_logging_enabled
from asynctrack.data._datasets import to_entity
from asynctrack.entities import DatasetInput, Experiment, LifecycleStage, LoggedModelInput, Run, RunStatus
from asynctrack.environment import MLFLOW_EXPERIMENT_ID, MLFLOW_EXPERIMENT_NAME, MLFLOW_RUN_ID
from asynctrack.exceptions import BAD_REQUEST, INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.pipeline._operations import Producer, RunOperations
from asynctrack.pipeline._queue import OpQueue
from asynctrack.pipeline._queue import compiled as _queue_compiled
from asynctrack.pipeline._queue import put_dict_at as _put_dict_at
from asynctrack.pipeline._queue import put_metric_at as _put_metric_at
from asynctrack.pipeline._registry import add_exit_callback, flush_all, get_pipeline

__all__ = [
    "ActiveRun",
    "active_run",
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_run",
    "delete_tag",
    "end_run",
    "flush_async_logging",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "log_metric",
    "log_metric_array",
    "log_metrics",
    "log_param",
    "log_params",
    "restore_experiment",
    "restore_run",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]


class ActiveRun(Run):
    """The run ``start_run`` returns; as a context manager it ends the run on exit."""

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        status = RunStatus.to_string(RunStatus.FINISHED if exc_type is None else RunStatus.FAILED)
        if any(r.info.run_id == self.info.run_id for r in _state.stack):
            # End this run and any nested ones still open above it.
            while _state.stack:
                top = _state.stack[-1].info.run_id
                end_run(status)
                if top == self.info.run_id:
                    break
        return exc_type is None


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []
        self.clients: list[MlflowClient] = []
        # The top of the stack, cached for log_metric: run id, its queue, this thread's producer on that
        # queue and the run id's intern index.
        self.top_id: str | None = None
        self.top_queue: OpQueue | None = None
        # The hot path's three values in one tuple (queue, producer, run index), None without an active
        # run: log_metric reads one thread-local attribute instead of three (each is a dict lookup through
        # the thread's local dict, cache misses included after a training step).
        self.top: tuple[OpQueue, Producer, int] | None = None


_state = _ThreadState()
# The extensions whose compiled log_metric caches a thread's ``top``: told by _set_top of every change.
_compiled_with: list[ModuleType] = []
_F = TypeVar("_F", bound=Callable[..., Any])
_active_experiment_id: str | None = None
_last_active_run_id: str | None = None
_last_active_client: MlflowClient | None = None


def _set_top() -> None:
    st = _state
    try:
        if st.stack:
            st.top_id = run_id = st.stack[-1].info.run_id
            st.top_queue = queue = st.clients[-1]._pipeline().queue
            st.top = (queue, queue.producer(), queue.intern(run_id))
        else:
            st.top_id = None
            st.top_queue = None
            st.top = None
    finally:
        for extension in _compiled_with:
            extension.top_changed()  # a compiled log_metric's cached top is stale now


# A forked child keeps the forking thread's active runs, but not the parent's pipelines: look them up
# again (the registry's own fork hook, registered earlier, has already cleared them).
os.register_at_fork(after_in_child=_set_top)


# -- tracking URI and experiments


def create_experiment(
    name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
) -> str:
    return MlflowClient().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return MlflowClient().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return MlflowClient().get_experiment_by_name(name)


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment active for new runs: by name (created when missing) or by id."""
    global _active_experiment_id
    if (experiment_name is None) == (experiment_id is None):
        raise MlflowException(
            "Must specify exactly one of: `experiment_id` or `experiment_name`.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    client = MlflowClient()
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        assert experiment_name is not None
        experiment = _get_or_create_experiment(client, experiment_name)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise MlflowException(
            f"Cannot set a deleted experiment {experiment.name!r} as the active experiment. You can "
            "restore the experiment, or permanently delete the experiment to create a new one.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    _active_experiment_id = experiment.experiment_id
    return experiment


def _get_or_create_experiment(client: MlflowClient, name: str) -> Experiment:
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            client.create_experiment(name)
        except MlflowException as exc:  # another process created it meanwhile
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        found = client.get_experiment_by_name(name)
    assert found is not None
    return found


def delete_experiment(experiment_id: str) -> None:
    """Mark an experiment and its runs deleted (``restore_experiment`` brings them back)."""
    MlflowClient().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    MlflowClient().restore_experiment(experiment_id)


def set_experiment_tag(key: str, value: Any) -> None:
    """Tag the active experiment (the one ``set_experiment`` chose, else the default one)."""
    MlflowClient().set_experiment_tag(_active_experiment_for_search(), key, value)


def set_experiment_tags(tags: Mapping[str, Any]) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


def delete_experiment_tag(key: str) -> None:
    MlflowClient().delete_experiment_tag(_active_experiment_for_search(), key)


def _active_experiment_for_search() -> str:
    return _experiment_id_for_new_run(MlflowClient())


def _experiment_id_for_new_run(client: MlflowClient) -> str:
    if _active_experiment_id is not None:
        return _active_experiment_id
    name = MLFLOW_EXPERIMENT_NAME.get()
    env_id = MLFLOW_EXPERIMENT_ID.get()
    if name:
        experiment = _get_or_create_experiment(client, name)
        assert experiment is not None
        if env_id and env_id != experiment.experiment_id:
            raise MlflowException(
                f"The provided MLFLOW_EXPERIMENT_ID environment variable value `{env_id}` does not "
                f"match the experiment id `{experiment.experiment_id}` for experiment name `{name}`",
                error_code=INVALID_PARAMETER_VALUE,
            )
        return experiment.experiment_id
    if env_id:
        try:
            client.get_experiment(env_id)
        except MlflowException:
            raise MlflowException(
                f"The provided MLFLOW_EXPERIMENT_ID environment variable value `{env_id}` does not "
                "exist in the tracking server. Provide a valid experiment_id.",
                error_code=INVALID_PARAMETER_VALUE,
            ) from None
        return env_id
    return "0"


# -- runs


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a new run, or resume ``run_id`` (or ``MLFLOW_RUN_ID``), and make it the active run.

    ``nested=True`` starts a child of the active run. ``log_system_metrics`` (default:
    ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``) samples CPU, memory, disk, network, the process and GPUs into
    ``system/*`` metrics until the run ends (see :mod:`asynctrack.system_metrics`). Use it as a context
    manager to end it::

        with mlflow.start_run(run_name="baseline") as run:
            mlflow.log_param("lr", 0.01)
    """
    global _last_active_run_id, _last_active_client
    stack = _state.stack
    if stack and not nested:
        raise MlflowException(
            f"Run with UUID {stack[0].info.run_id} is already active. To start a new run, first end "
            "the current run with mlflow.end_run(). To start a nested run, call start_run with "
            "nested=True",
            error_code=BAD_REQUEST,
        )
    if experiment_id is not None and not isinstance(experiment_id, (str, int)):
        raise MlflowException(
            f"Invalid experiment id: {experiment_id!r} of type {type(experiment_id)}. Must be one of "
            "str, int, or None.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    client = MlflowClient()
    user_tags = {str(k): v for k, v in (tags or {}).items()}
    if description is not None:
        if _NOTE_TAG in user_tags:
            raise MlflowException(
                f"Description is already set via the tag {_NOTE_TAG} in tags. Remove the key "
                f"{_NOTE_TAG} from the tags or omit the description.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        user_tags[_NOTE_TAG] = description

    existing = run_id or MLFLOW_RUN_ID.get()
    if existing:
        os.environ.pop("MLFLOW_RUN_ID", None)
        run = _resume(client, existing, experiment_id, run_name, user_tags)
    else:
        if parent_run_id is not None:
            top = stack[-1].info.run_id if stack else None
            if top is not None and top != parent_run_id:
                raise MlflowException(
                    f"Current run with UUID {top} does not match the specified parent_run_id "
                    f"{parent_run_id}. To start a new nested run under the parent run with UUID "
                    f"{top}, first end the current run with mlflow.end_run().",
                    error_code=INVALID_PARAMETER_VALUE,
                )
            parent: str | None = parent_run_id
        else:
            parent = stack[-1].info.run_id if (stack and nested) else None
        all_tags: dict[str, Any] = context_tags()
        all_tags.update(user_tags)
        if parent is not None:
            all_tags[_PARENT_TAG] = parent
        exp_id = str(experiment_id) if experiment_id is not None else _experiment_id_for_new_run(client)
        run = client.create_run(exp_id, tags=all_tags, run_name=run_name)
    active = ActiveRun(run.info, run.data, run.inputs, run.outputs)
    if run.outputs.model_outputs:
        _active_model.note_run_outputs()
    stack.append(active)
    _state.clients.append(client)
    _set_top()
    add_exit_callback(_end_runs_at_exit)
    if log_system_metrics is None:
        log_system_metrics = _system_metrics.is_system_metrics_logging_enabled()
    if log_system_metrics:
        # A resumed run's system metrics go on from the step after its last one, as in MLflow.
        first = (
            _system_metrics.next_step({m.key: m.step for m in run.data.metric_objects()}) if existing else 0
        )
        _system_metrics.start_for_run(active.info.run_id, lambda: client._pipeline().queue, first)
    _last_active_run_id, _last_active_client = active.info.run_id, client
    return active


def _resume(
    client: MlflowClient,
    run_id: str,
    experiment_id: str | int | None,
    run_name: str | None,
    tags: Mapping[str, Any],
) -> Run:
    calls.valid_run_id(run_id)
    run = client.get_run(run_id)
    if run.info.lifecycle_stage == LifecycleStage.DELETED:
        raise MlflowException(
            f"Cannot start run with ID {run_id} because it is in the deleted state.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    wanted = str(experiment_id) if experiment_id is not None else _active_experiment_id
    if wanted is not None and wanted != run.info.experiment_id:
        raise MlflowException(
            f"Cannot start run with ID {run_id} because active experiment ID does not match "
            "environment run ID. Make sure --experiment-name or --experiment-id matches experiment "
            "set with set_experiment(), or just use command-line arguments",
            error_code=INVALID_PARAMETER_VALUE,
        )
    p = client._pipeline()
    makers = [calls.update_run_op(run_id, "RUNNING", None, run_name)]
    makers += [calls.tag_op(run_id, k, v) for k, v in tags.items()]
    calls.submit(p.queue, True, lambda: p.queue.put_many(makers))
    return client.get_run(run_id)


def end_run(status: str = "FINISHED") -> None:
    """End the active run (if any) with ``status``, after everything logged to it is written."""
    _end_active_run(status, wait=True)


def _end_active_run(status: str, *, wait: bool) -> None:
    """Pop this thread's active run (if any) and end it with ``status`` (see :func:`_terminate`)."""
    global _last_active_run_id
    RunStatus.from_string(status)
    stack = _state.stack
    if not stack:
        return
    run = stack.pop()
    client = _state.clients.pop()
    _set_top()
    os.environ.pop("MLFLOW_RUN_ID", None)
    _last_active_run_id = run.info.run_id
    _terminate(client, run.info.run_id, status, wait=wait)


def _terminate(client: MlflowClient, run_id: str, status: str, *, wait: bool) -> None:
    """End ``run_id`` with ``status``, ordered after everything this thread queued for it.

    ``wait=True`` (``end_run``, MLflow's semantics): return once the run is ended in the store, its
    system metrics sampler's last readings written before the status. ``wait=False`` (the integrations at
    the end of training): queue the status change behind the run's data, nudge the worker to write it all
    now, and return: the training thread does not stand still for the write (about 4 ms after a 1 s
    Lightning fit, docs/benchmarks.md). Nothing is weaker for it: the change is in the crash-safe queue like
    the data before it, a read in this thread waits for it (reads sync the caller's own writes), and
    ``flush_async_logging()`` or the exit hook writes it. The sampler takes its last reading in its own
    thread, so those few points land just after the status (MLflow accepts metrics on ended runs)."""
    sampler = _system_metrics.running(run_id)
    if wait and sampler is not None:  # its last readings are queued before the run's status changes
        sampler.stop()
    client._terminate(run_id, status, None, synchronous=wait)
    if not wait and sampler is not None:
        sampler.stop(wait=False)


def _end_runs_at_exit() -> None:
    # Called by the pipeline's exit hook on the main thread, before the final (bounded) flush: the
    # status change is queued behind the run's data and written with it, or reported with it. System
    # metrics samplers (non-daemon threads) stop first, their last readings queued before the status.
    _system_metrics.stop_all()
    stack, clients = _state.stack, _state.clients
    while stack:
        run = stack.pop()
        client = clients.pop()
        try:
            client._pipeline().queue.put(
                calls.update_run_op(run.info.run_id, "FINISHED", calls.now_ms(), None)
            )
        except MlflowException:
            pass
    _set_top()


def active_run() -> ActiveRun | None:
    """The active run of this thread, or None."""
    return _state.stack[-1] if _state.stack else None


def last_active_run() -> Run | None:
    """The active run, else the most recently ended one (re-read from the store), else None."""
    top = active_run()
    if top is not None:
        return top
    if _last_active_run_id is None:
        return None
    client = _last_active_client or MlflowClient()
    return client.get_run(_last_active_run_id)


def get_run(run_id: str) -> Run:
    return MlflowClient().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    """The parent of a nested run, or None."""
    return MlflowClient().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    MlflowClient().delete_run(run_id)


def restore_run(run_id: str) -> None:
    MlflowClient().restore_run(run_id)


def _start_implicit_run() -> None:
    start_run()


def _current(run_id: str | None) -> tuple[str, OpQueue]:
    if run_id is None:
        st = _state
        rid = st.top_id
        if rid is None:
            _start_implicit_run()
            rid = st.top_id
        assert rid is not None and st.top_queue is not None
        return rid, st.top_queue
    return calls.valid_run_id(run_id), get_pipeline().queue


# -- logging


def _active_run_object(run_id: str) -> ActiveRun | None:
    """The thread's active run when ``run_id`` is it: its inputs and outputs as known in memory (read at
    ``start_run``, extended by the links fluent logging adds), as MLflow's fluent API keeps them."""
    stack = _state.stack
    return stack[-1] if stack and stack[-1].info.run_id == run_id else None


def _link_inputs(client: MlflowClient, run: Run, model_id: str | None, dataset: Any) -> None:
    """MLflow's ``_log_inputs_for_metrics_if_necessary``: a model the points name that is neither an input
    nor an output of the run becomes an input; a dataset not yet among its inputs becomes one (no tags)."""
    known = {m.model_id for m in run.inputs.model_inputs} | {m.model_id for m in run.outputs.model_outputs}
    models = [LoggedModelInput(model_id)] if model_id is not None and model_id not in known else []
    datasets = []
    if dataset is not None:
        entity = to_entity(dataset)
        logged = {(d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs}
        if (entity.name, entity.digest) not in logged:
            datasets = [DatasetInput(entity, [])]
    if models or datasets:
        client.log_inputs(run.info.run_id, datasets=datasets, models=models)
        run.inputs.model_inputs.extend(models)  # in memory too: logged once per active run
        run.inputs.dataset_inputs.extend(datasets)


def _log_linked_metrics(
    metrics: Mapping[str, float],
    step: int | None,
    timestamp: int | None,
    run_id: str | None,
    model_id: str | None,
    dataset: Any,
    synchronous: bool | None,
) -> RunOperations | None:
    """Points linked to a logged model (given, the thread's active model, or else the active run's output
    model at this step) or to a dataset: written at once through the client, to the run and to the model
    (MLflow's ``log_metric(..., model_id=...)``); the model and the dataset become inputs of the run if
    they are not linked to it yet, as MLflow's fluent API makes them."""
    model_id = model_id or _active_model.get()
    rid, queue = _current(run_id)
    active = _active_run_object(rid)
    if model_id is None and active is not None:
        # MLflow's _get_model_ids_for_new_metric_if_exist: the run's model output at this step. The first
        # only: MLflow's log_metric returns after it (its log_metrics would link a point to each output of
        # the step, one point per model in the run's history; rare, and not copied).
        at_step = [m.model_id for m in active.outputs.model_outputs if m.step == (step or 0)]
        model_id = at_step[0] if at_step else None
    ts = timestamp or _time_ns() // 1_000_000
    if model_id is None and dataset is None:
        makers = [calls.metric_op(queue, rid, k, v, ts, step or 0) for k, v in metrics.items()]
        if synchronous is None:
            synchronous = not is_async_logging_enabled()
        return calls.submit(queue, synchronous, lambda: queue.put_many(makers), makers)
    client = MlflowClient()
    _link_inputs(client, active if active is not None else client.get_run(rid), model_id, dataset)
    name = getattr(dataset, "name", None) if dataset is not None else None
    digest = getattr(dataset, "digest", None) if dataset is not None else None
    for k, v in metrics.items():
        client.log_metric(
            rid, k, v, ts, step or 0, dataset_name=name, dataset_digest=digest, model_id=model_id
        )
    return None


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> RunOperations | None:
    """Log one metric point to the active run (or ``run_id``).

    ``synchronous=False`` returns a :class:`RunOperations` at once; ``True`` waits until the point is
    durable; ``None`` follows ``MLFLOW_ENABLE_ASYNC_LOGGING``.

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
    # The hot path (an asynchronous call to the active run) is kept free of closures: a function whose
    # variables a lambda captures allocates a cell per variable on every call, slow path or not.
    if model_id is not None or dataset is not None or _active_model.maybe_active:
        return _log_linked_metrics({key: value}, step, timestamp, run_id, model_id, dataset, synchronous)
    top = _state.top
    ts = timestamp or _time_ns() // 1_000_000
    if synchronous is None:
        synchronous = not is_async_logging_enabled()
    if run_id is None and top is not None and not synchronous:
        # The active run's queue, this thread's producer on it and the run's intern index, cached.
        queue, producer, run_index = top
        return _put_metric_at(queue, producer, run_index, key, value, ts, step or 0)
    return _log_metric_slow(key, value, step or 0, synchronous, ts, run_id)


def _compiled(python: _F, extension: ModuleType | None, make: Callable[[ModuleType], Any]) -> _F:
    """``python`` with its hot path compiled: ``make(extension)``, where the extension is in use
    (``pipeline/_cqueue.c``; or ``extension``, for tests of the compiled path in a process that runs
    Python), registered to hear of changes of a thread's active run (:func:`_set_top`). It makes the same
    checks in the same order and hands every other call to ``python``, which stays the reference
    (``__wrapped__``; help and signature are its own)."""
    compiled = extension if extension is not None else _queue_compiled()
    if compiled is None:
        return python
    if compiled not in _compiled_with:
        _compiled_with.append(compiled)
    fast = make(compiled)
    functools.update_wrapper(fast, python)
    return cast(_F, fast)


def _compiled_log_metric(python: _F, extension: ModuleType | None = None) -> _F:
    """``log_metric`` with its hot path (an asynchronous point for the active run) compiled
    (:func:`_compiled`)."""
    return _compiled(
        python, extension, lambda c: c.LogMetric(python, _state, _active_model, is_async_logging_enabled)
    )


log_metric = _compiled_log_metric(log_metric)


def _log_metric_slow(
    key: str, value: float, step: int, synchronous: bool, ts: int, run_id: str | None
) -> RunOperations | None:
    """log_metric when synchronous, to another run than the active one, or with no active run yet."""
    rid, queue = _current(run_id)
    if synchronous and queue.express is not None:
        maker = calls.metric_op(queue, rid, key, value, ts, step)
        return calls.submit(queue, True, lambda: queue.put(maker), (maker,))
    return calls.submit(queue, synchronous, lambda: queue.put_metric(rid, key, value, ts, step))


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> RunOperations | None:
    """Log several metrics at one step (one timestamp for all).

    Raises: as :func:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
    """
    if model_id is not None or dataset is not None or _active_model.maybe_active:
        return _log_linked_metrics(metrics, step, timestamp, run_id, model_id, dataset, synchronous)
    top = _state.top
    if synchronous is None:
        synchronous = not is_async_logging_enabled()
    if run_id is None and top is not None and not synchronous:
        # The hot path: all the points in one put. A dict with the keys of one logged before on this
        # queue, in the same order, goes through ``put_dict_at`` (compiled where the extension is built:
        # no Python-level pass over it), as the integrations' steps do; anything else, a first dict
        # included, takes ``put_metrics_at``'s pass, which checks every key and value.
        queue, producer, run_index = top
        if not timestamp and type(metrics) is dict:
            shapes = _dict_shapes[0]
            if shapes[0] is queue:
                seen = shapes[1].get(tuple(metrics))
                if seen is not None:
                    ops = _put_dict_at(queue, producer, run_index, seen, metrics, step or 0)
                    if ops is not None:
                        return ops
        ops = queue.put_metrics_at(
            producer, run_index, metrics, timestamp or _time_ns() // 1_000_000, step or 0
        )
        _learn_shape(queue, metrics)
        return ops
    ts = timestamp or _time_ns() // 1_000_000
    return _log_metrics_slow(metrics, step or 0, synchronous, ts, run_id)


# The key tuples of dicts ``log_metrics`` has queued on one queue, each with its keys' intern indexes:
# one item, ``(queue, {keys: (keys, indexes)})``, replaced whole (never changed in part: a reader holding
# it never pairs one queue with another's indexes) when the queue changes (a new pipeline, fork). At most
# _MAX_SHAPES key tuples: a program that logs dicts of ever new keys starts again rather than grow it.
# A list so that the compiled log_metrics reads the same object.
_Shapes = tuple[OpQueue | None, dict[tuple[object, ...], tuple[tuple[object, ...], list[int]]]]
_dict_shapes: list[_Shapes] = [(None, {})]
_MAX_SHAPES = 64


def _learn_shape(queue: OpQueue, metrics: Mapping[str, float]) -> None:
    """Remember ``metrics``' keys after ``put_metrics_at`` queued it (so each key is valid and interned),
    for the next dict of the same keys; only exact str keys (``put_dict_at`` compares those)."""
    shapes = _dict_shapes[0]
    if shapes[0] is not queue or len(shapes[1]) >= _MAX_SHAPES:
        shapes = (queue, {})
        _dict_shapes[0] = shapes
    keys = tuple(metrics)
    if keys and keys not in shapes[1] and all(type(k) is str for k in keys):
        shapes[1][keys] = (keys, [queue.intern(k) for k in keys])


def _compiled_log_metrics(python: _F, extension: ModuleType | None = None) -> _F:
    """``log_metrics`` with its hot path compiled (:func:`_compiled`): an exact dict of keys found in
    ``_dict_shapes``, asynchronously to the active run, goes through ``put_dict_at`` without entering
    ``python``, which takes every other call."""
    return _compiled(
        python,
        extension,
        lambda c: c.LogMetrics(python, _state, _active_model, is_async_logging_enabled, _dict_shapes),
    )


log_metrics = _compiled_log_metrics(log_metrics)


def _log_metrics_slow(
    metrics: Mapping[str, float], step: int, synchronous: bool, ts: int, run_id: str | None
) -> RunOperations | None:
    """log_metrics off the hot path (as :func:`_log_metric_slow`)."""
    rid, queue = _current(run_id)
    makers = [calls.metric_op(queue, rid, k, v, ts, step) for k, v in metrics.items()]
    return calls.submit(queue, synchronous, lambda: queue.put_many(makers), makers)


def log_metric_array(
    key: str,
    values: npt.ArrayLike,
    steps: npt.ArrayLike | None = None,
    timestamps: npt.ArrayLike | None = None,
    run_id: str | None = None,
    synchronous: bool | None = None,
) -> RunOperations | None:
    """Log many points of one metric from numpy arrays or sequences (steps default to 0..n-1).

    Raises: as :func:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
    """
    rid, queue = _current(run_id)
    return calls.submit(
        queue, synchronous, lambda: calls.log_metric_array(queue, rid, key, values, steps, timestamps)
    )


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a param; returns ``value`` when synchronous (as MLflow does), else a RunOperations.

    Raises: as :func:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
    """
    rid, queue = _current(None)
    maker = calls.param_op(rid, key, value)
    result = calls.submit(queue, synchronous, lambda: queue.put(maker), (maker,))
    return value if result is None else result


def log_params(
    params: Mapping[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> RunOperations | None:
    """Log several params to the active run (or ``run_id``).

    Raises: as :func:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
    """
    rid, queue = _current(run_id)
    makers = [calls.param_op(rid, k, v) for k, v in params.items()]
    return calls.submit(queue, synchronous, lambda: queue.put_many(makers), makers)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> RunOperations | None:
    """Set a tag of the active run (last write wins).

    Raises: as :func:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
    """
    rid, queue = _current(None)
    maker = calls.tag_op(rid, key, value)
    return calls.submit(queue, synchronous, lambda: queue.put(maker), (maker,))


def set_tags(tags: Mapping[str, Any], synchronous: bool | None = None) -> RunOperations | None:
    """Set several tags of the active run.

    Raises: as :func:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
    """
    rid, queue = _current(None)
    makers = [calls.tag_op(rid, k, v) for k, v in tags.items()]
    return calls.submit(queue, synchronous, lambda: queue.put_many(makers), makers)


def delete_tag(key: str) -> None:
    """Delete a tag of the active run (RESOURCE_DOES_NOT_EXIST when it is not set).

    Raises: as :func:`log_metric` (``QueueFull``, ``PipelineClosed``, MLflow's errors).
    """
    rid, queue = _current(None)
    maker = calls.delete_tag_op(rid, key)
    calls.submit(queue, True, lambda: queue.put(maker))


def flush_async_logging(timeout: float | None = None) -> None:
    """Wait until every operation accepted so far, on every store, is written or has failed (artifact
    uploads included)."""
    started = _monotonic()
    flush_all(timeout)
    # Artifact uploads travel their own queue (asynctrack/artifacts/_queue.py): join it too, in the same time.
    flush_artifacts(None if timeout is None else max(0.0, timeout - (_monotonic() - started)))
