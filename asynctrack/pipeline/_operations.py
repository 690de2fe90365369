"""``RunOperations``: what an asynchronous logging call returns, and the producer state behind it.

A producer is one thread's view of one pipeline: it numbers the thread's operations 1, 2, 3, ... and the
worker advances its ``done`` watermark as chunks are written. A ``RunOperations`` is just
``(producer, first, last)`` ranges, so creating one costs a small object, not a lock or a future.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable
from types import NotImplementedType
from typing import Any, Protocol

import anyio
import msgspec

from asynctrack.exceptions import MlflowException
from asynctrack.pipeline._native import EXTENSION, ProducerCore

__all__ = ["Producer", "RunOperations", "WatermarkQueue", "wait_for_watermark"]

# Failure ranges kept per producer for RunOperations.wait(). Past this many, the two oldest ranges are
# merged (over-reporting the operations between them as failed), so memory stays bounded and no failure
# is ever reported as a success.
_MAX_FAILURE_RANGES = 100_000


class WatermarkQueue(Protocol):
    """What a producer's queue offers ``RunOperations.wait``: the metric queue and the artifact queue."""

    def wait_done(
        self,
        p: Producer,
        seq: int,
        deadline: float | None,
        give_up: Callable[[], MlflowException | None] | None = None,
    ) -> None: ...


def wait_for_watermark(
    cond: threading.Condition,
    p: Producer,
    seq: int,
    deadline: float | None,
    give_up: Callable[[], MlflowException | None] | None,
    *,
    stopped: Callable[[], MlflowException | None],
    timed_out: Callable[[], str],
) -> None:
    """Wait on ``cond`` (held by the caller) until ``p.done >= seq``, the one waiting loop of both queues.

    Raises what ``give_up()`` returns as soon as it returns an error, what ``stopped()`` returns once the
    queue's owner has stopped for good, and ``TimeoutError(timed_out())`` at ``deadline`` (a
    ``time.monotonic`` value). Without a deadline it still wakes every second, so a notification lost to a
    dying owner cannot strand the caller.
    """
    while p.done < seq:
        if give_up is not None and (error := give_up()) is not None:
            raise error
        if (error := stopped()) is not None:
            raise error
        if deadline is None:
            cond.wait(1.0)
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(timed_out())
        cond.wait(remaining)


def _report(failures: list[MlflowException]) -> MlflowException:
    """What one ``wait()`` raises: copies of the recorded failures, the first with all of them attached.

    The recorded exceptions are shared by every RunOperations covering the same operations (and by every
    thread waiting on them); raising or annotating them would race on ``failures`` and ``__traceback__``.
    """
    copies = []
    for exc in failures:
        cls = type(exc)
        c = cls.__new__(cls)  # none of the traceback
        # Every attribute kept (a subclass's too); the mutable ones (``json_kwargs``, the ``__notes__``
        # of ``add_note``) copied, so that a handler changing what its wait() raised changes nothing else.
        c.__dict__.update(
            {
                k: dict(v) if type(v) is dict else list(v) if type(v) is list else v
                for k, v in exc.__dict__.items()
            }
        )
        c.args = exc.args
        c.__cause__ = exc.__cause__
        c.__suppress_context__ = exc.__suppress_context__
        c.failures = [c]
        copies.append(c)
    copies[0].failures = copies
    return copies[0]


class Producer(ProducerCore):
    """One thread's sequence of operations on one pipeline (``issued`` and ``prefix`` are
    :class:`ProducerCore`'s, which the compiled calls read and write: ``_native.py``)."""

    __slots__ = ("__weakref__", "done", "failures", "id", "queue")

    def __init__(self, queue: WatermarkQueue, producer_id: int) -> None:
        self.queue = queue
        self.id = producer_id
        self.issued = 0  # last sequence number handed out; written by the owning thread only
        self.done = 0  # every op with seq <= done is durable or failed; written by the worker only
        self.failures: list[tuple[int, int, MlflowException]] = []  # (first seq, last seq, error)
        # The head of this producer's metric records in a queue file (``_ring.py``), made once.
        self.prefix = b""

    def fail(self, first: int, last: int, exc: MlflowException) -> None:
        failures = self.failures
        if failures and failures[-1][2] is exc and failures[-1][1] + 1 == first:
            failures[-1] = (failures[-1][0], last, exc)
        else:
            failures.append((first, last, exc))
        if len(failures) > _MAX_FAILURE_RANGES:
            a, b = failures[0], failures[1]
            failures[0:2] = [(a[0], b[1], a[2])]

    def failures_between(self, first: int, last: int) -> list[MlflowException]:
        found: list[MlflowException] = []
        for f_first, f_last, exc in self.failures:
            if f_first <= last and f_last >= first and exc not in found:
                found.append(exc)
        return found


_Part = tuple[Producer, int, int]


class RunOperations(msgspec.Struct, gc=False, eq=False):
    """Pending logging operations; ``wait()`` blocks until they are durable or raises their failure.

    Values combine: ``ops_a + ops_b``, ``sum(list_of_ops)`` or ``RunOperations.combine(list_of_ops)``, so an
    epoch's calls can be awaited once. A combination covers exactly the calls it was built from; one
    thread's consecutive calls collapse into a single range, so combining an epoch stays small.

    >>> ops = mlflow.log_metric("loss", 0.1, synchronous=False)   # doctest: +SKIP
    >>> ops.wait()                                                 # doctest: +SKIP
    """

    # A msgspec Struct: its C-level constructor keeps the per-call cost of creating one to ~60 ns.
    _producer: Producer
    _first: int
    _last: int
    _rest: tuple[_Part, ...] = ()

    def _parts(self) -> Iterable[_Part]:
        yield (self._producer, self._first, self._last)
        yield from self._rest

    # -- waiting
    def wait(
        self, timeout: float | None = None, *, give_up: Callable[[], MlflowException | None] | None = None
    ) -> None:
        """Block until every covered operation is durable; raise the first failure, or TimeoutError.

        The raised :class:`MlflowException` keeps the store's ``error_code``; ``exc.failures`` lists every
        failure among the covered operations.

        Raises:
            MlflowException: the first failure among the covered operations (the store's error, e.g.
                ``INVALID_PARAMETER_VALUE`` for a param re-logged with another value,
                ``RESOURCE_DOES_NOT_EXIST`` for an unknown run, ``INTERNAL_ERROR`` for a bug), with every
                failure in ``failures``; a fresh exception per call, so callers never share one.
            PipelineClosed: the pipeline stopped before the operations were written (``RESOURCE_EXHAUSTED``;
                its exit report lists them).
            MlflowException: ``TEMPORARILY_UNAVAILABLE`` when ``give_up`` says so (synchronous calls: the
                store failed past its retry budget).
            TimeoutError: ``timeout`` seconds passed first (the operations stay queued).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for producer, _first, last in self._parts():
            producer.queue.wait_done(producer, last, deadline, give_up)
        failures = self._failures()
        if failures:
            raise _report(failures)

    def done(self) -> bool:
        """True when every covered operation is durable or failed."""
        return all(p.done >= last for p, _f, last in self._parts())

    def exception(self, timeout: float | None = None) -> MlflowException | None:
        """Wait like :meth:`wait`, then return the first failure (``failures`` attached) or None."""
        try:
            self.wait(timeout)
        except MlflowException as exc:
            return exc
        return None

    def _failures(self) -> list[MlflowException]:
        found: list[MlflowException] = []
        for producer, first, last in self._parts():
            if producer.failures:
                found.extend(e for e in producer.failures_between(first, last) if e not in found)
        return found

    def __await__(self) -> Generator[Any, None, None]:
        """``await ops`` in asyncio or trio code waits in a worker thread, never blocking the loop."""
        if self.done():
            self.wait()
            return
        yield from anyio.to_thread.run_sync(self.wait, abandon_on_cancel=True).__await__()

    # -- combining
    def __add__(self, other: object) -> RunOperations:
        if other is None or (type(other) is int and other == 0):  # 0: lets sum(list_of_ops) work
            return self
        if not isinstance(other, RunOperations):
            return NotImplemented
        return RunOperations._merge((self, other))

    __radd__ = __add__

    @classmethod
    def combine(cls, operations: Iterable[RunOperations | None]) -> RunOperations | None:
        """One RunOperations covering all of ``operations`` (None entries are skipped; empty gives None)."""
        if _compiled_combine is not None and type(operations) is list and cls is RunOperations:
            # The common case compiled (``_cqueue.c``): an epoch's 1,600 results took 0.2 ms in Python.
            got = _compiled_combine(operations)
            if not isinstance(got, NotImplementedType):
                return got
        present = [ops for ops in operations if ops is not None]
        if not present:
            return None
        # The common case, checked first in one tight pass: one thread's consecutive calls in order (an
        # epoch's log_metric results), which make a single range. Anything else takes _merge.
        head = present[0]
        p, lo, hi = head._producer, head._first, head._last
        for ops in present:
            first = ops._first
            if ops._producer is not p or ops._rest or not lo <= first <= hi + 1:
                return cls._merge(present)
            if ops._last > hi:
                hi = ops._last
        return cls(p, lo, hi)

    @classmethod
    def _merge(cls, operations: Iterable[RunOperations]) -> RunOperations:
        # Ranges of one producer that touch (seq 5..6 and 7..9) become one range; others stay apart,
        # so a combination covers exactly the calls it was built from. The common case, one thread's
        # consecutive calls in order, extends a single range in one pass.
        spans: dict[int, list[list[Any]]] = {}
        in_order = True
        for ops in operations:
            for p, first, last in ((ops._producer, ops._first, ops._last), *ops._rest):
                mine = spans.get(id(p))
                if mine is None:
                    spans[id(p)] = [[p, first, last]]
                    continue
                tail = mine[-1]
                if tail[1] <= first <= tail[2] + 1:
                    if last > tail[2]:
                        tail[2] = last
                else:
                    in_order = in_order and first > tail[2]
                    mine.append([p, first, last])
        parts: list[_Part] = []
        for mine in spans.values():
            if not in_order:
                mine.sort(key=lambda s: s[1])
            merged: list[list[Any]] = []
            for span in mine:
                if merged and span[1] <= merged[-1][2] + 1:
                    merged[-1][2] = max(merged[-1][2], span[2])
                else:
                    merged.append(span)
            parts.extend((m[0], m[1], m[2]) for m in merged)
        head = parts[0]
        return cls(head[0], head[1], head[2], tuple(parts[1:]))

    def __repr__(self) -> str:
        n = sum(last - first + 1 for _p, first, last in self._parts())
        state = "done" if self.done() else "pending"
        return f"<RunOperations {n} operation(s) {state}>"


# RunOperations.combine's common case compiled, where the extension is in use (it reads the fields of the
# RunOperations type that _queue.py binds it to, and answers NotImplemented for anything else).
_compiled_combine: (
    Callable[[list[RunOperations | None]], RunOperations | NotImplementedType | None] | None
) = EXTENSION.combine if EXTENSION is not None else None
