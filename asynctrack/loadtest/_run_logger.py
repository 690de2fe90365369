"""One simulated training run: params and tags at the start, then ``metrics`` metrics per step, paced
or flat out, waiting for its own calls every ``await_every`` steps; in a thread or in an asyncio task.

The hot loop times each logging call (two ``perf_counter_ns`` reads, about 0.1 µs, included in the
figures) and appends the duration to an array; everything else happens once per step. After each step
the step's last call is handed to the :class:`~asynctrack.loadtest._watcher.Watcher` with its start
time, which is how enqueue-to-durable latency is sampled (one call per step).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

import anyio

from asynctrack.aio import AsyncClient
from asynctrack.client import MlflowClient
from asynctrack.entities import Param, RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.loadtest._histogram import Recorder
from asynctrack.loadtest._options import Workload
from asynctrack.loadtest._protocol import MAX_FAILED_CALLS, RunSent
from asynctrack.loadtest._values import metric_keys, metric_value, param_items, tag_items
from asynctrack.pipeline import RunOperations

__all__ = ["Control", "RunState", "log_run_in_task", "log_run_in_thread"]

_perf_ns = time.perf_counter_ns


class Control:
    """Shared by a worker's threads: when to stop, and whether to give up on draining too."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.abort = threading.Event()
        self.t0 = 0.0
        self.deadline = float("inf")

    def should_stop(self) -> bool:
        return self.stop.is_set() or time.time() >= self.deadline


def _code(exc: BaseException) -> str:
    if isinstance(exc, MlflowException):
        return exc.error_code
    if isinstance(exc, TimeoutError):
        return "WAIT_TIMEOUT"
    return type(exc).__name__


class RunState:
    """Counters, recorders and the in-flight samples of one run; read by the ticker and the watcher."""

    def __init__(self, run_id: str, worker: int, index: int, salt: int, workload: Workload) -> None:
        self.run_id = run_id
        self.worker = worker
        self.index = index
        self.salt = salt
        self.workload = workload
        self.keys = metric_keys(workload.metrics)
        self.params = param_items(salt, workload.params)
        self.tags = tag_items(salt, workload.tags)
        self.steps_attempted = 0
        self.partial_keys: int | None = None  # keys attempted in the last step, when it was cut short
        self.calls = 0
        self.sent = 0
        self.durable = 0
        self.params_sent = 0
        self.tags_sent = 0
        self.failed: list[tuple[int, int]] = []
        self.failed_overflow = False
        self.errors: Counter[str] = Counter()
        self.error_samples: dict[str, str] = {}
        self.caller = Recorder()
        self.durability = Recorder()  # written by the watcher (synchronous=False) or the logger (True)
        self.waits = Recorder()
        # (start of the step's last call in ns, metrics sent once it is durable, its RunOperations)
        self.inflight: deque[tuple[int, int, RunOperations]] = deque()
        self.window: list[RunOperations] = []
        self.closed = False  # the pipeline refused a call: nothing more can be logged
        self.logging_done: float | None = None
        self.durable_at: float | None = None

    def error(self, exc: BaseException, count: int = 1) -> None:
        code = _code(exc)
        self.errors[code] += count
        if code not in self.error_samples:
            self.error_samples[code] = " ".join(str(exc).split())[:300]

    def call_failed(self, exc: BaseException, key_index: int, step: int, ctl: Control) -> bool:
        """Record a call that raised; True when the run must end now (the worker closed its pipeline:
        a later call would open a new one)."""
        self.error(exc)
        if len(self.failed) < MAX_FAILED_CALLS:
            self.failed.append((key_index, step))
        else:
            self.failed_overflow = True
        if ctl.abort.is_set():
            self.closed = True
        return self.closed

    def waited(self, exc: BaseException | None, started_ns: int) -> None:
        self.waits.add(_perf_ns() - started_ns)
        if isinstance(exc, MlflowException):
            self.error(exc, max(1, len(getattr(exc, "failures", None) or [exc])))
        elif exc is not None:
            self.error(exc)

    def sent_record(self) -> RunSent:
        return RunSent(
            run_id=self.run_id,
            worker=self.worker,
            index=self.index,
            salt=self.salt,
            counts=self._counts(),
            failed=list(self.failed),
            failed_overflow=self.failed_overflow,
            params=self.params if self.params_sent else {},
            tags=self.tags if self.tags_sent else {},
        )

    def _counts(self) -> list[int]:
        n, m = self.steps_attempted, len(self.keys)
        if self.partial_keys is None:
            return [n] * m
        return [n] * self.partial_keys + [n - 1] * (m - self.partial_keys)

    def start_items(self) -> tuple[list[Param], list[RunTag]]:
        return (
            [Param(k, v) for k, v in self.params.items()],
            [RunTag(k, v) for k, v in self.tags.items()],
        )

    def step_delay(self, ctl: Control, step: int) -> float:
        """Seconds to sleep before ``step`` to keep this run's share of ``rate`` (0: none)."""
        w = self.workload
        if not w.rate:
            return 0.0
        per_step = w.metrics * w.total_runs / w.rate
        return ctl.t0 + step * per_step - time.time()

    def call_done(self, started_ns: int, elapsed_ns: int, ops: RunOperations | None) -> bool:
        """Record one successful logging call; True if its ``ops`` is the step's newest to watch."""
        self.caller.add(elapsed_ns)
        self.sent += 1
        if self.workload.synchronous:
            self.durability.add(elapsed_ns)
            return False
        if ops is None:
            return False
        self.window.append(ops)
        return True

    def step_done(self, step: int, last_ns: int, last_ops: RunOperations | None) -> bool:
        """Close step ``step`` (0-based); True when the calls should be awaited now (every E steps)."""
        self.calls += len(self.keys) if self.partial_keys is None else self.partial_keys
        self.steps_attempted = step + 1
        sync = self.workload.synchronous
        if sync:
            self.durable = self.sent
            self.durability.fold_if_due()
        elif last_ops is not None:
            self.inflight.append((last_ns, self.sent, last_ops))
        self.caller.fold_if_due()
        return not sync and self.steps_attempted % self.workload.await_every == 0

    def logging_finished(self) -> None:
        self.logging_done = time.time()

    def all_durable(self) -> None:
        self.durable_at = time.time()
        self.caller.fold()
        if self.workload.synchronous:
            self.durable = self.sent
            self.durability.fold()

    def more_steps(self, ctl: Control, step: int) -> bool:
        limit = self.workload.step_limit
        return not self.closed and (limit is None or step < limit) and not ctl.should_stop()


def log_run_in_thread(state: RunState, client: MlflowClient, ctl: Control) -> None:
    """Run ``state``'s workload on the calling thread with the synchronous client."""
    w = state.workload
    sync = w.synchronous
    params, tags = state.start_items()
    if params or tags:
        t = _perf_ns()
        try:
            ops = client.log_batch(state.run_id, params=params, tags=tags, synchronous=sync)
            state.params_sent, state.tags_sent = len(params), len(tags)
            if ops is not None:
                ops.wait(w.wait_timeout)
            state.waited(None, t)
        except (MlflowException, TimeoutError) as exc:
            state.waited(exc, t)
    log_metric = client.log_metric
    run_id, keys, salt = state.run_id, state.keys, state.salt
    done, perf = state.call_done, _perf_ns
    step = 0
    while state.more_steps(ctl, step):
        delay = state.step_delay(ctl, step)
        if delay > 0 and ctl.stop.wait(delay):
            break
        last_t, last_ops = 0, None
        for k, key in enumerate(keys):
            value = metric_value(salt, k, step)
            t = perf()
            try:
                ops = log_metric(run_id, key, value, step=step, synchronous=sync)
            except MlflowException as exc:
                if state.call_failed(exc, k, step, ctl):
                    state.partial_keys = k + 1
                    break
                continue
            if done(t, perf() - t, ops):
                last_t, last_ops = t, ops
        if state.step_done(step, last_t, last_ops):
            _wait_window(state)
        step += 1
    state.logging_finished()
    if not sync:
        _wait_window(state)
    state.all_durable()
    _terminate(state, client, ctl)


def _wait_window(state: RunState) -> None:
    combined = RunOperations.combine(state.window)
    state.window = []
    if combined is None:
        return
    t = _perf_ns()
    try:
        combined.wait(state.workload.wait_timeout)
    except TimeoutError as exc:
        state.window.insert(0, combined)  # still pending: waited for again next time, and at the end
        state.waited(exc, t)
        return
    except MlflowException as exc:
        state.waited(exc, t)
        return
    state.waited(None, t)


def _terminate(state: RunState, client: MlflowClient, ctl: Control) -> None:
    # Mark the run ended like a finished training job; skipped when the store could not keep up, since
    # the status update waits for durability like any synchronous call.
    if state.closed or ctl.abort.is_set() or state.errors.get("WAIT_TIMEOUT"):
        return
    try:
        client.set_terminated(state.run_id, "KILLED" if ctl.stop.is_set() else "FINISHED")
    except MlflowException as exc:
        state.error(exc)


async def log_run_in_task(state: RunState, client: AsyncClient, ctl: Control) -> None:
    """Run ``state``'s workload as an asyncio task with :class:`~asynctrack.aio.AsyncClient`."""
    w = state.workload
    sync = w.synchronous
    sync_client = client._client
    params, tags = state.start_items()
    if params or tags:
        t = _perf_ns()
        try:
            ops = await client.log_batch(state.run_id, params=params, tags=tags, synchronous=sync)
            state.params_sent, state.tags_sent = len(params), len(tags)
            if ops is not None:
                with anyio.fail_after(w.wait_timeout):
                    await ops
            state.waited(None, t)
        except (MlflowException, TimeoutError) as exc:
            state.waited(exc, t)
    log_metric = client.log_metric
    run_id, keys, salt = state.run_id, state.keys, state.salt
    done, perf = state.call_done, _perf_ns
    step = 0
    while state.more_steps(ctl, step):
        delay = state.step_delay(ctl, step)
        if delay > 0:
            await anyio.sleep(delay)
            if ctl.should_stop():
                break
        last_t, last_ops = 0, None
        for k, key in enumerate(keys):
            value = metric_value(salt, k, step)
            t = perf()
            try:
                ops = await log_metric(run_id, key, value, step=step, synchronous=sync)
            except MlflowException as exc:
                if state.call_failed(exc, k, step, ctl):
                    state.partial_keys = k + 1
                    break
                continue
            if done(t, perf() - t, ops):
                last_t, last_ops = t, ops
        if state.step_done(step, last_t, last_ops):
            await _await_window(state)
        else:
            await anyio.lowlevel.checkpoint()  # let the other runs' tasks in
        step += 1
    state.logging_finished()
    if not sync:
        await _await_window(state)
    state.all_durable()
    await anyio.to_thread.run_sync(_terminate, state, sync_client, ctl)


async def _await_window(state: RunState) -> None:
    combined = RunOperations.combine(state.window)
    state.window = []
    if combined is None:
        return
    t = _perf_ns()
    try:
        with anyio.fail_after(state.workload.wait_timeout):
            await combined
    except TimeoutError as exc:
        state.window.insert(0, combined)  # still pending: waited for again next time, and at the end
        state.waited(exc, t)
        return
    except MlflowException as exc:
        state.waited(exc, t)
        return
    state.waited(None, t)
