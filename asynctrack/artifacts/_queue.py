"""The artifact upload queue: artifact logging calls, ``synchronous=False`` or not, run here.

It is a bounded queue of its own beside the metric pipelines, on the same background event loop, so a
1 GB upload never sits in front of metrics: the metric worker keeps writing while file copies run in
artifact I/O threads. Bounds, both applied by blocking the caller until there is room:

- ``ASYNCTRACK_ARTIFACT_QUEUE_SIZE`` uploads queued or in flight (default 1,000);
- ``ASYNCTRACK_ARTIFACT_QUEUE_BYTES`` of in-memory payloads held for them (rendered text, images, figures;
  default 512 MiB). A file on disk is not held in memory: it is read when its upload runs.

``ASYNCTRACK_ARTIFACT_CONCURRENCY`` uploads run at once (default 4); uploads to the same destination run
in the order they were queued, so the last one wins. Each call returns a :class:`RunOperations` (one
producer per upload, so waiting for a small file never waits for a big one queued earlier), which combines
with the metric pipeline's. Synchronous calls queue and wait, so they stay ordered after earlier uploads.

The queue is owned like a pipeline: created on first use, flushed by ``flush_artifact_async_logging()``
and ``flush_async_logging()``, and flushed then stopped by ``close_pipelines()`` and at interpreter exit
within ``ASYNCTRACK_EXIT_TIMEOUT``; uploads it could not finish are reported (logger ``asynctrack``), with
their destination, size and source. A forked child starts with no queue (the parent writes what it queued).
"""

from __future__ import annotations

import concurrent.futures
import errno
import itertools
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable

import anyio

from asynctrack.artifacts import _fs
from asynctrack.environment import (
    ASYNCTRACK_ARTIFACT_CONCURRENCY,
    ASYNCTRACK_ARTIFACT_QUEUE_BYTES,
    ASYNCTRACK_ARTIFACT_QUEUE_SIZE,
)
from asynctrack.exceptions import (
    INTERNAL_ERROR,
    RESOURCE_DOES_NOT_EXIST,
    RESOURCE_EXHAUSTED,
    MlflowException,
    PipelineClosed,
)
from asynctrack.pipeline import _registry
from asynctrack.pipeline._loop import BackgroundLoop
from asynctrack.pipeline._operations import Producer, RunOperations, wait_for_watermark

__all__ = [
    "ASYNCTRACK_ARTIFACT_CONCURRENCY",
    "ASYNCTRACK_ARTIFACT_QUEUE_BYTES",
    "ASYNCTRACK_ARTIFACT_QUEUE_SIZE",
    "ArtifactQueue",
    "artifact_queue",
    "flush_artifacts",
    "human_size",
]

_log = logging.getLogger("asynctrack")


def human_size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def as_mlflow_error(exc: BaseException, what: str) -> MlflowException:
    """An artifact job's failure as MlflowException, with the code the situation calls for."""
    if isinstance(exc, MlflowException):
        return exc
    code = INTERNAL_ERROR
    if isinstance(exc, FileNotFoundError):
        code = RESOURCE_DOES_NOT_EXIST
    elif isinstance(exc, PermissionError):
        code = "PERMISSION_DENIED"
    elif isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        code = RESOURCE_EXHAUSTED
    return MlflowException(f"Could not log artifact {what}: {exc}", error_code=code)


def _related(a: str, b: str) -> bool:
    """Whether one artifact root contains the other."""
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


class _Job:
    __slots__ = ("key", "log_failure", "nbytes", "producer", "root", "run_id", "started", "what", "work")

    def __init__(
        self,
        producer: Producer,
        work: Callable[[], Awaitable[None]],
        run_id: str | None,
        root: str,
        key: str,
        what: str,
        nbytes: int,
        log_failure: bool,
    ) -> None:
        self.producer = producer
        self.work = work
        self.run_id = run_id
        self.root = root
        self.key = key
        self.what = what
        self.nbytes = nbytes
        self.log_failure = log_failure
        self.started = False


class ArtifactQueue:
    """Caller side (``submit``, ``wait_done``, ``flush``) and loop side (``_run``) of artifact uploads."""

    def __init__(self, loop: BackgroundLoop, capacity: int, max_bytes: int, concurrency: int) -> None:
        self.loop = loop
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.concurrency = concurrency
        self.cond = threading.Condition()
        self.jobs: dict[int, _Job] = {}  # queued or in flight, in submission order
        self.nbytes = 0
        self.closed_reason: str | None = None
        self.stopped = False
        self.written = 0
        self.failed = 0
        self._ids = itertools.count(1)
        self._futures: dict[int, concurrent.futures.Future[None]] = {}
        # Used on the loop thread only:
        self._limiter: anyio.CapacityLimiter | None = None
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}

    # -- caller side
    def submit(
        self,
        work: Callable[[], Awaitable[None]],
        *,
        run_id: str | None,
        root: str,
        dest: str,
        what: str,
        nbytes: int = 0,
        log_failure: bool = True,
    ) -> RunOperations:
        """Queue ``await work()`` (blocking while the queue is full); its RunOperations at once."""
        with self.cond:
            while True:
                if self.closed_reason is not None:
                    raise PipelineClosed(
                        f"Artifact logging has stopped ({self.closed_reason}): {what} was not logged."
                    )
                if len(self.jobs) < self.capacity and (
                    not self.jobs or self.nbytes + nbytes <= self.max_bytes
                ):
                    break
                self.cond.wait(1.0)
            # RunOperations waits through ``producer.queue.wait_done``, which this class provides.
            producer = Producer(self, next(self._ids))
            producer.issued = 1
            job = _Job(producer, work, run_id, root, f"{root}\x00{dest}", what, nbytes, log_failure)
            self.jobs[producer.id] = job
            self.nbytes += nbytes
        try:
            future = self.loop.submit(self._run, job)
        except BaseException as exc:
            self._complete(job, as_mlflow_error(exc, what))
            raise
        with self.cond:
            if producer.id in self.jobs:
                self._futures[producer.id] = future
        return RunOperations(producer, 1, 1)

    def wait_done(
        self,
        p: Producer,
        seq: int,
        deadline: float | None,
        give_up: Callable[[], MlflowException | None] | None = None,
    ) -> None:
        """Block until ``p.done >= seq``; TimeoutError at ``deadline`` (``time.monotonic``); the error
        ``give_up()`` returns, as soon as it returns one (checked at each wake-up), as the metric queue's
        ``wait_done`` (``RunOperations.wait`` passes it to both)."""
        if p.done >= seq:
            return
        with self.cond:
            wait_for_watermark(
                self.cond,
                p,
                seq,
                deadline,
                give_up,
                stopped=self._stopped_error,
                timed_out=lambda: (
                    f"artifact upload not finished in time ({len(self.jobs)} uploads queued or in flight)"
                ),
            )

    def _stopped_error(self) -> MlflowException | None:
        if not self.stopped:
            return None
        return PipelineClosed(
            f"Artifact logging stopped ({self.closed_reason}) before this upload was written."
        )

    def pending(self, root: str | None = None) -> list[Producer]:
        """Producers of the uploads queued or in flight (to ``root`` only, when given)."""
        with self.cond:
            return [j.producer for j in self.jobs.values() if root is None or _related(j.root, root)]

    def flush(self, timeout: float | None = None, root: str | None = None) -> None:
        """Wait until every upload queued so far (to ``root``, when given) is written or has failed; failures
        are not raised here (each call's RunOperations raises its own, and async ones are logged)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for p in self.pending(root):
            self.wait_done(p, 1, deadline)

    # -- loop side
    async def _run(self, job: _Job) -> None:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.concurrency)
        lock, users = self._locks.get(job.key) or (anyio.Lock(), 0)
        self._locks[job.key] = (lock, users + 1)
        error: MlflowException | None = None
        try:
            async with lock, self._limiter:
                job.started = True
                try:
                    await job.work()
                except Exception as exc:
                    error = as_mlflow_error(exc, job.what)
        finally:
            lock, users = self._locks[job.key]
            if users == 1:
                del self._locks[job.key]
            else:
                self._locks[job.key] = (lock, users - 1)
        # Not reached when cancelled at shutdown: the job stays listed and is reported.
        self._complete(job, error)

    def _complete(self, job: _Job, error: MlflowException | None) -> None:
        p = job.producer
        if error is not None and job.log_failure:
            _log.error("asynctrack: could not log artifact %s: %s", job.what, error.message)
        with self.cond:
            self.jobs.pop(p.id, None)
            self._futures.pop(p.id, None)
            self.nbytes -= job.nbytes
            if error is not None:
                p.fail(1, 1, error)
                self.failed += 1
            else:
                self.written += 1
            p.done = 1
            self.cond.notify_all()

    # -- shutdown
    def shutdown(self, deadline: float, reason: str) -> str | None:
        """Flush until ``deadline``, cancel what is left, and report it (None when everything was written)."""
        try:
            self.flush(max(0.0, deadline - time.monotonic()))
        except (TimeoutError, MlflowException):
            pass
        with self.cond:
            self.closed_reason = reason
            futures = list(self._futures.values())
            self.cond.notify_all()
        for f in futures:
            f.cancel()
        # Cancelled copies remove their temporary files; give them a moment (they run on daemon threads).
        concurrent.futures.wait(futures, timeout=2.0)
        with self.cond:
            self.stopped = True
            left = list(self.jobs.values())
            self.cond.notify_all()
        if not left:
            return None
        inflight = sum(1 for j in left if j.started)
        names = "; ".join(j.what for j in left[:20]) + ("; ..." if len(left) > 20 else "")
        runs = sorted({j.run_id for j in left if j.run_id})
        return (
            f"asynctrack: {len(left)} artifact uploads were NOT written ({len(left) - inflight} queued, "
            f"{inflight} in flight; runs: {', '.join(runs) or '-'}): {names}. They did not finish within "
            f"ASYNCTRACK_EXIT_TIMEOUT ({reason}); {self.written} artifact uploads were written by this "
            "process."
        )


# -- the process's queue


_lock = threading.Lock()
_queue: ArtifactQueue | None = None


def artifact_queue() -> ArtifactQueue:
    """The process's artifact queue, created (with the settings then in force) on first use."""
    global _queue
    q = _queue
    if q is None:
        with _lock:
            if _queue is None:
                _queue = ArtifactQueue(
                    _registry.background_loop(),
                    ASYNCTRACK_ARTIFACT_QUEUE_SIZE.get(),
                    ASYNCTRACK_ARTIFACT_QUEUE_BYTES.get(),
                    ASYNCTRACK_ARTIFACT_CONCURRENCY.get(),
                )
                _registry.add_closer(_close)
            q = _queue
    return q


def flush_artifacts(timeout: float | None = None) -> None:
    """Wait until every artifact upload queued so far is written or has failed (TimeoutError past
    ``timeout`` seconds)."""
    q = _queue
    if q is not None:
        q.flush(timeout)


def wait_for_root(root: str) -> None:
    """Read-your-writes for artifact reads: wait for the uploads queued so far into ``root``."""
    q = _queue
    if q is not None:
        q.flush(None, root)


def _close(deadline: float, reason: str) -> list[str]:
    global _queue
    with _lock:
        q, _queue = _queue, None
    report = q.shutdown(deadline, reason) if q is not None else None
    _fs.shutdown_io(timeout=max(0.1, min(1.0, deadline - time.monotonic())))  # no idle I/O thread left
    return [report] if report else []


def _after_fork_in_child() -> None:
    global _queue, _lock
    _queue = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
