"""Types of the compiled calls (``_cqueue.c``): OpQueue's ``put_metric_at``, ``put_points_at`` and
``put_dict_at``."""

from collections.abc import Callable, Mapping, Sequence
from types import ModuleType, NotImplementedType
from typing import Any

from asynctrack.pipeline._operations import Producer, RunOperations
from asynctrack.pipeline._queue import OpQueue

_PutMetric = Callable[[OpQueue, Producer, int, str, object, object, object], RunOperations]
_PutPoints = Callable[[OpQueue, Producer, int, Sequence[int], Sequence[float], int, int], RunOperations]
_Seen = tuple[tuple[object, ...], Sequence[int]]
_PutDict = Callable[[OpQueue, Producer, int, _Seen, Mapping[Any, object], object], RunOperations | None]

AVAILABLE: int

def bind(
    run_operations: type[RunOperations],
    put_metric_at: _PutMetric,
    put_points_at: _PutPoints,
    put_dict_at: _PutDict,
    /,
) -> None: ...
def put_metric_at(
    queue: OpQueue, p: Producer, r: int, key: str, value: object, timestamp: object, step: object, /
) -> RunOperations: ...
def put_points_at(
    queue: OpQueue,
    p: Producer,
    r: int,
    keys: Sequence[int],
    values: Sequence[float],
    timestamp: int,
    step: int,
    /,
) -> RunOperations: ...
def put_dict_at(
    queue: OpQueue, p: Producer, r: int, seen: _Seen, metrics: Mapping[Any, object], step: object, /
) -> RunOperations | None: ...
def combine(operations: list[RunOperations | None], /) -> RunOperations | NotImplementedType | None: ...
def top_changed() -> None: ...

class LogMetric:
    """``fluent.log_metric`` with its asynchronous path to the active run compiled."""

    __wrapped__: Callable[..., RunOperations | None]

    def __init__(
        self,
        python: Callable[..., RunOperations | None],
        state: object,
        active_model: ModuleType,
        async_enabled: Callable[[], bool],
    ) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> RunOperations | None: ...

class LogMetrics:
    """``fluent.log_metrics`` with its asynchronous path to the active run compiled, for a dict of keys
    found in ``shapes``."""

    __wrapped__: Callable[..., RunOperations | None]

    def __init__(
        self,
        python: Callable[..., RunOperations | None],
        state: object,
        active_model: ModuleType,
        async_enabled: Callable[[], bool],
        shapes: list[Any],
    ) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> RunOperations | None: ...

class QueueCore:
    """``OpQueue``'s fields that the compiled calls read, in C (``_native.py``)."""

class RingCore:
    """``QueueFile``'s slot counter and the fields the compiled calls read, in C (``_native.py``)."""

    mask: int
    bound: int
    taken: int
    @property
    def head(self) -> int: ...
    def reserve(self) -> int: ...
    def reserve_many(self, k: int, /) -> list[int]: ...
    def _attach(self, data: memoryview, /) -> None: ...
    def _detach(self) -> None: ...

class ProducerCore:
    """``Producer``'s ``issued`` and ``prefix``, in C (``_native.py``)."""

    issued: int
    prefix: bytes
