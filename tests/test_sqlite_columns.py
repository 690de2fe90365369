"""The compact integer-column encodings of metric chunks round-trip exactly and pick the short form."""

from __future__ import annotations

import numpy as np
import pytest

from asynctrack.store.sqlite._columns import decode_ints, encode_ints

INT64 = np.iinfo(np.int64)


@pytest.mark.parametrize(
    ("values", "form", "size"),
    [
        (np.array([], np.int64), b"R", 1),
        (np.array([7], np.int64), b"C", 9),
        (np.full(1000, 1_700_000_000_000, np.int64), b"C", 9),
        (np.arange(5, 5 + 3 * 1000, 3, dtype=np.int64), b"A", 17),
        (np.arange(1000, 0, -1, dtype=np.int64), b"A", 17),
        (np.array([0, 1, 3], np.int64), b"R", 25),
        (np.array([INT64.min, INT64.max], np.int64), b"R", 17),  # stride overflows int64
        (np.array([INT64.max, INT64.min, 0], np.int64), b"R", 25),
    ],
)
def test_round_trip_and_form(values: np.ndarray, form: bytes, size: int) -> None:
    """Each array decodes to itself; constants and progressions take 9 or 17 bytes, others 8 per value."""
    blob = encode_ints(values)
    assert blob[:1] == form and len(blob) == size
    assert np.array_equal(decode_ints(blob, len(values)), values)


def test_random_arrays_round_trip() -> None:
    """Random int64 arrays of many lengths round-trip exactly."""
    rng = np.random.default_rng(3)
    for n in (2, 3, 17, 4096):
        values = rng.integers(INT64.min, INT64.max, size=n, dtype=np.int64)
        assert np.array_equal(decode_ints(encode_ints(values), n), values)


def test_unknown_form_is_an_error() -> None:
    """A blob with an unknown leading byte is rejected, not misread."""
    with pytest.raises(ValueError, match="unknown integer column encoding"):
        decode_ints(b"Zxxxxxxxx", 1)
