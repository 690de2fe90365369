"""The two ways a chunk's summary is computed (plain Python for a few points, numpy otherwise) agree."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from asynctrack.store.sqlite._summaries import SUMMARY, small_summary_row, summary_row

floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64), st.sampled_from([0.0, -1.0, 1e300])
)
small_ints = st.integers(-(2**40), 2**40)


@given(
    values=st.lists(floats, min_size=1, max_size=16),
    data=st.data(),
)
def test_small_and_numpy_summaries_agree(values: list[float], data: st.DataObject) -> None:
    n = len(values)
    steps = data.draw(st.lists(small_ints, min_size=n, max_size=n))
    stamps = data.draw(st.lists(small_ints, min_size=n, max_size=n))
    small = small_summary_row(1, 2, "k", steps, values, stamps)
    big = summary_row(1, 2, "k", np.array(steps, np.int64), np.array(values), np.array(stamps, np.int64))
    assert small[:9] == big[:9]  # ids, n, ranges, order flags
    a, b = np.frombuffer(small[9], SUMMARY)[0], np.frombuffer(big[9], SUMMARY)[0]  # type: ignore[arg-type]
    for field in SUMMARY.names or ():
        x, y = a[field], b[field]
        assert x == y or (math.isnan(float(x)) and math.isnan(float(y))), (field, x, y)
