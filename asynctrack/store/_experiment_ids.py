"""The stores' experiment-id parser: MLflow's experiment ids are decimal strings of a 64-bit integer, which
both stores keep as an integer column (SQLite's INTEGER, PostgreSQL's BIGINT)."""

from __future__ import annotations

from asynctrack._int64 import INT64_MAX, INT64_MIN
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["experiment_key"]


def experiment_key(experiment_id: str) -> int:
    """The integer the tables hold; INVALID_PARAMETER_VALUE for anything else, a number past 64-bit
    integers included (binding it would raise OverflowError), as the search filter's ids do."""
    try:
        key = int(experiment_id)
    except (TypeError, ValueError):
        key = None
    if key is None or not INT64_MIN <= key <= INT64_MAX:
        raise MlflowException(
            f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return key
