"""Whether this process runs the compiled calls (``_cqueue.c``), and the bases they share state through.

The fields a training step's call reads and writes (the queue's intern table, queue file, wake threshold
and capacity; the queue file's slot counter, bound, mask and bytes; the producer's last sequence number
and record prefix) live in C structs where the extension is in use: ``OpQueue``, ``QueueFile`` and
``Producer`` derive from ``QueueCore``, ``RingCore`` and ``ProducerCore``, read and assign those fields as
attributes like any others, and the compiled calls reach them without an attribute lookup (after a step
has evicted the caches, each lookup costs several cache misses: docs/benchmarks.md, "twelfth session").
Where the extension is not built, cannot work here (a big-endian or free-threaded build) or
``ASYNCTRACK_NO_EXTENSIONS`` is set, the same three names are the plain Python classes below, and the
Python code is all there is.
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import TYPE_CHECKING

from asynctrack._extensions import load

__all__ = ["EXTENSION", "ProducerCore", "QueueCore", "RingCore"]

_GIL = getattr(sys, "_is_gil_enabled", lambda: True)()


#: the compiled extension where this process uses it, else None
EXTENSION = load("asynctrack.pipeline._cqueue")


class _PyQueueCore:
    """``OpQueue``'s base without the extension: its fields are ordinary attributes."""


class _PyRingCore:
    """``QueueFile``'s base without the extension: the slot counter is an ``itertools.count``.

    Its ``next()`` is one C call and therefore atomic under the GIL (``_ring.py``'s docstring: no lock on
    the caller's path); free-threaded builds hand slots out under a lock instead."""

    mask: int
    bound: int
    taken: int

    def __init__(self) -> None:
        self._slots = itertools.count(0, 64)
        self.reserve = self._slots.__next__
        if not _GIL:
            lock, nxt = threading.Lock(), self._slots.__next__

            def reserve() -> int:
                with lock:
                    return nxt()

            self.reserve = reserve

    def reserve_many(self, k: int) -> list[int]:
        """The positions of ``k`` slots, in one call (consecutive under the GIL; not necessarily without)."""
        if _GIL:
            return list(itertools.islice(self._slots, k))
        return [self.reserve() for _ in range(k)]

    @property
    def head(self) -> int:
        """Logical end of the slots handed out so far."""
        return int(repr(self._slots)[6:].split(",")[0])  # "count(n, 64)": reading it does not advance it

    def _attach(self, data: memoryview) -> None:
        """Hold the ring's bytes for the compiled calls: nothing to do without them."""

    def _detach(self) -> None:
        """Let the ring's bytes go: nothing to do without the compiled calls."""


class _PyProducerCore:
    """``Producer``'s base without the extension: two slots."""

    __slots__ = ("issued", "prefix")

    issued: int
    prefix: bytes


if TYPE_CHECKING:
    QueueCore = _PyQueueCore
    RingCore = _PyRingCore
    ProducerCore = _PyProducerCore
elif EXTENSION is not None:
    QueueCore, RingCore, ProducerCore = EXTENSION.QueueCore, EXTENSION.RingCore, EXTENSION.ProducerCore
else:
    QueueCore, RingCore, ProducerCore = _PyQueueCore, _PyRingCore, _PyProducerCore
