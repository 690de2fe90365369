"""A load-test worker process: ``python -m asynctrack.loadtest._job``, driven over stdin and stdout.

A writer creates its runs, says :class:`Ready`, waits for :class:`Go`, then logs (one thread or task
per run), sends a :class:`Tick` every half second and :class:`Finished` at the end. A reader runs the
dashboard threads. The parent owns Ctrl-C: this process ignores SIGINT and stops when told to, or when
its stdin closes (the parent is gone).

Every wait is bounded. A run that cannot make progress (the target went away and the queue is full)
is detected by a watchdog: nothing sent and nothing made durable for ``wait_timeout`` seconds. Then, as
on an abort, the pipeline is closed, which makes blocked calls raise, and what could not be written is
reported in :attr:`Finished.unwritten`.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import BinaryIO

import anyio
import msgspec

from asynctrack.aio import AsyncClient
from asynctrack.client import MlflowClient
from asynctrack.loadtest._histogram import Histogram
from asynctrack.loadtest._protocol import (
    Failed,
    Finished,
    Go,
    JobSpec,
    JobStats,
    Ready,
    Stop,
    Tick,
    decode_from_parent,
    encode,
)
from asynctrack.loadtest._reader import Reader
from asynctrack.loadtest._run_logger import Control, RunState, log_run_in_task, log_run_in_thread
from asynctrack.loadtest._values import LOADTEST_TAG, run_salt
from asynctrack.loadtest._watcher import Watcher
from asynctrack.pipeline import close_pipelines

__all__ = ["main"]

_TICK = 0.5
# After the logging loops end (or are told to stop), how long the final drain may take beyond
# wait_timeout before the pipeline is closed under the runs' feet.
_GRACE = 5.0


class _Out:
    """Messages to the parent, one line each, from any thread."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, msg: msgspec.Struct) -> None:
        data = encode(msg)
        with self._lock:
            try:
                self._stream.write(data)
                self._stream.flush()
            except (BrokenPipeError, ValueError):  # the parent is gone: nothing to tell
                pass


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _last(times: Sequence[float | None]) -> float | None:
    """The latest of ``times``, or None until every one is known."""
    known = [t for t in times if t is not None]
    return max(known) if known and len(known) == len(times) else None


def _listen(ctl: Control, stdin: BinaryIO) -> None:
    for line in stdin:
        msg = decode_from_parent(line)
        if isinstance(msg, Stop):
            if msg.abort:
                ctl.abort.set()
            ctl.stop.set()
    ctl.abort.set()  # stdin closed: the parent is gone
    ctl.stop.set()


class _Writer:
    """A simulated training job: ``runs`` runs logging in threads or tasks."""

    def __init__(self, spec: JobSpec, ctl: Control, out: _Out) -> None:
        self.spec = spec
        self.ctl = ctl
        self.out = out
        self.client = MlflowClient(spec.target)
        # Held, not looked up: after close_pipelines() a lookup would open a fresh pipeline.
        self.queue = self.client._pipeline().queue
        self.runs: list[RunState] = []
        self.unwritten: list[str] = []
        self.stalled = False

    def setup(self) -> list[str]:
        w = self.spec.workload
        for j in range(w.runs):
            run = self.client.create_run(
                self.spec.experiment_id,
                run_name=f"loadtest-w{self.spec.index}-r{j}",
                tags={LOADTEST_TAG: self.spec.loadtest_id},
            )
            salt = run_salt(w.seed, self.spec.index, j)
            self.runs.append(RunState(run.info.run_id, self.spec.index, j, salt, w))
        return [r.run_id for r in self.runs]

    def stats(self) -> JobStats:
        errors: Counter[str] = Counter()
        samples: dict[str, str] = {}
        for r in self.runs:
            errors.update(dict(r.errors))
            for code, text in list(r.error_samples.items()):
                samples.setdefault(code, text)
        if self.stalled:
            errors["STALLED"] += 1
            samples.setdefault(
                "STALLED",
                f"no metric sent or made durable for {self.spec.workload.wait_timeout:g} s; pipeline closed",
            )
        queue = self.queue.statistics()
        return JobStats(
            calls=sum(r.calls for r in self.runs),
            metrics_sent=sum(r.sent for r in self.runs),
            metrics_durable=sum(r.durable for r in self.runs),
            params_sent=sum(r.params_sent for r in self.runs),
            tags_sent=sum(r.tags_sent for r in self.runs),
            queued=queue.queued,
            blocked=queue.blocked_callers,
            errors=dict(errors),
            error_samples=samples,
            caller=Histogram.merge([r.caller.snapshot() for r in self.runs]),
            durability=Histogram.merge([r.durability.snapshot() for r in self.runs]),
            waits=Histogram.merge([r.waits.snapshot() for r in self.runs]),
            logging_done=_last([r.logging_done for r in self.runs]),
            durable_at=_last([r.durable_at for r in self.runs]),
        )

    def run(self) -> Finished:
        w = self.spec.workload
        watcher = Watcher(self.runs) if not w.synchronous else None
        if watcher is not None:
            watcher.start()
        if w.mode == "tasks":
            driver = threading.Thread(
                target=anyio.run, args=(self._tasks,), name="loadtest-tasks", daemon=True
            )
            threads = [driver]
        else:
            threads = [
                threading.Thread(
                    target=log_run_in_thread,
                    args=(r, self.client, self.ctl),
                    name=f"run-{r.index}",
                    daemon=True,
                )
                for r in self.runs
            ]
        for t in threads:
            t.start()
        ticker = threading.Thread(
            target=self._tick_until, args=(threads,), name="loadtest-ticker", daemon=True
        )
        ticker.start()
        self._supervise(threads)
        # Runs still logging now are cut short: abort first, so that the calls the close makes raise
        # end their loops instead of opening a new pipeline.
        if any(t.is_alive() for t in threads):
            self.ctl.abort.set()
            self.ctl.stop.set()
        self.unwritten = close_pipelines(timeout=0.0 if self.ctl.abort.is_set() else _GRACE)
        for t in threads:
            t.join(_GRACE)
        if watcher is not None:
            watcher.stop()
        for r in self.runs:
            r.caller.fold()
            r.waits.fold()
        ticker.join(_TICK * 2)
        return Finished(self.stats(), [r.sent_record() for r in self.runs], self.unwritten)

    async def _tasks(self) -> None:
        client = AsyncClient(self.spec.target)
        async with anyio.create_task_group() as tg:
            for r in self.runs:
                tg.start_soon(log_run_in_task, r, client, self.ctl)

    def _supervise(self, threads: Sequence[threading.Thread]) -> None:
        """Return when the runs are done, or when they must be cut short (abort, stall, overrun)."""
        w = self.spec.workload
        last_progress = time.monotonic()
        last_counts = (-1, -1)
        ended_at: float | None = None
        while True:
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                return
            alive[0].join(0.1)
            if self.ctl.abort.is_set():
                return
            now = time.monotonic()
            counts = (sum(r.sent for r in self.runs), sum(r.durable for r in self.runs))
            q = self.queue.statistics()
            # Stalled means work is pending and nothing moves; runs idle between paced steps are not.
            pending = q.queued or q.blocked_callers or q.waiting_callers
            if counts != last_counts or not pending:
                last_counts, last_progress = counts, now
            elif now - last_progress > w.wait_timeout:
                self.stalled = True
                return
            if ended_at is None and self.ctl.should_stop():
                ended_at = now
            if ended_at is not None and now - ended_at > w.wait_timeout + _GRACE:
                return

    def _tick_until(self, threads: Sequence[threading.Thread]) -> None:
        while any(t.is_alive() for t in threads):
            time.sleep(_TICK)
            self.out.send(Tick(time.time(), self.stats()))


class _Readers:
    """The dashboard readers of one load test, all in one process."""

    def __init__(self, spec: JobSpec, ctl: Control, out: _Out) -> None:
        self.spec = spec
        self.ctl = ctl
        self.out = out
        w = spec.workload
        client = MlflowClient(spec.target)
        self.readers = [
            Reader(
                client, spec.experiment_id, spec.loadtest_id, w.metrics, w.reader_interval, w.seed * 1000 + i
            )
            for i in range(w.readers)
        ]

    def setup(self) -> list[str]:
        return []

    def stats(self) -> JobStats:
        errors: Counter[str] = Counter()
        samples: dict[str, str] = {}
        for r in self.readers:
            errors.update(dict(r.errors))
            for code, text in list(r.error_samples.items()):
                samples.setdefault(code, text)
        per_reader = [r.histograms() for r in self.readers]
        kinds = {k for h in per_reader for k in h}
        reads = {k: Histogram.merge([h[k] for h in per_reader if k in h]) for k in sorted(kinds)}
        return JobStats(errors=dict(errors), error_samples=samples, reads=reads)

    def run(self) -> Finished:
        for i, r in enumerate(self.readers):
            r.start(self.ctl, f"reader-{i}")
        while not self.ctl.stop.wait(_TICK):
            self.out.send(Tick(time.time(), self.stats()))
        for r in self.readers:
            if r.thread is not None:
                r.thread.join(_GRACE)
        close_pipelines(timeout=0.0)
        return Finished(self.stats(), [], [])


def main(stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Serve one job; the exit code is 0 once :class:`Finished` is sent."""
    # The parent got the Ctrl-C (it runs us in a session of our own anyway) and tells us to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin = stdin or sys.stdin.buffer
    out = _Out(stdout or sys.stdout.buffer)
    spec = decode_from_parent(stdin.readline())
    if not isinstance(spec, JobSpec):
        out.send(Failed("expected a job spec first"))
        return 2
    ctl = Control()
    job: _Writer | _Readers
    try:
        job = _Writer(spec, ctl, out) if spec.role == "writer" else _Readers(spec, ctl, out)
        run_ids = job.setup()
    except Exception as exc:  # anything: reported to the parent as one line, which decides what to do
        out.send(Failed(_one_line(exc)))
        close_pipelines(timeout=0.0)
        return 1
    out.send(Ready(run_ids))
    first = decode_from_parent(stdin.readline() or b'{"type":"stop","abort":true}')
    if not isinstance(first, Go):
        out.send(Finished(job.stats(), [], []))
        close_pipelines(timeout=0.0)
        return 0
    ctl.t0 = first.t0
    if spec.workload.duration is not None:
        ctl.deadline = first.t0 + spec.workload.duration
    threading.Thread(target=_listen, args=(ctl, stdin), name="loadtest-stdin", daemon=True).start()
    out.send(job.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
