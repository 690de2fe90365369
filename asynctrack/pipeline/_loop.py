"""The background event loop: one daemon thread running asyncio (on uvloop where present) via anyio.

Sync code reaches it through an anyio ``BlockingPortal``. The thread is a daemon so an abandoned loop can
never hold the interpreter open; orderly shutdown (flush, close stores, stop the loop) is done by the
registry's exit hook before Python joins threads.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar, TypeVarTuple

import anyio
from anyio.from_thread import BlockingPortal

__all__ = ["BackgroundLoop"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

try:
    import uvloop  # noqa: F401

    _USE_UVLOOP = True
except ImportError:  # pragma: no cover - uvloop is a core dependency where the platform has it
    _USE_UVLOOP = False


class BackgroundLoop:
    """Starts lazily; ``call`` runs a coroutine function on the loop and returns its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._portal is not None

    def portal(self) -> BlockingPortal:
        portal = self._portal
        if portal is not None:
            return portal
        with self._lock:
            if self._portal is None:
                self._start()
            assert self._portal is not None
            return self._portal

    def _start(self) -> None:
        ready = threading.Event()

        async def main() -> None:
            async with BlockingPortal() as portal:
                self._portal = portal
                ready.set()
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(main, backend="asyncio", backend_options={"use_uvloop": _USE_UVLOOP})
            except BaseException as exc:  # surfaced to the thread that is waiting for start-up
                self._error = exc
            finally:
                self._portal = None
                ready.set()

        thread = threading.Thread(target=run, name="asynctrack-loop", daemon=True)
        thread.start()
        ready.wait()
        if self._portal is None:
            raise RuntimeError(f"asynctrack's background loop failed to start: {self._error!r}")
        self._thread = thread

    def call(self, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T:
        """Run ``await fn(*args)`` on the loop; block the calling thread for the result."""
        return self.portal().call(fn, *args)

    def submit(self, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> Future[T]:
        """Start ``fn(*args)`` as a task on the loop; its future can be cancelled."""
        return self.portal().start_task_soon(fn, *args)

    def stop(self, timeout: float) -> None:
        """Cancel what still runs on the loop and wait (at most ``timeout``) for the thread to end."""
        portal, thread = self._portal, self._thread
        if portal is None or thread is None:
            return
        try:
            portal.call(portal.stop, True)
        except RuntimeError:  # already stopping
            pass
        thread.join(timeout)
