"""The compiled chunk pass (store/sqlite/_cchunks.c) against its reference, the numpy code of _summaries.

``chunk_parts`` must give the blobs ``encode_ints`` and ``tobytes`` give, byte for byte, and the summary row
``summary_row`` gives, record for record (a min or max of 0.0 and -0.0 may keep the other zero: nothing
reads the sign of a chart's bound). Where the extension is not built these tests skip, except in CI
(``ASYNCTRACK_TEST_REQUIRE_EXTENSIONS=1``), where a missing extension fails.
"""

from __future__ import annotations

import math
import os
import struct
from typing import Any

import numpy as np
import pytest
from extensions import built
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from asynctrack._int64 import INT64_MAX, INT64_MIN
from asynctrack.store.sqlite import _summaries
from asynctrack.store.sqlite._columns import encode_ints

_cchunks = built("asynctrack.store.sqlite._cchunks")
pytestmark = pytest.mark.skipif(_cchunks is None, reason="the compiled extension is not built here")

_RECORD = struct.Struct("<dddqqqqIIII")


def _reference(steps: Any, values: Any, stamps: Any) -> tuple[Any, ...]:
    st_blob, ts_blob = encode_ints(steps), encode_ints(stamps)
    vals_blob = np.ascontiguousarray(values, "<f8").tobytes()
    row = _summaries.summary_row(0, 0, "k", steps, values, stamps, (st_blob, ts_blob))
    return (st_blob, vals_blob, ts_blob, *row[4:])


def _records(blob: bytes | None) -> list[tuple[Any, ...]] | None:
    if blob is None:
        return None
    return [
        tuple("nan" if isinstance(x, float) and math.isnan(x) else x for x in r)
        for r in _RECORD.iter_unpack(blob)
    ]


def _same(got: tuple[Any, ...] | None, want: tuple[Any, ...]) -> None:
    assert got is not None
    assert got[:8] == want[:8]  # the three blobs, the four bounds, the flags
    for g, w in zip(got[8:], want[8:], strict=True):  # the summary, the groups, the blocks
        assert _records(g) == _records(w)


_ints = st.integers(INT64_MIN, INT64_MAX)


@st.composite
def _int_column(draw: st.DrawFn, n: int) -> Any:
    kind = draw(st.sampled_from(["constant", "progression", "random", "sorted", "edge"]))
    if kind == "constant":
        return np.full(n, draw(_ints), dtype=np.int64)
    if kind == "progression":  # wraps around int64 as numpy's arithmetic does
        first, stride = draw(_ints), draw(st.integers(-(2**40), 2**40))
        with np.errstate(over="ignore"):
            return (np.int64(first) + np.int64(stride) * np.arange(n, dtype=np.int64)).astype(np.int64)
    if kind == "edge":  # strides that do not fit int64
        return np.array([INT64_MIN, INT64_MAX] * ((n + 1) // 2), dtype=np.int64)[:n]
    column = draw(hnp.arrays(np.int64, n, elements=_ints))
    return np.sort(column) if kind == "sorted" else column


_floats = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(), n=st.one_of(st.integers(1, 200), st.sampled_from([64, 65, 1023, 1024, 1025, 2049, 3000]))
)
def test_chunk_parts_give_the_numpy_rows(data: st.DataObject, n: int) -> None:
    steps = data.draw(_int_column(n))
    stamps = data.draw(_int_column(n))
    values = data.draw(hnp.arrays(np.float64, n, elements=_floats))
    assert _cchunks is not None
    _same(_cchunks.chunk_parts(steps, values, stamps), _reference(steps, values, stamps))


def test_strided_views_and_large_chunks_give_the_numpy_rows() -> None:
    assert _cchunks is not None
    rng = np.random.default_rng(7)
    rows = np.zeros(70_000, dtype=[("step", "<i8"), ("value", "<f8"), ("ts", "<i8")])
    rows["step"] = np.arange(70_000) * 3
    rows["value"] = rng.normal(size=70_000)
    rows["value"][::977] = np.nan
    rows["ts"] = 1_700_000_000_000 + rng.integers(0, 5, size=70_000).cumsum()
    for n in (70_000, 20_000, 100):  # past the size where the passes let the GIL go, and under it
        steps, values, stamps = rows["step"][:n], rows["value"][:n], rows["ts"][:n]
        _same(_cchunks.chunk_parts(steps, values, stamps), _reference(steps, values, stamps))
    every_other = np.arange(20, dtype=np.float64)[::2]
    ints = np.arange(10, dtype=np.int64)
    _same(
        _cchunks.chunk_parts(ints, every_other, ints[::-1].copy()), _reference(ints, every_other, ints[::-1])
    )


def test_what_it_does_not_take_is_none() -> None:
    assert _cchunks is not None
    ints, floats = np.arange(5, dtype=np.int64), np.ones(5)
    assert _cchunks.chunk_parts(ints, floats, ints.astype(np.int32)) is None  # another width
    assert _cchunks.chunk_parts(ints, ints, ints) is None  # values that are not float64
    assert _cchunks.chunk_parts(ints, floats.astype(">f8"), ints) is None  # another byte order
    assert _cchunks.chunk_parts(ints, floats[:4], ints) is None  # other lengths
    assert _cchunks.chunk_parts(ints[:0], floats[:0], ints[:0]) is None  # no point
    assert _cchunks.chunk_parts(ints.reshape(1, 5), floats, ints) is None  # not one-dimensional
    assert _cchunks.chunk_parts([1, 2], [1.0, 2.0], [1, 2]) is None  # not arrays
    with pytest.raises(TypeError):
        _cchunks.chunk_parts(ints, floats)  # type: ignore[call-arg]


def test_the_store_writes_through_it_and_reads_back(tmp_path: Any) -> None:
    """A series written through the compiled pass reads back point for point, and its chart summaries
    are the ones the numpy code makes."""
    import asynctrack as mlflow
    from asynctrack import MlflowClient

    assert _summaries._chunk_parts is not None or os.environ.get("ASYNCTRACK_NO_EXTENSIONS")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/c.db")
    client = MlflowClient()
    run = client.create_run("0")
    values = np.linspace(-1.0, 1.0, 3000)
    values[17] = np.nan
    client.log_metric_array(run.info.run_id, "m", values, steps=np.arange(3000) * 2)
    steps, got, _ts = client.get_metric_history_arrays(run.info.run_id, "m")
    assert steps.tolist() == list(range(0, 6000, 2))
    assert np.array_equal(got, values, equal_nan=True)
