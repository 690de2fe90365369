"""``asynctrack.data.from_numpy`` / ``from_pandas``: datasets with MLflow's fields, for ``log_input``.

A dataset's ``to_dict()`` is MLflow's: ``name`` (default ``"dataset"``), ``digest`` (``_digest.py``),
``source_type`` and ``source`` (JSON), ``schema`` and ``profile`` (JSON, ``_schema.py``). The source is
where the data came from: a local path or ``file:`` URI (``local``, ``{"uri": ...}``), an ``http(s)`` URL
(``http``, ``{"url": ...}``), an object-store URI such as ``s3://`` or ``gs://`` (its scheme, ``{"uri":
...}``), or, when not given, the code that built it (``code``, ``{"tags": <the run context tags>}``), as
MLflow resolves them.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

import numpy.typing as npt

from asynctrack._context import context_tags
from asynctrack.data import _digest, _schema
from asynctrack.entities import Dataset as DatasetEntity
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "Dataset",
    "DatasetSource",
    "NumpyDataset",
    "PandasDataset",
    "from_numpy",
    "from_pandas",
    "to_entity",
]


class DatasetSource:
    """Where a dataset came from: MLflow's ``source_type`` and the JSON ``source``."""

    def __init__(self, source_type: str, config: Mapping[str, Any]) -> None:
        self.source_type = source_type
        self.config = dict(config)

    def to_json(self) -> str:
        return json.dumps(self.config)

    @classmethod
    def resolve(cls, source: str | os.PathLike[str] | DatasetSource | None) -> DatasetSource:
        if isinstance(source, DatasetSource):
            return source
        if source is None:
            return cls("code", {"tags": context_tags()})
        text = os.fspath(source)
        scheme = urllib.parse.urlsplit(text).scheme.lower()
        if scheme in ("http", "https"):
            return cls("http", {"url": text})
        if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
            return cls("local", {"uri": text})
        if scheme.isidentifier() or scheme.replace("-", "").isalnum():
            return cls(scheme, {"uri": text})
        raise MlflowException(
            f"Invalid dataset source {text[:200]!r}: give a local path, a URI, or a DatasetSource",
            error_code=INVALID_PARAMETER_VALUE,
        )


class Dataset:
    """A dataset for ``log_input``: ``name``, ``digest``, ``source``, ``schema``, ``profile``."""

    def __init__(self, source: DatasetSource, name: str | None, digest: str) -> None:
        self.source = source
        self.name = name or "dataset"
        self.digest = digest

    @property
    def schema(self) -> str | None:
        return None

    @property
    def profile(self) -> str | None:
        return None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "digest": self.digest,
            "source": self.source.to_json(),
            "source_type": self.source.source_type,
            "schema": self.schema,
            "profile": self.profile,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def _to_mlflow_entity(self) -> DatasetEntity:
        return DatasetEntity(
            self.name, self.digest, self.source.source_type, self.source.to_json(), self.schema, self.profile
        )


Arrays = npt.NDArray[Any] | Mapping[str, npt.NDArray[Any]]


class NumpyDataset(Dataset):
    def __init__(
        self,
        features: Arrays,
        source: DatasetSource,
        targets: Arrays | None = None,
        name: str | None = None,
        digest: str | None = None,
    ) -> None:
        self.features = features
        self.targets = targets
        super().__init__(source, name, digest or _digest.numpy_digest(features, targets))

    @property
    def schema(self) -> str | None:
        return _schema.numpy_schema(self.features, self.targets)

    @property
    def profile(self) -> str | None:
        return _schema.numpy_profile(self.features, self.targets)


class PandasDataset(Dataset):
    def __init__(
        self,
        df: Any,
        source: DatasetSource,
        targets: str | None = None,
        name: str | None = None,
        digest: str | None = None,
        predictions: str | None = None,
    ) -> None:
        for column, what in ((targets, "targets"), (predictions, "predictions")):
            if column is not None and column not in df.columns:
                raise MlflowException(
                    f"The specified pandas DataFrame does not contain the specified {what} column "
                    f"'{column}'.",
                    error_code=INVALID_PARAMETER_VALUE,
                )
        self.df = df
        self.targets = targets
        self.predictions = predictions
        super().__init__(source, name, digest or _digest.pandas_digest(df))

    @property
    def schema(self) -> str | None:
        return _schema.pandas_schema(self.df)

    @property
    def profile(self) -> str | None:
        return _schema.pandas_profile(self.df)


def from_numpy(
    features: Arrays,
    source: str | os.PathLike[str] | DatasetSource | None = None,
    targets: Arrays | None = None,
    name: str | None = None,
    digest: str | None = None,
) -> NumpyDataset:
    """A dataset of numpy ``features`` (an array or a dict of named arrays) and optional ``targets``."""
    return NumpyDataset(features, DatasetSource.resolve(source), targets, name, digest)


def from_pandas(
    df: Any,
    source: str | os.PathLike[str] | DatasetSource | None = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> PandasDataset:
    """A dataset of a pandas DataFrame (pandas is an optional extra: ``asynctrack[pandas]``)."""
    try:
        import pandas as pd
    except ImportError:
        raise MlflowException(
            "from_pandas needs pandas: pip install 'asynctrack[pandas]'", error_code=INVALID_PARAMETER_VALUE
        ) from None
    if not isinstance(df, pd.DataFrame):
        raise MlflowException(
            f"from_pandas takes a pandas DataFrame, got {type(df).__name__}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return PandasDataset(df, DatasetSource.resolve(source), targets, name, digest, predictions)


def to_entity(dataset: Any) -> DatasetEntity:
    """A ``Dataset`` entity from what ``log_input`` was given: an entity, one of our datasets, or any object
    with MLflow's ``to_dict()`` (an official ``mlflow.data`` dataset too)."""
    if isinstance(dataset, DatasetEntity):
        return dataset
    to_dict = getattr(dataset, "to_dict", None)
    if not callable(to_dict):
        raise MlflowException(
            f"log_input takes a dataset (asynctrack.data.from_numpy / from_pandas, or a Dataset entity), got "
            f"{type(dataset).__name__}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    d = to_dict()
    return DatasetEntity(
        d["name"], d["digest"], d["source_type"], d["source"], d.get("schema"), d.get("profile")
    )
