"""Datasets for ``log_input``, as ``mlflow.data``: :func:`from_numpy` and :func:`from_pandas` give MLflow's
dataset fields (name, digest computed as MLflow computes it, source type and source, schema, profile)."""

from __future__ import annotations

from asynctrack.data._datasets import (
    Dataset,
    DatasetSource,
    NumpyDataset,
    PandasDataset,
    from_numpy,
    from_pandas,
)

__all__ = ["Dataset", "DatasetSource", "NumpyDataset", "PandasDataset", "from_numpy", "from_pandas"]
