"""The run a framework integration logs into, shared by the Lightning logger, the Transformers callback and
the Keras callback: which run (the active one, a given one, or one it starts and ends), metrics and params
turned into queued operations without waiting, artifacts, and the end of the run with its status.

Every logging call here returns at once (``synchronous=False``): the training step pays the cost of
checking and enqueueing a few frames, never a store round trip. ``finish`` is where the integration waits,
once, for everything it logged.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from asynctrack import _logging_calls as calls
from asynctrack import fluent
from asynctrack import system_metrics as _system_metrics
from asynctrack._context import context_tags
from asynctrack._int64 import INT64_MAX as _INT64_MAX
from asynctrack._int64 import INT64_MIN as _INT64_MIN
from asynctrack.client import MlflowClient
from asynctrack.exceptions import MlflowException
from asynctrack.pipeline import _registry
from asynctrack.pipeline._operations import Producer, RunOperations
from asynctrack.pipeline._queue import OpQueue
from asynctrack.pipeline._queue import put_dict_at as _put_dict_at
from asynctrack.pipeline._queue import put_points_at as _put_points_at
from asynctrack.validation import check_metric

__all__ = ["TrainingRun", "check_every_n_step", "flatten", "status_of_exception"]

_log = logging.getLogger("asynctrack")
_time_ns = time.time_ns
_get_ident = threading.get_ident

# MLflow's key rule (validation.py): word characters, '/', '.', '-', ' ' and ':'. Anything else is removed,
# as Lightning's MLFlowLogger does, with one warning per key.
_BAD_KEY_CHARS = re.compile(r"[^/\w.\- :]+")


def flatten(params: Mapping[str, Any], prefix: str = "", sep: str = "/") -> dict[str, Any]:
    """Nested mappings as one level of ``outer/inner`` keys (Lightning's ``_flatten_dict`` rule)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name, sep))
        else:
            out[name] = value
    return out


def check_every_n_step(log_every_n_step: Any) -> None:
    """Refuse a ``log_every_n_step`` that is not an integer of at least 1 (None means every step), with the
    same words in every integration and in each ``autolog``."""
    if log_every_n_step is not None and (not isinstance(log_every_n_step, int) or log_every_n_step < 1):
        raise ValueError(f"log_every_n_step must be a positive integer, got {log_every_n_step!r}")


def status_of_exception(exc: BaseException | None) -> str:
    """MLflow's run status for how training ended: FINISHED, KILLED on an interrupt, else FAILED."""
    if exc is None:
        return "FINISHED"
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return "KILLED"
    return "FAILED"


class TrainingRun:
    """A run for one training job.

    Which run: ``run_id`` if given; else this thread's active run (``asynctrack.start_run``), which the
    integration then leaves open; else a new one, started on first use through the fluent API (so
    ``asynctrack.active_run()`` inside the training code is this run) and ended by :meth:`finish`. With a
    ``tracking_uri`` other than the one in force, or ``use_active=False`` (autolog's ``exclusive``) beside an
    active run, a new run is created through a client instead.
    """

    def __init__(
        self,
        *,
        run_id: str | None = None,
        experiment_name: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        tracking_uri: str | None = None,
        log_system_metrics: bool | None = None,
        use_active: bool = True,
    ) -> None:
        self._given_run_id = run_id
        self.use_active = use_active
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.tracking_uri = tracking_uri
        self.log_system_metrics = log_system_metrics
        self._run_id: str | None = None
        self._client: MlflowClient | None = None
        self.owned = False  # we started it, so we end it
        self._via_fluent = False
        self._lock = threading.Lock()
        self._keys: dict[str, str | None] = {}  # metric key as given -> as logged (None: dropped)
        # The hot path's cache, for the queue it was filled from (a new pipeline after fork() starts it
        # again): that queue, the run's intern index, and per key prefix, key as given -> intern index of
        # the key as logged.
        self._fast_queue: OpQueue | None = None
        self._fast_run = 0
        self._fast_ids: dict[str, dict[str, int]] = {}
        # per key prefix, the keys of the last dict that went in whole (a tuple, in order) and their intern
        # indexes: a framework logs the same keys step after step
        self._fast_dicts: dict[str, tuple[tuple[Any, ...], list[int]]] = {}
        # the last calling thread's (thread id, the pipelines' generation, queue, that thread's producer,
        # run index), for the repeated-keys path of log_metrics: a plain attribute, as a thread-local read
        # costs several cache misses after a framework's step (a thread id reused after its thread ended
        # takes over a producer that no thread uses any more)
        self._step_top_of: tuple[int, int, OpQueue, Producer, int] | None = None
        self._artifact_ops: list[RunOperations] = []
        self.finished_status: str | None = None

    # Lightning's ddp_spawn pickles the trainer and its loggers into each worker process.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_lock"] = None
        state["_client"] = None
        state["_artifact_ops"] = []
        state["_step_top_of"] = None
        state["_fast_queue"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        if self._run_id is not None:
            self._client = MlflowClient(self.tracking_uri)

    # -- which run
    @property
    def started(self) -> bool:
        return self._run_id is not None

    @property
    def client(self) -> MlflowClient:
        self.run_id  # noqa: B018 - starts the run
        assert self._client is not None
        return self._client

    @property
    def run_id(self) -> str:
        """The run's id; the run is chosen or started on first use."""
        rid = self._run_id
        if rid is None:
            with self._lock:
                rid = self._run_id
                if rid is None:
                    rid = self._run_id = self._start()
        return rid

    def _start(self) -> str:
        same_store = self.tracking_uri is None or self.tracking_uri == fluent.get_tracking_uri()
        self._client = MlflowClient(self.tracking_uri)
        if self._given_run_id is not None:
            return self._client.get_run(self._given_run_id).info.run_id
        active = fluent.active_run()
        if active is not None and same_store and self.use_active:
            return active.info.run_id
        self.owned = True
        experiment_id = (
            fluent._get_or_create_experiment(self._client, self.experiment_name).experiment_id
            if self.experiment_name
            else None
        )
        if same_store and active is None:
            self._via_fluent = True
            run = fluent.start_run(
                experiment_id=experiment_id,
                run_name=self.run_name,
                tags=self.tags,
                log_system_metrics=self.log_system_metrics,
            )
            return run.info.run_id
        tags = context_tags()
        tags.update(self.tags)
        if experiment_id is None:
            experiment_id = fluent._experiment_id_for_new_run(self._client)
        rid = self._client.create_run(experiment_id, tags=tags, run_name=self.run_name).info.run_id
        wanted = self.log_system_metrics
        if wanted is None:
            wanted = _system_metrics.is_system_metrics_logging_enabled()
        if wanted:
            client = self._client
            _system_metrics.start_for_run(rid, lambda: client._pipeline().queue)
        return rid

    # -- logging, never waiting
    def _metric_key(self, key: str) -> str | None:
        clean = _BAD_KEY_CHARS.sub("", str(key))[:250] or None
        if clean != key:
            _log.warning(
                "asynctrack: metric key %r has characters MLflow does not allow (only letters, digits, "
                "'_', '/', '.', '-', ' ' and ':'); logging it as %r",
                key,
                clean,
            )
        self._keys[key] = clean
        return clean

    def log_metrics(self, metrics: Mapping[str, Any], step: int, prefix: str = "") -> None:
        """Queue every numeric value of ``metrics`` at ``step`` (one timestamp); strings and other
        non-numbers are dropped with one warning per key, as MLflow's integrations do.

        This runs in the training step, once per logged step. A framework logs the same keys step after
        step (Lightning adds an int ``epoch`` to its floats), so a dict with the keys of the last one, in the
        same order, only float or int values and an int step, goes in through one ``put_dict_at`` call
        (compiled where the extension is built: no Python-level pass over it), with the queue, this
        thread's producer and the run's index kept from the last call while the calling thread and the
        pipelines' generation are the same (fork and ``close_pipelines`` change it): each Python-level call a
        step makes costs about a microsecond once the framework's step has evicted the caches. Any other
        dict takes one pass in which a key seen before with a float value costs a dict lookup and two
        appends, and anything else (a new key, a value of another type) takes :meth:`_point`."""
        top = self._step_top_of
        if top is None or top[0] != _get_ident() or top[1] != _registry.generation:
            top = self._step_top()
        _, _, queue, producer, run = top
        seen = self._fast_dicts.get(prefix)
        if seen is not None and _put_dict_at(queue, producer, run, seen, metrics, step) is not None:
            return
        ts = _time_ns() // 1_000_000
        step = int(step)
        if not _INT64_MIN <= step <= _INT64_MAX:
            check_metric("step", 0.0, ts, step)  # raises MLflow's error for the step
        names = tuple(metrics)
        ids = self._fast_ids.get(prefix)
        if ids is None:
            ids = self._fast_ids[prefix] = {}
        keys: list[int] = []
        values = []
        for raw_key, value in metrics.items():
            try:
                k = ids.get(raw_key)
            except TypeError:  # an unhashable key: _point says so
                k = None
            if k is None or type(value) is not float:
                point = self._point(queue, ids, prefix, raw_key, value, step)
                if point is None:
                    continue
                k, value = point
            keys.append(k)
            values.append(value)
        if keys:
            _put_points_at(queue, producer, run, keys, values, ts, step)
        if keys and len(keys) == len(names):  # every key went in: the next such dict skips the pass
            self._fast_dicts[prefix] = (names, keys)
        else:  # a key was dropped: the next dict with these keys takes the pass, which decides again
            self._fast_dicts.pop(prefix, None)

    def _step_top(self) -> tuple[int, int, OpQueue, Producer, int]:
        """This thread's (thread id, pipelines' generation, queue, producer, run index) for
        :meth:`log_metrics`, made on a call from another thread than the last and again after fork or
        ``close_pipelines`` (a new generation, a new queue: the key caches start again with it). Starts the
        run if it is not yet."""
        rid = self.run_id
        client = self._client
        assert client is not None
        generation = _registry.generation  # read first: a later change makes the next call look again
        queue = client._pipeline().queue
        if queue is not self._fast_queue:
            self._fast_queue, self._fast_run = queue, queue.intern(rid)
            self._fast_ids, self._fast_dicts = {}, {}
        top = self._step_top_of = (_get_ident(), generation, queue, queue.producer(), self._fast_run)
        return top

    def _point(
        self, queue: OpQueue, ids: dict[str, int], prefix: str, raw_key: Any, value: Any, step: int
    ) -> tuple[int, float] | None:
        """The slow half of :meth:`log_metrics` for one value: the key cleaned (warned once) and checked,
        the value turned into a float, or None when the point is dropped. Raises MLflow's error for a
        step out of range."""
        key = prefix + str(raw_key) if prefix else str(raw_key)
        keys = self._keys
        clean = keys[key] if key in keys else self._metric_key(key)
        if clean is None:
            return None
        if type(value) is not float:
            number = _number(value)
            if number is None:  # said once: the key is dropped from now on
                _log.warning("asynctrack: metric %r=%r is not a number; it is not logged", key, value)
                keys[key] = None
                return None
            value = number
        check_metric(clean, value, 0, step)  # the key as logged (MLflow's errors)
        k = queue.intern(clean)
        if isinstance(raw_key, str):
            ids[raw_key] = k
        return k, value

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Queue params (MLflow's truncation of long values applies); keys with characters MLflow does not
        allow are cleaned with a warning, keys left empty are dropped."""
        rid = self.run_id
        assert self._client is not None
        queue = self._client._pipeline().queue
        makers = []
        for key, value in params.items():
            clean = _BAD_KEY_CHARS.sub("", str(key))[:250]
            if clean != key:
                _log.warning(
                    "asynctrack: param key %r has characters MLflow does not allow; logged as %r", key, clean
                )
            if not clean:
                continue
            makers.append(calls.param_op(rid, clean, value))
        for lo in range(0, len(makers), 100):
            queue.put_many(makers[lo : lo + 100])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        rid = self.run_id
        assert self._client is not None
        queue = self._client._pipeline().queue
        queue.put_many([calls.tag_op(rid, k, v) for k, v in tags.items()])

    def log_artifact(self, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Upload a file or directory in the background; :meth:`finish` waits for it."""
        ops = self.client.log_artifact(self.run_id, local_path, artifact_path, synchronous=False)
        if ops is not None:
            self._artifact_ops.append(ops)

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        ops = self.client.log_artifacts(self.run_id, local_dir, artifact_path, synchronous=False)
        if ops is not None:
            self._artifact_ops.append(ops)

    # -- the end
    def flush(self) -> None:
        """Wait until everything logged so far (this run's artifacts included) is written; raise the
        first failure."""
        if self._client is None:
            return
        self._client._pipeline().flush()
        self._wait_artifacts()

    def _wait_artifacts(self) -> None:
        ops, self._artifact_ops = self._artifact_ops, []
        combined = RunOperations.combine(ops) if ops else None
        if combined is not None:
            combined.wait()

    def finish(self, status: str = "FINISHED") -> None:
        """End the run with ``status`` if this integration started it; a run it did not start is left
        open, flushed. Idempotent: a second call only flushes.

        Ending does not wait for the store: the status change is queued behind everything logged before
        it and the worker nudged to write it all now (``fluent._terminate``), so the end of training does
        not stand still for the last write (about 4 ms after a 1 s Lightning fit, measured in its
        ``finalize``). A read in this thread, ``flush_async_logging()`` and the exit hook all see or wait
        for it. Artifacts are waited for first, so that a run reads as ended only once its files are
        there."""
        if self._run_id is None:
            return
        ending = self.owned and self.finished_status is None
        try:
            if ending:
                self._wait_artifacts()
            else:
                self.flush()
        except MlflowException as exc:
            _log.error("asynctrack: some of run %s's data could not be written: %s", self._run_id, exc)
        if not ending:
            return
        self.finished_status = status
        top = fluent.active_run()
        if self._via_fluent and top is not None and top.info.run_id == self._run_id:
            fluent._end_active_run(status, wait=False)
            return
        fluent._terminate(self.client, self._run_id, status, wait=False)


def _number(value: Any) -> float | None:
    if isinstance(value, (str, bytes)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past float's range
        return None


def iter_items(params: Any) -> Iterator[tuple[str, Any]]:
    """Items of a mapping or of an object's public attributes (argparse.Namespace, dataclasses)."""
    if isinstance(params, Mapping):
        yield from params.items()
    else:
        yield from ((k, v) for k, v in vars(params).items() if not k.startswith("_"))
