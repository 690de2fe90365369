"""Runs as a pandas DataFrame, in MLflow's ``search_runs`` layout: used by ``search_runs`` and by
``load_table``'s ``extra_columns``. pandas is optional and imported when used."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asynctrack.entities import Run
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["runs_to_dataframe"]


def runs_to_dataframe(runs: Sequence[Run]) -> Any:
    """MLflow's search_runs DataFrame: run_id, experiment_id, status, artifact_uri, start_time and
    end_time (UTC timestamps), then ``metrics.*`` (NaN when missing), ``params.*`` and ``tags.*``
    (None when missing)."""
    try:  # an optional dependency, imported when used
        import numpy as np
        import pandas as pd
    except ImportError:
        raise MlflowException(
            "search_runs(output_format='pandas') needs pandas: pip install 'asynctrack[pandas]', or pass "
            "output_format='list'",
            error_code=INVALID_PARAMETER_VALUE,
        ) from None
    data: dict[str, list[Any]] = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "status": [r.info.status for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
        "start_time": [pd.to_datetime(r.info.start_time, unit="ms", utc=True) for r in runs],
        "end_time": [pd.to_datetime(r.info.end_time, unit="ms", utc=True) for r in runs],
    }
    for prefix, attr, missing in (
        ("metrics.", "metrics", np.nan),
        ("params.", "params", None),
        ("tags.", "tags", None),
    ):
        keys: dict[str, None] = {}
        for r in runs:
            keys.update(dict.fromkeys(getattr(r.data, attr)))
        for key in keys:
            data[prefix + key] = [getattr(r.data, attr).get(key, missing) for r in runs]
    return pd.DataFrame(data)
