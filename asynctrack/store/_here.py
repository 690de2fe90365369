"""Store reads run in the caller's thread: a synchronous read skips the hops to the background loop.

A sync client call is a coroutine of the store run on the pipeline's background loop, and the loop hands a
SQLite read to its connection thread: two thread hops each way, most of a registry lookup's time. A store
that can read from any thread (the embedded store: SQLite in WAL mode, one read connection per thread)
says so with ``reads_in_caller_thread``; :func:`run_here` then drives the read coroutine to completion in
the calling thread, with :func:`active` telling the store to read synchronously instead of awaiting.

Only reads take this path, and only when they can finish without suspending: a store raises
:class:`NotHere` before doing anything (a write, a locked database) and the call goes to the loop as
before. A coroutine that suspends anyway (or fails for want of a running loop) is closed and run on the
loop: reads have no effects to repeat. The store's own errors propagate as they would from the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, TypeVarTuple

from asynctrack.exceptions import MlflowException

__all__ = ["NotHere", "active", "run_here"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_state = threading.local()


class NotHere(Exception):
    """This store call cannot finish in the caller's thread; run it on the loop (internal)."""


def active() -> bool:
    """Whether the current thread is driving a store read itself (see :func:`run_here`)."""
    return getattr(_state, "on", False)


@contextmanager
def _here() -> Iterator[None]:
    _state.on = True
    try:
        yield
    finally:
        _state.on = False


def run_here(fn: Callable[[*Ts], Coroutine[Any, Any, T]], *args: *Ts) -> tuple[bool, T | None]:
    """Drive ``fn(*args)`` in this thread: ``(True, result)``, or ``(False, None)`` when it cannot finish
    here (run it on the loop then). The store's errors propagate as they would from the loop."""
    if active():  # nested (a store read calling another): already here
        return False, None
    with _here():
        coro = fn(*args)
        try:
            coro.send(None)
        except StopIteration as stop:
            return True, stop.value
        except NotHere:
            return False, None
        except MlflowException:
            raise  # the store's answer (not found, bad input): the same as from the loop
        except Exception:  # it needed a running loop after all (a read: nothing to undo)
            return False, None
        coro.close()  # it awaited something real: the loop runs it instead
        return False, None
