"""The compiled hot calls (pipeline/_cqueue.c) against their reference, OpQueue's Python methods.

``put_metric_at``, ``put_points_at`` and ``put_dict_at`` must write exactly the bytes the Python methods
write (``put_dict_at``'s own timestamp aside: each call reads the clock), take the same decisions (refuse,
block, fall back, decline) and raise the same errors. Each test drives both on identical
queues, on real queue files. Where the extension is not built these tests skip, except in CI
(``ASYNCTRACK_TEST_REQUIRE_EXTENSIONS=1``, set by .ci/run), where a missing extension fails.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from extensions import built
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asynctrack as mlflow
from asynctrack import fluent
from asynctrack._batching._ops import METRIC_FRAME
from asynctrack._int64 import INT64_MAX, INT64_MIN
from asynctrack.exceptions import MlflowException, QueueFull
from asynctrack.integrations import _run
from asynctrack.pipeline import _native, _queue
from asynctrack.pipeline._operations import Producer, RunOperations
from asynctrack.pipeline._queue import OpQueue
from asynctrack.pipeline._ring import METRIC_RECORD, QueueFile

_cqueue = built("asynctrack.pipeline._cqueue")
pytestmark = pytest.mark.skipif(_cqueue is None, reason="the compiled extension is not built here")
# fluent.log_metric as written in Python, and compiled (as fluent makes it; made here when
# ASYNCTRACK_NO_EXTENSIONS kept fluent from doing so).
PY_LOG_METRIC: Callable[..., RunOperations | None] = getattr(
    fluent.log_metric, "__wrapped__", fluent.log_metric
)
C_LOG_METRIC: Callable[..., RunOperations | None] = fluent.log_metric
if _cqueue is not None:
    _queue.bind_compiled(_cqueue)
    if PY_LOG_METRIC is fluent.log_metric:
        C_LOG_METRIC = fluent._compiled_log_metric(PY_LOG_METRIC, _cqueue)

SIZE = 1 << 16
PY_METRIC: Callable[..., RunOperations] = OpQueue.put_metric_at
PY_POINTS: Callable[..., RunOperations] = OpQueue.put_points_at
PY_DICT: Callable[..., RunOperations | None] = OpQueue.put_dict_at


def _c_metric(*args: Any) -> RunOperations:
    assert _cqueue is not None
    return _cqueue.put_metric_at(*args)


def _c_points(*args: Any) -> RunOperations:
    assert _cqueue is not None
    return _cqueue.put_points_at(*args)


def _c_dict(*args: Any) -> RunOperations | None:
    assert _cqueue is not None
    return _cqueue.put_dict_at(*args)


class Side:
    """One queue on its own queue file, with a run and keys interned, as the fluent API holds them."""

    def __init__(self, directory: Path, capacity: int = 1000, policy: str = "block") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.ring = QueueFile(str(directory), SIZE)
        self.queue = OpQueue(capacity, policy, ring=self.ring)
        self.p = self.queue.producer()
        self.run = self.queue.intern("0123456789abcdef0123456789abcdef")
        for key in ("loss", "acc", "lr"):
            self.queue.intern(key)

    def record(self, index: int) -> bytes:
        """The record of the ``index``-th slot handed out (this side's only producer wrote them in order)."""
        at = (index * 64) & self.ring.mask
        return bytes(self.ring.data[at : at + 64])

    def drain(self) -> list[bytes]:
        """What the worker would take, acknowledged at once (room for the next records)."""
        frames = self.queue.take(100_000)
        self.ring.ack(self.ring.taken)
        return frames

    def close(self) -> None:
        self.ring.close(unlink=True)


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[Side, Side]]:
    c, py = Side(tmp_path / "c"), Side(tmp_path / "py")
    yield c, py
    c.close()
    py.close()


def test_the_extension_is_what_the_queue_uses() -> None:
    # Unless the environment asks for Python (the slow test below runs the suite that way).
    if os.environ.get("ASYNCTRACK_NO_EXTENSIONS"):
        assert not _queue.COMPILED and _queue.put_metric_at is OpQueue.put_metric_at
    else:
        assert _queue.COMPILED and _queue.put_metric_at is _cqueue.put_metric_at
        assert fluent._put_metric_at is _cqueue.put_metric_at
        assert _run._put_points_at is _cqueue.put_points_at
        assert _run._put_dict_at is _cqueue.put_dict_at


_floats = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
_timestamps = st.integers(0, INT64_MAX)
_steps = st.integers(INT64_MIN, INT64_MAX)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(value=_floats, ts=_timestamps, step=_steps, key=st.sampled_from(["loss", "acc", "lr"]))
def test_a_metric_record_is_byte_for_byte_the_python_one(
    sides: tuple[Side, Side], value: float, ts: int, step: int, key: str
) -> None:
    c, py = sides
    i = c.p.issued  # both sides have written i records so far
    ops_c = _c_metric(c.queue, c.p, c.run, key, value, ts, step)
    ops_py = PY_METRIC(py.queue, py.p, py.run, key, value, ts, step)
    assert c.record(i) == py.record(i)
    k = c.queue.intern(key)
    assert c.record(i) == METRIC_RECORD.pack(c.p.prefix, i + 1, c.run, k, value, ts, step, i * 64 + 1)
    assert (ops_c._producer, ops_c._first, ops_c._last) == (c.p, i + 1, i + 1)
    assert (ops_py._first, ops_py._last) == (ops_c._first, ops_c._last)
    assert c.p.issued == py.p.issued == i + 1
    assert c.drain() == py.drain()


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(values=st.lists(_floats, min_size=1, max_size=12), ts=_timestamps, step=_steps, as_tuple=st.booleans())
def test_a_call_of_points_is_byte_for_byte_the_python_one(
    sides: tuple[Side, Side], values: list[float], ts: int, step: int, as_tuple: bool
) -> None:
    c, py = sides
    keys = [c.queue.intern(k) for k in ("loss", "acc", "lr")] * 4
    keys = keys[: len(values)]
    i = c.p.issued
    args: tuple[Any, Any] = (tuple(keys), tuple(values)) if as_tuple else (keys, values)
    ops_c = _c_points(c.queue, c.p, c.run, *args, ts, step)
    ops_py = PY_POINTS(py.queue, py.p, py.run, *args, ts, step)
    for j in range(len(values)):
        assert c.record(i + j) == py.record(i + j)
    assert c.record(i) == METRIC_RECORD.pack(
        c.p.prefix, i + 1, c.run, keys[0], values[0], ts, step, i * 64 + 1
    )
    assert (ops_c._first, ops_c._last) == (ops_py._first, ops_py._last) == (i + 1, i + len(values))
    assert c.p.issued == py.p.issued == i + len(values)
    assert c.drain() == py.drain()


_NAMES = ("loss", "acc", "lr")


def _dict_outcome(side: Side, put: Callable[..., RunOperations | None], metrics: Any, step: Any) -> Any:
    """What ``put`` made of a step's dict: declined (None, nothing queued), or the records written with
    their timestamps checked against the clock around the call and then masked, or the error."""
    import time

    i = side.p.issued
    seen = (_NAMES, [side.queue.intern(k) for k in _NAMES])
    before = time.time_ns() // 1_000_000
    try:
        ops = put(side.queue, side.p, side.run, seen, metrics, step)
    except Exception as exc:
        return (type(exc), str(exc))
    after = time.time_ns() // 1_000_000
    if ops is None:
        assert side.p.issued == i  # declined: nothing queued
        return None
    records = []
    for j in range(ops._first - 1, ops._last):
        fields = list(METRIC_RECORD.unpack(side.record(j)))
        assert before <= fields[5] <= after  # the call's own clock reading
        fields[5] = 0
        records.append(METRIC_RECORD.pack(*fields))  # bytes: a NaN compares equal to itself there
    side.drain()
    return ((ops._first, ops._last), records)


_values = st.one_of(
    _floats,
    st.integers(-(2**70), 2**70),  # past float's range at 2**1024 only: these convert
    st.sampled_from([2**1024, True, "1.5", None]),  # past float's range, a bool, a string, None: declined
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    values=st.lists(_values, min_size=3, max_size=3),
    step=st.one_of(_steps, st.sampled_from([INT64_MAX + 1, INT64_MIN - 1, 3.0, True, "3"])),
)
def test_a_steps_dict_is_what_python_makes_of_it(
    sides: tuple[Side, Side], values: list[Any], step: Any
) -> None:
    c, py = sides
    metrics = dict(zip(_NAMES, values, strict=True))
    got_c = _dict_outcome(c, _c_dict, dict(metrics), step)
    got_py = _dict_outcome(py, PY_DICT, dict(metrics), step)
    assert got_c == got_py
    usual = all(type(v) is float or (type(v) is int and abs(v) < 2**1024) for v in values)
    assert (got_c is not None) == (usual and type(step) is int and INT64_MIN <= step <= INT64_MAX)


@pytest.mark.parametrize(
    "metrics",
    [
        {"loss": 1.0, "acc": 2.0},  # a key fewer
        {"loss": 1.0, "acc": 2.0, "lr": 3.0, "epoch": 0},  # a key more
        {"acc": 2.0, "loss": 1.0, "lr": 3.0},  # another order
        {"loss": 1.0, "acc": 2.0, "LR": 3.0},  # another key
        {"loss": 1.0, "acc": 2.0, 7: 3.0},  # a key that is not a str
        {},
    ],
)
def test_a_dict_with_other_keys_is_declined_on_both_paths(
    sides: tuple[Side, Side], metrics: dict[Any, Any]
) -> None:
    c, py = sides
    assert _dict_outcome(c, _c_dict, metrics, 5) is None
    assert _dict_outcome(py, PY_DICT, metrics, 5) is None


def test_a_mapping_that_is_not_a_dict_and_str_subclass_keys_go_to_python(sides: tuple[Side, Side]) -> None:
    from collections import OrderedDict

    class Key(str):
        pass

    c, py = sides
    ordered = OrderedDict((k, 1.0) for k in _NAMES)
    assert _dict_outcome(c, _c_dict, ordered, 5) is None is _dict_outcome(py, PY_DICT, ordered, 5)
    subclassed = {Key(k): 2.0 for k in _NAMES}  # equal to the names: Python's comparison takes it
    got_c, got_py = _dict_outcome(c, _c_dict, subclassed, 5), _dict_outcome(py, PY_DICT, subclassed, 5)
    assert got_c is not None and got_c == got_py


@pytest.mark.parametrize(
    ("key", "value", "ts", "step"),
    [
        ("new_key", 1.5, 5, 6),  # not interned yet: checked, interned, then written
        ("loss", 3, 5, 6),  # an int value: MLflow's check makes it a float
        ("loss", True, 5, 6),  # a bool: the check's answer, whatever it is, on both sides
        ("loss", 1.5, 5, True),
        ("loss", 1.5, 5.0, 6),
        ("loss", 1.5, -1, 6),
        ("loss", 1.5, INT64_MAX + 1, 6),
        ("loss", 1.5, 5, INT64_MIN - 1),
        ("bad key!?*", 1.5, 5, 6),
        ("", 1.5, 5, 6),
        (None, 1.5, 5, 6),
        (["unhashable"], 1.5, 5, 6),
        ("loss", "1.5", 5, 6),
        ("loss", float("nan"), 5, 6),
    ],
)
def test_every_other_case_gets_what_python_gives(
    sides: tuple[Side, Side], key: Any, value: Any, ts: Any, step: Any
) -> None:
    c, py = sides
    outcome: list[Any] = []
    for side, put in ((c, _c_metric), (py, PY_METRIC)):
        try:
            ops = put(side.queue, side.p, side.run, key, value, ts, step)
        except Exception as exc:  # the same type and message on both sides
            outcome.append((type(exc), str(exc), getattr(exc, "error_code", None)))
        else:
            outcome.append(((ops._first, ops._last), side.record(0), side.p.issued))
    assert outcome[0] == outcome[1]


def test_the_wrong_arguments_get_pythons_error(sides: tuple[Side, Side]) -> None:
    c, _ = sides
    with pytest.raises(TypeError) as got_c:
        _c_metric(c.queue, c.p, c.run, "loss", 1.0)
    with pytest.raises(TypeError) as got_py:
        PY_METRIC(c.queue, c.p, c.run, "loss", 1.0)
    assert str(got_c.value) == str(got_py.value)
    assert c.p.issued == 0


@pytest.mark.parametrize(
    ("keys", "values", "ts", "step"),
    [
        (lambda: [0], [1.0, 2.0], 1, 1),  # lengths differ: refused before any slot is taken
        (list, [], 1, 1),
        (lambda: [0], [1], 1, 1),  # an int value: the Python method packs it as a float
        (lambda: [0], [1.0], -1, 1),
        (lambda: [0], [1.0], 1, INT64_MAX + 1),
        (lambda: iter([0]), [1.0], 1, 1),  # not a list or tuple
    ],
)
def test_points_the_compiled_call_does_not_take_go_to_python(
    sides: tuple[Side, Side], keys: Callable[[], Any], values: Any, ts: Any, step: Any
) -> None:
    c, py = sides
    outcome: list[Any] = []
    for side, put in ((c, _c_points), (py, PY_POINTS)):
        try:
            ops = put(side.queue, side.p, side.run, keys(), values, ts, step)
        except Exception as exc:
            outcome.append((type(exc), str(exc), side.ring.head))  # refused before taking a slot
        else:
            outcome.append(((ops._first, ops._last), side.record(0), side.p.issued))
    assert outcome[0] == outcome[1]


def test_an_in_memory_queue_goes_to_python() -> None:
    taken = []
    for put_metric, put_points in ((_c_metric, _c_points), (PY_METRIC, PY_POINTS)):
        q = OpQueue(10)
        run, p = q.intern("r" * 32), q.producer()
        put_metric(q, p, run, "loss", 0.5, 7, 8)
        put_points(q, p, run, [q.intern("loss"), q.intern("acc")], [0.25, 0.75], 7, 9)
        taken.append(q.take(10))
    assert taken[0] == taken[1]
    assert len(taken[0]) == 3


def test_a_full_queue_refuses_the_call_and_its_slots_do_not_block_the_worker(tmp_path: Path) -> None:
    for put, points in ((_c_metric, _c_points), (PY_METRIC, PY_POINTS)):
        side = Side(tmp_path / put.__name__, capacity=3, policy="raise")
        q, p = side.queue, side.p
        for i in range(3):
            put(q, p, side.run, "loss", float(i), 1, i)
        with pytest.raises(QueueFull):
            put(q, p, side.run, "loss", 9.0, 1, 9)
        with pytest.raises(QueueFull):
            points(q, p, side.run, [q.intern("loss"), q.intern("acc")], [1.0, 2.0], 1, 10)
        assert p.issued == 3  # the refused calls took no sequence numbers
        # The worker takes the three records and goes past the refused calls' voided slots.
        frames = side.drain()
        assert sum(map(len, frames)) == 3 * METRIC_FRAME.size
        assert side.ring.taken == side.ring.head == 6 * 64
        ops = put(q, p, side.run, "loss", 4.0, 1, 4)
        assert (ops._first, ops._last) == (4, 4)
        assert sum(map(len, side.drain())) == METRIC_FRAME.size
        side.close()


def test_points_past_the_rings_room_wait_for_it_then_land_in_order(tmp_path: Path) -> None:
    """The ring (64 KiB: 1,022 records before the fast path's bound) fills before the queue's capacity
    does: the points past its room wait in QueueFile.write_metric until the worker acknowledges."""
    got = []
    for put, points in ((_c_metric, _c_points), (PY_METRIC, PY_POINTS)):
        side = Side(tmp_path / put.__name__, capacity=100_000)
        q, p = side.queue, side.p
        for i in range(1020):
            put(q, p, side.run, "loss", float(i), 1, i)
        done = threading.Event()
        late = (q, p, side.run, [q.intern("acc")] * 5, [1020.0, 1021.0, 1022.0, 1023.0, 1024.0], 1, 1020)
        writer = threading.Thread(target=lambda f=points, a=late, e=done: (f(*a), e.set()))
        writer.start()
        assert not done.wait(0.2)  # no room for the last three: waiting for the worker
        frames = side.drain()  # the worker takes what is committed and frees its room
        assert done.wait(30)
        writer.join()
        frames += side.drain()
        values = [
            METRIC_FRAME.unpack_from(f, i)[5] for f in frames for i in range(0, len(f), METRIC_FRAME.size)
        ]
        got.append(values)
        assert p.issued == 1025
        side.close()
    assert got[0] == got[1] == [float(i) for i in range(1025)]


def _parts(ops: RunOperations | None) -> list[tuple[int, int, int]] | None:
    return None if ops is None else [(id(p), first, last) for p, first, last in ops._parts()]


_queue_for_ranges = OpQueue(10)
_producers = [_queue_for_ranges.producer(), Producer(_queue_for_ranges, 99)]
_ranges = st.lists(
    st.one_of(
        st.none(),
        st.tuples(st.sampled_from([0, 0, 0, 1]), st.integers(1, 40), st.integers(0, 3)).map(
            lambda t: RunOperations(_producers[t[0]], t[1], t[1] + t[2])
        ),
        st.just("sum"),  # a combination with a second range (``_rest``): the Python merge's
    ),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(items=_ranges)
def test_combine_gives_what_the_python_merge_gives(items: list[Any]) -> None:
    """The compiled common case of RunOperations.combine (a list of one thread's results in order) covers
    exactly the operations the Python code's combination covers, and hands everything else back."""
    p = _producers[0]
    operations = [RunOperations(p, 1, 2) + RunOperations(p, 9, 9) if x == "sum" else x for x in items]
    compiled = RunOperations.combine(operations)  # a list: the compiled call first
    python = RunOperations.combine(tuple(operations))  # not a list: the Python code alone
    assert _parts(compiled) == _parts(python)


def test_combine_of_an_epoch_in_order_is_one_range_made_by_the_compiled_call() -> None:
    assert _cqueue is not None
    p = _producers[0]
    epoch = [RunOperations(p, i, i) for i in range(1, 1601)] + [None]
    got = _cqueue.combine(epoch)
    assert type(got) is RunOperations and _parts(got) == [(id(p), 1, 1600)]
    assert _cqueue.combine([None, None]) is None
    assert _cqueue.combine([]) is None
    assert _cqueue.combine([RunOperations(p, 1, 1), RunOperations(p, 3, 3)]) is NotImplemented  # a gap
    assert _cqueue.combine([RunOperations(p, 1, 1), object()]) is NotImplemented
    assert _cqueue.combine([RunOperations(p, 1, 1), RunOperations(p, 2**70, 2**70)]) is NotImplemented


class _Interrupted(BaseException):
    """What the test's signal handler raises, as Ctrl-C's KeyboardInterrupt would."""


def test_points_interrupted_while_waiting_for_room_leave_no_hole(tmp_path: Path) -> None:
    """A call of points blocked for the ring's room and interrupted (Ctrl-C in a notebook): the points that
    fit are in, the slots after the interrupted one are given back, so the worker goes past them and what
    is logged next lands; without that, the worker would wait for those slots forever."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are handled in the main thread only")

    def interrupt(signum: int, frame: object) -> None:
        raise _Interrupted

    main = threading.main_thread().ident
    assert main is not None
    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        for put, points in ((_c_metric, _c_points), (PY_METRIC, PY_POINTS)):
            side = Side(tmp_path / put.__name__, capacity=100_000)
            q, p, ring = side.queue, side.p, side.ring
            for i in range(1020):  # the ring holds 1,024 records (the fast path's bound is at 1,022)
                put(q, p, side.run, "loss", float(i), 1, i)
            frames: list[bytes] = []
            stop = threading.Event()

            def worker(side: Side = side, frames: list[bytes] = frames, stop: threading.Event = stop) -> None:
                # Interrupt the caller once it waits for room, then drain as the pipeline's worker does.
                while side.ring._waiting == 0 and not stop.wait(0.005):
                    pass
                signal.pthread_kill(main, signal.SIGUSR1)
                while not stop.wait(0.01):
                    frames.extend(side.drain())

            drainer = threading.Thread(target=worker)
            drainer.start()
            try:
                with pytest.raises(_Interrupted):
                    points(q, p, side.run, [q.intern("acc")] * 8, [1020.0 + i for i in range(8)], 1, 9)
                assert p.issued == 1024  # the four points that fit are in (their numbers stay used), the
                # fifth waited for room, the three after it are given back
                ops = put(q, p, side.run, "loss", 2000.0, 1, 2000)
                assert (ops._first, ops._last) == (1025, 1025)
            finally:
                stop.set()
                drainer.join()
            frames.extend(side.drain())
            values = [
                METRIC_FRAME.unpack_from(f, i)[5] for f in frames for i in range(0, len(f), METRIC_FRAME.size)
            ]
            assert values == [float(i) for i in range(1024)] + [2000.0]
            assert ring.taken == ring.head
            side.close()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_the_shared_fields_are_attributes_on_both_implementations(tmp_path: Path) -> None:
    """The C bases (``_native.py``) and their Python stand-ins answer the same: the slot counter hands out
    consecutive positions and ``head`` follows it; the fields read back what was assigned."""
    assert _cqueue is not None
    for ring_core, queue_core, producer_core in (
        (_cqueue.RingCore, _cqueue.QueueCore, _cqueue.ProducerCore),
        (_native._PyRingCore, _native._PyQueueCore, _native._PyProducerCore),
    ):
        ring = ring_core()
        assert ring.head == 0
        assert ring.reserve() == 0
        assert ring.reserve_many(3) == [64, 128, 192]
        assert ring.reserve_many(0) == []
        assert ring.head == 256
        ring.mask, ring.bound, ring.taken = 65535, 1 << 62, 128
        assert (ring.mask, ring.bound, ring.taken) == (65535, 1 << 62, 128)
        queue = queue_core()
        queue._ring, queue._name_ids, queue._wake_limit, queue._capacity = ring, {"a": 1}, 5, 7
        assert (queue._ring, queue._name_ids, queue._wake_limit, queue._capacity) == (ring, {"a": 1}, 5, 7)
        producer = producer_core()
        producer.issued, producer.prefix = 41, b"x" * 13
        assert (producer.issued, producer.prefix) == (41, b"x" * 13)
    with pytest.raises(TypeError):
        _cqueue.RingCore().bound = 1.5  # an int field takes ints only
    with pytest.raises(ValueError):
        _cqueue.RingCore().reserve_many(-1)
    # The queue file holds its bytes for the compiled calls until it is closed, and then lets them go,
    # so that the file can be unmapped.
    side = Side(tmp_path / "q")
    data = side.ring.data
    side.close()
    with pytest.raises(ValueError):
        data[0]  # released: nothing held it


def test_a_closed_queue_refuses_the_call_as_python_does(tmp_path: Path) -> None:
    errors = []
    for put in (_c_metric, PY_METRIC):
        side = Side(tmp_path / put.__name__)
        side.queue.close("test")
        side.ring.close(unlink=True)
        with pytest.raises(MlflowException) as got:
            put(side.queue, side.p, side.run, "loss", 1.0, 1, 1)
        errors.append((type(got.value), got.value.error_code, str(got.value)))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_fluent_calls_read_back_on_either_path(
    tmp_tracking: str, monkeypatch: pytest.MonkeyPatch, compiled: bool
) -> None:
    log_metric = C_LOG_METRIC
    if not compiled:
        log_metric = PY_LOG_METRIC
        monkeypatch.setattr(fluent, "_put_metric_at", PY_METRIC)
        monkeypatch.setattr(_queue, "put_points_at", PY_POINTS)
    with mlflow.start_run() as run:
        for step in range(200):
            log_metric("loss", 1.0 / (step + 1), step=step, synchronous=False)
            mlflow.log_metrics({"acc": step / 200, "lr": 1e-3}, step=step, synchronous=False)
        log_metric("nan", math.nan, 0, False, 1234)
        log_metric(key="first", value=2.5, synchronous=False)  # step 0, the time now
    client = mlflow.MlflowClient()
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(200)]
    acc = client.get_metric_history(run.info.run_id, "acc")
    assert [m.value for m in acc] == [s / 200 for s in range(200)]
    assert len(client.get_metric_history(run.info.run_id, "lr")) == 200
    (nan,) = client.get_metric_history(run.info.run_id, "nan")
    assert math.isnan(nan.value) and nan.timestamp == 1234
    (first,) = client.get_metric_history(run.info.run_id, "first")
    assert first.step == 0 and first.value == 2.5
    assert abs(first.timestamp - history[-1].timestamp) < 60_000


def test_the_compiled_log_metric_is_the_python_function_to_help_and_inspect() -> None:
    assert fluent.log_metric is mlflow.log_metric
    if not os.environ.get("ASYNCTRACK_NO_EXTENSIONS"):
        assert fluent.log_metric is C_LOG_METRIC and C_LOG_METRIC.__wrapped__ is PY_LOG_METRIC  # type: ignore[attr-defined]
    assert inspect.signature(C_LOG_METRIC) == inspect.signature(PY_LOG_METRIC)
    assert (C_LOG_METRIC.__name__, C_LOG_METRIC.__module__) == ("log_metric", "asynctrack.fluent")
    assert C_LOG_METRIC.__doc__ == PY_LOG_METRIC.__doc__
    assert "Log one metric point" in (PY_LOG_METRIC.__doc__ or "")


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        ops = call()
    except Exception as exc:
        # MLflow's messages name the point's timestamp, the time of each call when none is given.
        message = re.sub(r"timestamp=\d+", "timestamp=<now>", str(exc))
        return (type(exc), message, getattr(exc, "error_code", None))
    return type(ops)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("loss",), {}),  # no value
        (("loss", 1.0), {"stepp": 3}),  # an unknown keyword
        (("loss", 1.0, 3), {"step": 3}),  # given twice
        (("loss", 1.0, 1, False, 1, None, None, None, "extra"), {}),  # too many
        (("bad key!?*", 1.0), {"synchronous": False}),
        (("loss", "x"), {"synchronous": False}),
        (("loss", 1.0), {"step": 1.5, "synchronous": False}),
        (("loss", 1.0), {"timestamp": -5, "synchronous": False}),
        (("loss", 1.0), {"run_id": "not a run", "synchronous": False}),
        (("loss", 1.0), {"synchronous": True}),
        (("loss", 1.0), {"step": 2, "synchronous": False}),
        (("loss", 1.0), {"synchronous": False}),
        ((), {"key": "loss", "value": 1.0, "synchronous": 0}),
    ],
)
def test_the_compiled_log_metric_answers_as_python_does(
    tmp_tracking: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with mlflow.start_run():
        got = [_outcome(lambda f=f: f(*args, **kwargs)) for f in (C_LOG_METRIC, PY_LOG_METRIC)]
    assert got[0] == got[1]


def test_the_compiled_log_metric_follows_the_async_switch_and_an_active_model(
    tmp_tracking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asynctrack import config

    with mlflow.start_run() as run:
        monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
        assert C_LOG_METRIC("a", 1.0) is None  # synchronous: written when it returns
        monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
        ops = C_LOG_METRIC("a", 2.0, step=1)
        assert isinstance(ops, RunOperations)
        ops.wait()
        config.enable_async_logging(False)
        try:
            assert C_LOG_METRIC("a", 3.0, step=2) is None
        finally:
            config._async_override = None
        with mlflow.set_active_model(name="m") as model:  # this thread's, until the block ends
            C_LOG_METRIC("b", 1.5, step=3, synchronous=False)  # linked to the active model (Python path)
        mlflow.flush_async_logging()
    client = mlflow.MlflowClient()
    assert [m.value for m in client.get_metric_history(run.info.run_id, "a")] == [1.0, 2.0, 3.0]
    linked = client.get_logged_model(model.model_id).metrics or []
    assert [(x.key, x.value, x.step) for x in linked] == [("b", 1.5, 3)]


def test_the_compiled_log_metric_follows_each_threads_active_run(tmp_tracking: str) -> None:
    """The compiled log_metric keeps the last calling thread's active run: runs nested, ended and started
    again, and two threads taking turns (each turn a different thread than the last), each point lands in
    the run active in its own thread when it was logged."""
    client = mlflow.MlflowClient()
    turn = [threading.Event(), threading.Event()]
    logged: dict[str, list[float]] = {}

    def other() -> None:
        with mlflow.start_run() as run:
            for i in range(20):
                turn[1].wait(30)
                turn[1].clear()
                C_LOG_METRIC("t", float(i), step=i, synchronous=False)
                turn[0].set()
            mlflow.flush_async_logging()
        logged["other"] = [m.value for m in client.get_metric_history(run.info.run_id, "t")]

    thread = threading.Thread(target=other)
    thread.start()
    with mlflow.start_run() as outer:
        for i in range(20):
            C_LOG_METRIC("t", 100.0 + i, step=i, synchronous=False)
            turn[1].set()
            assert turn[0].wait(30)
            turn[0].clear()
        with mlflow.start_run(nested=True) as inner:
            C_LOG_METRIC("t", 1.0, synchronous=False)
        C_LOG_METRIC("t", 200.0, step=20, synchronous=False)
    with mlflow.start_run() as later:
        C_LOG_METRIC("t", 2.0, synchronous=False)
    thread.join(60)
    mlflow.flush_async_logging()
    history = {
        r.info.run_id: [m.value for m in client.get_metric_history(r.info.run_id, "t")]
        for r in (outer, inner, later)
    }
    assert history[outer.info.run_id] == [100.0 + i for i in range(20)] + [200.0]
    assert history[inner.info.run_id] == [1.0]
    assert history[later.info.run_id] == [2.0]
    assert logged["other"] == [float(i) for i in range(20)]


@pytest.mark.slow
def test_the_pipeline_suite_passes_on_the_python_path() -> None:
    """The quick part of tests/pipeline/ again with ``ASYNCTRACK_NO_EXTENSIONS=1``, so the reference
    (what a machine without a compiler runs) stays tested too."""
    here = Path(__file__).parent
    env = dict(os.environ, ASYNCTRACK_NO_EXTENSIONS="1")
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", "-p", "no:xdist",
         str(here)],
        cwd=here.parent.parent, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
