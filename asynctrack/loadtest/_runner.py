"""One load test against one target: check it, start the workers, watch them, stop them, read back.

Every phase is bounded: workers must be ready within a minute or two, a worker that goes silent for
longer than ``wait_timeout`` (it ticks twice a second) is killed, readers get a few seconds to finish,
and Ctrl-C escalates from stop to abort to kill. Whatever happens, a :class:`TargetResult` comes back
with what was measured, unless the target could not be used at all (:class:`TargetError`).
"""

from __future__ import annotations

import datetime
import os
import queue
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path

from asynctrack.loadtest._histogram import Histogram
from asynctrack.loadtest._interrupt import Interrupts
from asynctrack.loadtest._options import Workload
from asynctrack.loadtest._progress import LiveProgress, LiveView
from asynctrack.loadtest._protocol import Failed, Finished, JobSpec, JobStats, Ready, RunSent, Tick
from asynctrack.loadtest._result import TargetResult, Timeline
from asynctrack.loadtest._target import TargetError, display_name, prepare_target
from asynctrack.loadtest._verify import verify
from asynctrack.loadtest._workers import Inbox, WorkerProcess

__all__ = ["run_loadtest"]

_READY_TIMEOUT = 120.0
_SAMPLE_EVERY = 0.5
_SILENCE_SLACK = 30.0
_READER_STOP_TIMEOUT = 15.0


class _Session:
    """The workers of one load test and what they have said so far."""

    def __init__(self, workload: Workload, procs: list[WorkerProcess], inbox: Inbox) -> None:
        self.workload = workload
        self.procs = procs
        self.inbox = inbox
        self.writers = [p for p in procs if p.spec.role == "writer"]
        self.readers = [p for p in procs if p.spec.role == "reader"]
        self.latest: dict[int, JobStats] = {}
        self.finished: dict[int, Finished] = {}
        self.finished_at: dict[int, float] = {}
        self.failures: list[str] = []
        self.t0 = 0.0
        self.timeline = Timeline()
        self.interrupted = False
        self._rates: list[tuple[float, int, int]] = []

    # -- phases
    def wait_ready(self, interrupts: Interrupts) -> bool:
        """Wait until every worker has created its runs; False if Ctrl-C came first."""
        waiting = {p.index for p in self.procs}
        deadline = time.monotonic() + max(_READY_TIMEOUT, self.workload.wait_timeout)
        while waiting:
            if interrupts.requested:
                return False
            if time.monotonic() > deadline:
                raise TargetError(f"workers not ready after {_READY_TIMEOUT:.0f} s (creating runs)")
            try:
                i, msg = self.inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(msg, Ready):
                waiting.discard(i)
            elif isinstance(msg, Failed) or msg is None:
                why = msg.message if isinstance(msg, Failed) else self.procs[i].log_tail() or "it exited"
                raise TargetError(f"worker {i} could not start: {why}")
        return True

    def go(self) -> None:
        self.t0 = time.time()
        for p in self.procs:
            p.go(self.t0)

    def monitor(self, interrupts: Interrupts, progress: LiveProgress, view: LiveView) -> None:
        """Until every writer has finished, died or been killed."""
        left = {p.index for p in self.writers}
        last_heard = {p.index: time.monotonic() for p in self.procs}
        next_sample = 0.0
        stop_sent = abort_sent = False
        silence_limit = self.workload.wait_timeout + _SILENCE_SLACK
        while left:
            if interrupts.count >= 1 and not stop_sent:
                stop_sent = self.interrupted = True
                for p in self.writers:
                    p.stop()
                progress.note("interrupted: stopping the workers and draining (Ctrl-C again to abort)")
            if interrupts.count >= 2 and not abort_sent:
                abort_sent = True
                for p in self.writers:
                    p.stop(abort=True)
                progress.note("aborting: not waiting for the drain (Ctrl-C again to kill the workers)")
            if interrupts.count >= 3:
                for i in sorted(left):
                    self.procs[i].kill()
                    self.failures.append(f"worker {i} killed (Ctrl-C three times)")
                break
            try:
                i, msg = self.inbox.get(timeout=0.1)
            except queue.Empty:
                pass
            else:
                last_heard[i] = time.monotonic()
                self._take(i, msg, left)
            now = time.monotonic()
            for i in sorted(left):
                if now - last_heard[i] > silence_limit:
                    self.procs[i].kill()
                    left.discard(i)
                    self.failures.append(f"worker {i} silent for {silence_limit:.0f} s: killed")
            if now >= next_sample or not left:
                next_sample = now + _SAMPLE_EVERY
                self._sample(view)
                view.phase = "stopping" if stop_sent else "logging"
                progress.show(view)

    def _take(self, i: int, msg: Tick | Finished | Failed | Ready | None, left: set[int]) -> None:
        if isinstance(msg, Tick):
            self.latest[i] = msg.stats
        elif isinstance(msg, Finished):
            self.latest[i] = msg.stats
            self.finished[i] = msg
            self.finished_at[i] = time.time()
            left.discard(i)
        elif isinstance(msg, Failed):
            self.failures.append(f"worker {i}: {msg.message}")
        elif msg is None and i in left:
            left.discard(i)
            self.failures.append(f"worker {i} exited unexpectedly: {self.procs[i].log_tail() or 'no output'}")

    def stop_readers(self) -> None:
        for p in self.readers:
            p.stop()
        deadline = time.monotonic() + _READER_STOP_TIMEOUT
        waiting = {p.index for p in self.readers}
        while waiting and time.monotonic() < deadline:
            try:
                i, msg = self.inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            self._take(i, msg, waiting)
            if msg is None:
                waiting.discard(i)

    # -- totals
    def writer_stats(self) -> list[JobStats]:
        return [self.latest[p.index] for p in self.writers if p.index in self.latest]

    def reader_stats(self) -> list[JobStats]:
        return [self.latest[p.index] for p in self.readers if p.index in self.latest]

    def _sample(self, view: LiveView) -> None:
        stats = self.writer_stats()
        sent = sum(s.metrics_sent for s in stats)
        durable = sum(s.metrics_durable for s in stats)
        queued = sum(s.queued for s in stats)
        errors = sum(sum(s.errors.values()) for s in stats + self.reader_stats())
        now = time.time()
        self.timeline.add(now - self.t0, sent, durable, queued, errors)
        self._rates.append((now, sent, durable))
        # Rates over the last two seconds.
        while len(self._rates) > 2 and now - self._rates[0][0] > 2.0:
            self._rates.pop(0)
        t_old, s_old, d_old = self._rates[0]
        dt = now - t_old
        view.elapsed = now - self.t0
        view.sent, view.durable, view.queued, view.errors = sent, durable, queued, errors
        view.blocked = sum(s.blocked for s in stats)
        view.sent_rate = (sent - s_old) / dt if dt > 0 else 0.0
        view.durable_rate = (durable - d_old) / dt if dt > 0 else 0.0
        view.caller = Histogram.merge([s.caller for s in stats]).summary()
        view.durability = Histogram.merge([s.durability for s in stats]).summary()
        reads = self.reader_stats()
        view.reads = {k: h.summary() for k, h in _merge_reads(reads).items()}

    def sent_runs(self) -> list[RunSent]:
        return [r for f in self.finished.values() for r in f.runs]


def _merge_reads(stats: list[JobStats]) -> dict[str, Histogram]:
    kinds = sorted({k for s in stats for k in s.reads})
    return {k: Histogram.merge([s.reads[k] for s in stats if k in s.reads]) for k in kinds}


def _latest(times: list[float | None]) -> float | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def run_loadtest(
    target: str, workload: Workload, *, progress: LiveProgress, interrupts: Interrupts
) -> TargetResult:
    """Run ``workload`` against ``target`` and return what was measured and verified.

    Raises :class:`TargetError` when the target cannot be used at all (nothing was measured).
    """
    shown = display_name(target)
    view = LiveView(shown, phase="checking the target")
    progress.show(view, plain=False)  # in a log, an unusable target is then just its one-line error
    experiment_id, experiment_name = prepare_target(target, workload.experiment)
    loadtest_id = secrets.token_hex(4)
    started_at = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    result = TargetResult(
        target=shown,
        experiment_id=experiment_id,
        loadtest_id=loadtest_id,
        workload=workload,
        started_at=started_at,
    )
    progress.note(
        f"{shown}: experiment {experiment_name!r} (id {experiment_id}), load test {loadtest_id}; "
        f"starting {workload.workers} workers"
    )
    # Under ASYNCTRACK_JOURNAL_DIR when set, so the workers' journals are on the disk the user chose.
    parent = os.environ.get("ASYNCTRACK_JOURNAL_DIR") or None
    if parent is not None:
        os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="asynctrack-loadtest-", dir=parent) as tmp:
        inbox: Inbox = queue.Queue()
        specs = [
            JobSpec("writer", i, target, experiment_id, loadtest_id, workload)
            for i in range(workload.workers)
        ]
        if workload.readers:
            specs.append(JobSpec("reader", 0, target, experiment_id, loadtest_id, workload))
        procs: list[WorkerProcess] = []
        try:
            for i, spec in enumerate(specs):
                procs.append(WorkerProcess(i, spec, inbox, Path(tmp)))
            session = _Session(workload, procs, inbox)
            if not session.wait_ready(interrupts):
                result.interrupted = True
                return result
            session.go()
            session.monitor(interrupts, progress, view)
            session.stop_readers()
        finally:
            for p in procs:
                p.reap(timeout=10.0 if interrupts.count < 3 else 0.5)
    _fill(result, session, workload)
    if interrupts.count < 2:
        view.phase = "verifying"
        progress.show(view, force=True)
        seen = interrupts.count
        result.verification = verify(
            target, session.sent_runs(), workload.metrics, cancelled=lambda: interrupts.count > seen
        )
        v = result.verification
        if result.durable_seconds and v.complete:
            result.durable_per_s = v.metrics_landed / result.durable_seconds
    return result


def _fill(result: TargetResult, session: _Session, workload: Workload) -> None:
    """Totals, timings, latencies and errors from the workers' last words."""
    writers = session.writer_stats()
    readers = session.reader_stats()
    t0 = session.t0
    result.interrupted = result.interrupted or session.interrupted
    result.worker_failures = session.failures
    result.timeline = session.timeline
    result.calls = sum(s.calls for s in writers)
    result.metrics_sent = sum(s.metrics_sent for s in writers)
    result.metrics_durable = sum(s.metrics_durable for s in writers)
    result.params_sent = sum(s.params_sent for s in writers)
    result.tags_sent = sum(s.tags_sent for s in writers)
    done = _latest([s.logging_done for s in writers])
    # A worker cut short never saw its runs durable: the time it finished stands in for it.
    durable = _latest(
        [
            session.latest[p.index].durable_at or session.finished_at.get(p.index)
            for p in session.writers
            if p.index in session.latest
        ]
    )
    if done is not None:
        result.logging_seconds = done - t0
        if result.logging_seconds > 0:
            result.sent_per_s = result.metrics_sent / result.logging_seconds
    if durable is not None:
        result.durable_seconds = durable - t0
        if result.durable_seconds > 0:
            result.durable_per_s = result.metrics_durable / result.durable_seconds
    errors: Counter[str] = Counter()
    samples: dict[str, str] = {}
    for s in writers + readers:
        errors.update(s.errors)
        for code, text in s.error_samples.items():
            samples.setdefault(code, text)
    result.errors = dict(errors)
    result.error_samples = samples
    result.unwritten = [u for f in session.finished.values() for u in f.unwritten]
    hists = {
        "caller": Histogram.merge([s.caller for s in writers]),
        "durability": Histogram.merge([s.durability for s in writers]),
    }
    if not workload.synchronous:
        hists["wait"] = Histogram.merge([s.waits for s in writers])
    hists.update(_merge_reads(readers))
    result.histograms = hists
    result.latency = {k: h.summary() for k, h in hists.items()}
