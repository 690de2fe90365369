"""Dataset digests exactly as MLflow computes them (``mlflow/data/digest_utils.py``'s rules): the first 8
hex digits of an MD5 over the data's 64-bit element hashes (pandas' ``hash_array`` /
``hash_pandas_object``, of at most the first 10,000 elements or rows) and the data's dimensions.

pandas is optional: with it installed the hashes come from pandas itself (as in MLflow, so the digest
follows the installed pandas); without it numeric and boolean arrays are hashed here by the same rule as
current pandas (reinterpret as unsigned 64-bit, canonical NaN and zero for floats, then the splitmix64
finaliser). Strings and objects need pandas.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["MAX_ROWS", "numpy_digest", "pandas_digest"]

MAX_ROWS = 10_000


def _pandas() -> Any | None:
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _hash_numeric(values: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """pandas' ``hash_array`` for bool and numeric arrays of at most 8-byte items."""
    dtype = values.dtype
    if dtype == np.bool_:
        u = values.astype(np.uint64)
    elif issubclass(dtype.type, (np.datetime64, np.timedelta64)):
        u = values.view(np.int64).astype(np.uint64)
    elif issubclass(dtype.type, np.number) and dtype.itemsize <= 8 and not np.iscomplexobj(values):
        unsigned = np.dtype(f"u{dtype.itemsize}")
        u = values.view(unsigned).astype(np.uint64)
        if issubclass(dtype.type, np.floating):
            u[np.isnan(values)] = np.array(np.nan, dtype=dtype).view(unsigned)
            u[u == np.array(-0.0, dtype=dtype).view(unsigned)] = 0
    else:
        raise MlflowException(
            f"Computing the digest of a {dtype} array needs pandas (pip install 'asynctrack[pandas]'), as "
            "MLflow hashes such arrays with pandas; or pass digest= yourself.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    with np.errstate(over="ignore"):
        u ^= u >> np.uint64(30)
        u *= np.uint64(0xBF58476D1CE4E5B9)
        u ^= u >> np.uint64(27)
        u *= np.uint64(0x94D049BB133111EB)
        u ^= u >> np.uint64(31)
    return u


def _md5_8(elements: list[Any]) -> str:
    if not elements:
        raise MlflowException(
            "No hashable elements were provided for md5 digest creation", INVALID_PARAMETER_VALUE
        )
    md5 = hashlib.md5(usedforsecurity=False)
    for element in elements:
        md5.update(element)
    return md5.hexdigest()[:8]


def numpy_digest(
    features: npt.NDArray[Any] | Mapping[str, npt.NDArray[Any]],
    targets: npt.NDArray[Any] | Mapping[str, npt.NDArray[Any]] | None = None,
) -> str:
    """MLflow's ``compute_numpy_digest``: each array (a dict's in key order) flattened and cut to its first
    10,000 elements, hashed, followed by its dimensions as int64."""
    pd = _pandas()
    elements: list[Any] = []

    def add(array: npt.NDArray[Any]) -> None:
        array = np.asarray(array)
        trimmed = array.flatten()[:MAX_ROWS]
        if pd is not None:
            try:
                elements.append(pd.util.hash_array(trimmed))
            except TypeError:
                elements.append(np.int64(trimmed.size))
        else:
            elements.append(_hash_numeric(trimmed))
        elements.extend(np.int64(x) for x in array.shape)

    for item in (features, targets):
        if item is None:
            continue
        if isinstance(item, Mapping):
            for key in sorted(item):
                add(item[key])
        else:
            add(item)
    return _md5_8(elements)


def pandas_digest(df: Any) -> str:
    """MLflow's ``compute_pandas_digest``: the row hashes of the first 10,000 rows' string and numeric
    columns, the row count, and every column name."""
    pd = _pandas()
    assert pd is not None  # a DataFrame implies pandas
    trimmed = df.head(MAX_ROWS)
    mapper = df.map if hasattr(df, "map") else df.applymap
    exactly_str = mapper(type) == str  # noqa: E721 - MLflow's rule: cells whose type is exactly str
    string_columns = trimmed.columns[exactly_str.all(0)]
    numeric_columns = trimmed.select_dtypes(include=[np.number]).columns
    trimmed = trimmed[string_columns.union(numeric_columns)]
    return _md5_8(
        [pd.util.hash_pandas_object(trimmed).values, np.int64(len(df))]
        + [str(c).encode() for c in df.columns]
    )
