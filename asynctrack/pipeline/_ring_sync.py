"""The queue file's timed sync: one thread per worker that writes the file's pages to disk, at most once an
interval and never sooner than a short delay after the chunk that asked for it.

Why a thread of its own: the worker used to sleep in a task and hop into anyio's thread pool for each
sync. That task's timer, its hop and the hop back cost the event loop's thread about 0.35 ms of CPU a sync,
with the GIL held, on top of the sync itself (docs/benchmarks.md, "fifteenth session"), and a training loop
pays for GIL time. Asking this thread costs the loop one ``SimpleQueue.put``. The thread has one owner, the
worker, which closes it when it stops (before the pipeline closes the queue file); it is a daemon only so
that a disk that never answers cannot hold the interpreter at exit.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

__all__ = ["RingSyncer"]

_log = logging.getLogger("asynctrack")


class RingSyncer:
    """Runs ``action`` (the queue file's ``sync``, or its ``prefault`` under the ``never`` policy) in a
    thread of its own when :meth:`request`\\ ed: ``delay`` seconds after the request at the earliest, so
    the callers the chunk woke get the GIL first, and ``interval`` seconds after the previous run ended.
    Requests made while one is pending are one request; one made while ``action`` runs starts the next.

    ``action`` failing (the disk is full or gone) is logged once, with what it means, and the thread
    carries on: nothing accepted is lost to a process crash, since the pages stay in the page cache; only
    a power loss could cost what was accepted since the last sync that worked."""

    def __init__(self, action: Callable[[], None], interval: float, delay: float, path: str = "") -> None:
        self._action = action
        self._interval = interval
        self._delay = delay
        self._path = path
        # Wake-ups. A SimpleQueue, not a Condition: ``request`` runs on the event loop, where waiting for
        # a lock another thread holds, however briefly, is a blocking call; ``put`` never waits. The
        # ``_requested`` flag keeps it to one item per run (only the loop's thread calls ``request``).
        self._wake: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._requested = False
        self._stopping = False
        self._last = 0.0  # time.monotonic() when the last run ended
        self._warned = False
        self.runs = 0  # completed runs of ``action``, failed ones included (for tests)
        self._thread = threading.Thread(target=self._run, name="asynctrack-ring-sync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a run; never waits."""
        if not self._requested:
            self._requested = True
            self._wake.put(None)

    def close(self, timeout: float | None = None) -> bool:
        """Stop the thread without running a pending request (the caller is done with the file: its
        operations are durable in the store, or kept in the file for the next process) and wait for it
        to end, at most ``timeout`` seconds (a run in progress finishes first). True once it has ended."""
        self._stopping = True
        self._wake.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        wake = self._wake
        while True:
            wake.get()  # a request, or close
            due = max(time.monotonic() + self._delay, self._last + self._interval)
            while not self._stopping and (left := due - time.monotonic()) > 0:
                try:
                    wake.get(timeout=left)  # only close puts while a request is pending
                except queue.Empty:
                    pass
            if self._stopping:
                return
            self._requested = False  # a chunk written while the action runs asks again
            try:
                self._action()
            except Exception as exc:
                self._failed(exc)
            finally:
                self._last = time.monotonic()
                self.runs += 1

    def _failed(self, exc: Exception) -> None:
        if self._warned:
            _log.debug("asynctrack: syncing the queue file %s failed again: %r", self._path, exc)
            return
        self._warned = True
        _log.warning(
            "asynctrack: could not write the queue file %s to disk (%s); logging goes on, and nothing is "
            "lost unless the machine itself loses power before a later sync works (a process crash loses "
            "nothing: the pages stay in memory)",
            self._path,
            exc,
        )
