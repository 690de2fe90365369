"""Dataset schemas and profiles as MLflow writes them: a tensor spec for numpy data, a column spec for a
DataFrame (None where MLflow cannot infer one, e.g. a column of mixed objects)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["numpy_profile", "numpy_schema", "pandas_profile", "pandas_schema"]

Arrays = npt.NDArray[Any] | Mapping[str, npt.NDArray[Any]]


def _tensor_dtype(dtype: np.dtype[Any]) -> str:
    if dtype.kind == "U":
        return "str"
    if dtype.kind == "S":
        return "bytes"
    return str(dtype.name)


def _tensor_specs(data: Arrays) -> str:
    def spec(array: npt.NDArray[Any], name: str | None) -> dict[str, Any]:
        array = np.asarray(array)
        out: dict[str, Any] = {} if name is None else {"name": name}
        out["type"] = "tensor"
        out["tensor-spec"] = {"dtype": _tensor_dtype(array.dtype), "shape": [-1, *array.shape[1:]]}
        return out

    if isinstance(data, Mapping):
        return json.dumps([spec(v, k) for k, v in data.items()])
    return json.dumps([spec(data, None)])


def numpy_schema(features: Arrays, targets: Arrays | None) -> str:
    return json.dumps(
        {
            "mlflow_tensorspec": {
                "features": _tensor_specs(features),
                "targets": None if targets is None else _tensor_specs(targets),
            }
        }
    )


def numpy_profile(features: Arrays, targets: Arrays | None) -> str:
    def attr(data: Arrays, name: str) -> Any:
        if isinstance(data, Mapping):
            return {k: _value(getattr(np.asarray(v), name)) for k, v in data.items()}
        return _value(getattr(np.asarray(data), name))

    profile = {
        "features_shape": attr(features, "shape"),
        "features_size": attr(features, "size"),
        "features_nbytes": attr(features, "nbytes"),
    }
    if targets is not None:
        profile.update(
            {
                "targets_shape": attr(targets, "shape"),
                "targets_size": attr(targets, "size"),
                "targets_nbytes": attr(targets, "nbytes"),
            }
        )
    return json.dumps(profile)


def _value(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else int(v)


_INTEGER = {"int8", "int16", "int32", "uint8", "uint16"}


def _column_type(series: Any) -> str | None:
    dtype = series.dtype
    name = str(dtype)
    if name in _INTEGER:
        return "integer"
    if name in ("int64", "uint32", "Int64"):
        return "long"
    if name in ("float16", "float32"):
        return "float"
    if name == "float64":
        return "double"
    if name in ("bool", "boolean"):
        return "boolean"
    if name.startswith("datetime64"):
        return "datetime"
    if name in ("string", "str") or name.startswith("string"):
        return "string"
    if dtype.kind == "O":
        kinds = {type(v) for v in series.dropna()}
        if kinds == {str}:
            return "string"
        if kinds == {bytes}:
            return "binary"
    return None


def pandas_schema(df: Any) -> str | None:
    cols = []
    for name in df.columns:
        kind = _column_type(df[name])
        if kind is None:
            return None
        cols.append({"type": kind, "name": str(name), "required": not bool(df[name].isna().any())})
    return json.dumps({"mlflow_colspec": cols})


def pandas_profile(df: Any) -> str:
    return json.dumps({"num_rows": len(df), "num_elements": int(df.size)})
