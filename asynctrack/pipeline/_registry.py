"""The process's pipelines, one per tracking location, and their lifecycle: lazy start, flush, the
bounded flush at interpreter exit, and a clean slate in a forked child.

Exit ordering matters. Python runs ``threading._register_atexit`` callbacks (LIFO) before it joins
non-daemon threads and long before ``atexit`` callbacks; ``concurrent.futures`` registers its own there,
and aiosqlite's connection threads are non-daemon. So our hook is registered the same way, after those
imports: it runs first, flushes with a deadline, closes the stores (ending their threads), then stops
the loop. Exit therefore never waits on a stuck store for longer than ``ASYNCTRACK_EXIT_TIMEOUT`` plus a
couple of seconds.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

from asynctrack._tracking_uri import StoreLocation, current_uri, resolve
from asynctrack.environment import ASYNCTRACK_EXIT_TIMEOUT
from asynctrack.pipeline._loop import BackgroundLoop
from asynctrack.pipeline._pipeline import Pipeline

__all__ = [
    "add_closer",
    "add_exit_callback",
    "background_loop",
    "close_pipelines",
    "flush_all",
    "get_pipeline",
    "shutdown_all",
]

_log = logging.getLogger("asynctrack")

_loop = BackgroundLoop()
_pipelines: dict[StoreLocation, Pipeline] = {}
_by_uri: dict[str, Pipeline] = {}
_lock = threading.Lock()
_exit_hook_registered = False
_shut_down = False
# Bumped whenever every pipeline is replaced (fork, close_pipelines): holders of a cached pipeline
# (MlflowClient, the fluent API's active run) compare it and look theirs up again.
generation = 0


def get_pipeline(uri: str | None = None) -> Pipeline:
    """The pipeline for a tracking URI (``None``: the one in force), started on first use.

    Relative paths are resolved against the working directory on first use of that URI string.
    """
    key = uri if uri is not None else current_uri()
    p = _by_uri.get(key)
    if p is not None:
        return p
    location = resolve(key)
    with _lock:
        p = _pipelines.get(location)
        if p is None:
            _register_exit_hook()
            p = Pipeline.open(location, _loop)
            _pipelines[location] = p
        _by_uri[key] = p
    return p


def pipelines() -> list[Pipeline]:
    return list(_pipelines.values())


def flush_all(timeout: float | None = None) -> None:
    """Wait until every operation accepted so far, on every pipeline, is written or failed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    ops = [p.barrier() for p in pipelines()]
    for o in ops:
        o.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))


def close_pipelines(timeout: float | None = None, reason: str = "close_pipelines() was called") -> list[str]:
    """Flush every pipeline (bounded by ``timeout``, default ``ASYNCTRACK_EXIT_TIMEOUT``), then stop
    them and close their stores; return reports of what could not be written. Later logging starts
    fresh pipelines."""
    budget = ASYNCTRACK_EXIT_TIMEOUT.get() if timeout is None else timeout
    deadline = time.monotonic() + budget
    global generation
    with _lock:
        closing = list(_pipelines.values())
        _pipelines.clear()
        _by_uri.clear()
        generation += 1
    reports = []
    for p in closing:
        report = p.shutdown(deadline, reason)
        if report:
            reports.append(report)
    # Other work on the background loop (the artifact upload queue) stops here too, within the same deadline.
    for closer in list(_closers):
        reports.extend(closer(deadline, reason))
    return reports


def shutdown_all(timeout: float | None = None) -> list[str]:
    """At exit: :func:`close_pipelines`, then stop the background loop."""
    global _shut_down
    if _shut_down:
        return []
    _shut_down = True
    reports = close_pipelines(timeout, "the interpreter is exiting")
    _loop.stop(2.0)
    return reports


_exit_callbacks: list[Callable[[], None]] = []
_closers: list[Callable[[float, str], list[str]]] = []


def background_loop() -> BackgroundLoop:
    """The event loop the pipelines (and the artifact queue) run on."""
    return _loop


def add_closer(fn: Callable[[float, str], list[str]]) -> None:
    """Have ``fn(deadline, reason)`` flush and stop its own work on the background loop whenever
    :func:`close_pipelines` runs (at exit too), after the pipelines, before the loop stops; it returns
    reports of what it could not finish. Registers the exit hook."""
    if fn not in _closers:
        _closers.append(fn)
    _register_exit_hook()


def add_exit_callback(fn: Callable[[], None]) -> None:
    """Run ``fn`` at exit before the final flush (the fluent API ends its active runs there)."""
    if fn not in _exit_callbacks:
        _exit_callbacks.append(fn)


def _at_exit() -> None:
    for fn in list(_exit_callbacks):
        try:
            fn()
        except Exception:
            _log.exception("asynctrack: error in an exit callback")
    try:
        reports = shutdown_all()
    except Exception:  # never let exit fail because of us
        _log.exception("asynctrack: error while flushing at exit")
        return
    for report in reports:
        _log.error(report)


def _register_exit_hook() -> None:
    global _exit_hook_registered
    if _exit_hook_registered:
        return
    _exit_hook_registered = True
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise RuntimeError
        register(_at_exit)
    except RuntimeError:  # no such hook, or the interpreter is already shutting down
        atexit.register(_at_exit)


def _after_fork_in_child() -> None:
    # The child has the parent's queues but none of its threads. The parent writes what it queued; the
    # child starts from nothing, so nothing is written twice and nothing waits on a thread that is gone.
    global _loop, _pipelines, _by_uri, _lock, _shut_down, generation
    for p in list(_pipelines.values()):
        p.forget_ring()  # the parent's queue file: the child must neither write nor keep it locked
    generation += 1
    _loop = BackgroundLoop()
    _pipelines = {}
    _by_uri = {}
    _lock = threading.Lock()
    _shut_down = False


os.register_at_fork(after_in_child=_after_fork_in_child)
