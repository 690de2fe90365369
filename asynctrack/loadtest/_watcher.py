"""Enqueue-to-durable latency without disturbing the pipeline: a thread polls ``RunOperations.done()``.

Each run hands over the last call of every step (its start time and its ``RunOperations``). The watcher
checks the oldest sample of each run every millisecond and records ``now - start`` once it is done
(a run's operations complete in order, so only the head of its queue needs looking at). Polling, rather
than ``wait()``, matters: a waiting caller tells the pipeline's worker to stop lingering for a fuller
batch, which would change what is measured. The price is resolution: about 1 ms on an idle machine,
up to the interpreter's thread switch interval (5 ms) while logging threads keep the GIL busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from asynctrack.loadtest._run_logger import RunState

__all__ = ["Watcher"]

_POLL = 0.001


class Watcher:
    """The polling thread of one worker process (only for ``synchronous=False`` workloads)."""

    def __init__(self, runs: Sequence[RunState]) -> None:
        self._runs = list(runs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="loadtest-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, then take one last look (samples completed meanwhile are still recorded)."""
        self._stop.set()
        self._thread.join(5.0)
        self.poll()
        for r in self._runs:
            r.durability.fold()

    def poll(self) -> None:
        now = time.perf_counter_ns()
        for r in self._runs:
            inflight = r.inflight
            rec = r.durability
            while inflight:
                started, sent, ops = inflight[0]
                if not ops.done():
                    break
                inflight.popleft()
                rec.add(now - started)
                r.durable = sent
            rec.fold_if_due()

    def _loop(self) -> None:
        while not self._stop.wait(_POLL):
            self.poll()
