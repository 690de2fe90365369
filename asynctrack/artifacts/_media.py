"""Turning in-memory objects into artifact bytes exactly as MLflow 3 writes them: text, dicts (JSON or
YAML), images (numpy arrays, PIL images), figures (matplotlib, plotly) and tables (pandas, dicts).

Rendering that must happen on the caller's thread (matplotlib and plotly are not thread-safe) happens in
the call; image encoding, which is pure CPU work on an object copied at the call, may run later on an
artifact I/O thread.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import uuid
import warnings
from typing import Any

import numpy as np

from asynctrack.artifacts._optional import require
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "COMPRESSED_IMAGE_SIZE",
    "check_image_key",
    "check_table_file",
    "compress_image",
    "dict_bytes",
    "encode_image",
    "image_key_paths",
    "image_nbytes",
    "read_table",
    "render_figure",
    "table_bytes",
    "table_frame",
    "to_pil_image",
]

COMPRESSED_IMAGE_SIZE = 256


def dict_bytes(dictionary: Any, artifact_file: str) -> bytes:
    """MLflow's ``log_dict`` file: YAML (PyYAML, sorted keys) for ``.yml``/``.yaml``, else indented JSON with
    unserialisable values stringified."""
    if os.path.splitext(artifact_file)[1] in (".yml", ".yaml"):
        yaml = require("yaml", "log_dict with a YAML file name")
        text: str = yaml.dump(dictionary, indent=2, default_flow_style=False)
        return text.encode("utf-8")
    return json.dumps(dictionary, indent=2, default=str).encode("utf-8")


# -- images


def _normalize_to_uint8(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    is_int = np.issubdtype(x.dtype, np.integer)
    low, high = 0, (255 if is_int else 1)
    if x.min() < low or x.max() > high:
        if is_int:
            raise ValueError(
                "Integer pixel values out of acceptable range [0, 255]. "
                f"Found minimum value {x.min()} and maximum value {x.max()}. "
                "Ensure all pixel values are within the specified range."
            )
        warnings.warn(
            "Float pixel values out of acceptable range [0.0, 1.0]. "
            f"Found minimum value {x.min()} and maximum value {x.max()}. "
            "Rescaling values to [0.0, 1.0] with min/max scaler.",
            stacklevel=4,
        )
        x = (x - x.min()) / (x.max() - x.min())
    if not is_int:
        x = x * 255
    return x.astype(np.uint8)


def to_pil_image(image: Any, *, copy: bool = False) -> Any:
    """A PIL image from a numpy array (MLflow's rules: 2-D, or 3-D with 1, 3 or 4 channels; integers in
    [0, 255], floats in [0, 1]), from a PIL image (copied when ``copy``) or from an object with
    ``to_pil()``."""
    if isinstance(image, np.ndarray):
        pil = require("PIL.Image", "Logging a numpy array as an image")
        kinds = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "floating"}
        if image.dtype.kind not in kinds:
            raise TypeError(
                f"Invalid array data type: '{image.dtype}'. Must be one of {list(kinds.values())}"
            )
        if image.ndim not in (2, 3):
            raise ValueError(f"`image` must be a 2D or 3D array but got image shape: {image.shape}")
        if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
            raise ValueError(f"Invalid channel length: {image.shape[2]}. Must be one of [1, 3, 4]")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        return pil.fromarray(_normalize_to_uint8(image))  # astype copied the data
    if hasattr(image, "to_pil") and callable(image.to_pil):
        return image.to_pil()
    pil = require("PIL.Image", "log_image")
    if not isinstance(image, pil.Image):
        raise TypeError(
            f"Unsupported image object type: {type(image)}. `image` must be one of numpy.ndarray, "
            "PIL.Image.Image, and mlflow.Image."
        )
    return image.copy() if copy else image


def compress_image(image: Any, max_size: int = COMPRESSED_IMAGE_SIZE) -> Any:
    """Scale to fit a ``max_size`` square, keeping the aspect ratio (MLflow's ``compress_image_size``)."""
    width, height = image.size
    if width > height:
        new_width, new_height = max_size, int(height * (max_size / width))
    else:
        new_width, new_height = int(width * (max_size / height)), max_size
    return image.resize((new_width, new_height))


def image_nbytes(image: Any) -> int:
    width, height = image.size
    return int(width * height * max(1, len(image.getbands())))


def encode_image(image: Any, file_name: str) -> bytes:
    """The bytes ``image.save(file_name)`` would write (format from the extension, as PIL chooses it)."""
    pil = require("PIL.Image", "log_image")
    ext = os.path.splitext(file_name)[1].lower()
    fmt = pil.registered_extensions().get(ext)
    if fmt is None:
        raise ValueError(f"unknown file extension: {ext}")
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


_IMAGE_KEY = re.compile(r"^[a-zA-Z0-9_\-./ ]+$")


def check_image_key(key: str) -> None:
    if not isinstance(key, str) or not _IMAGE_KEY.match(key):
        raise ValueError(
            "The `key` parameter may only contain alphanumerics, underscores (_), dashes (-), periods (.), "
            f"spaces ( ), and slashes (/).The provided key `{key}` contains invalid characters."
        )


def image_key_paths(key: str, step: int, timestamp: int) -> tuple[str, str]:
    """MLflow 3's files for ``log_image(key=..., step=...)``: the full image and its 256 px WebP preview,
    ``images/<key with / as ~>+step+<step>+timestamp+<ms>+<uuid4>.png`` and ``...+compressed.webp``."""
    stem = f"images/{key.replace('/', '~')}+step+{step}+timestamp+{timestamp}+{uuid.uuid4()}"
    return f"{stem}.png", f"{stem}+compressed.webp"


# -- figures


def render_figure(figure: Any, artifact_file: str, save_kwargs: dict[str, Any] | None) -> bytes:
    """The file MLflow's ``log_figure`` writes: matplotlib's ``savefig``, or plotly's HTML (plotly.js from
    the CDN) or static image (needs kaleido)."""
    kwargs = dict(save_kwargs or {})
    ext = os.path.splitext(artifact_file)[1]
    # Only when the library is already loaded (the figure came from it), as MLflow checks; its submodule
    # may not be, so it is imported by name.
    if "matplotlib" in sys.modules and isinstance(figure, require("matplotlib.figure", "log_figure").Figure):
        if ext and "format" not in kwargs:
            kwargs["format"] = ext[1:]
        buf = io.BytesIO()
        figure.savefig(buf, **kwargs)
        return buf.getvalue()
    if "plotly" in sys.modules and isinstance(figure, require("plotly.graph_objects", "log_figure").Figure):
        if ext == ".html":
            kwargs.setdefault("include_plotlyjs", "cdn")
            kwargs.setdefault("auto_open", False)
            text = io.StringIO()
            figure.write_html(text, **kwargs)
            return text.getvalue().encode("utf-8")
        if ext in (".png", ".jpeg", ".webp", ".svg", ".pdf"):
            require("kaleido", "log_figure of a plotly figure as an image")
            kwargs.setdefault("format", ext[1:])
            out = io.BytesIO()
            figure.write_image(out, **kwargs)
            return out.getvalue()
        raise TypeError(f"Unsupported file extension for plotly figure: '{ext}'")
    raise TypeError(f"Unsupported figure object type: '{type(figure)}'")


# -- tables

_FORBIDDEN_TABLE_CHARS = ('"', "'", ",", ":", "[", "]", "{", "}")


def check_table_chars(artifact_file: str) -> None:
    """MLflow's rule for table names: none of the characters of the JSON that records them as a run's
    table (which also keeps them out of ``load_table``'s search filter)."""
    for char in _FORBIDDEN_TABLE_CHARS:
        if char in artifact_file:
            raise ValueError(f"The artifact_file contains forbidden character: {char}")


def check_table_file(artifact_file: str) -> None:
    check_table_chars(artifact_file)
    if not artifact_file.endswith((".json", ".parquet")):
        raise ValueError(
            f"Invalid artifact file path '{artifact_file}'. Please ensure the file you are trying to log "
            "as a table has a file name with either '.json' or '.parquet' extension."
        )


def table_frame(data: Any) -> Any:
    """A pandas DataFrame from a DataFrame or a dict (a dict of scalars becomes one row), as MLflow."""
    pd = require("pandas", "log_table")
    if not isinstance(data, pd.DataFrame | dict):
        raise MlflowException(
            "data must be a pandas.DataFrame or a dictionary", error_code=INVALID_PARAMETER_VALUE
        )
    if isinstance(data, dict):
        try:
            return pd.DataFrame(data)
        except ValueError:  # all scalars: "If using all scalar values, you must pass an index"
            return pd.DataFrame([data])
    return data


def is_image_object(obj: Any) -> bool:
    return (
        callable(getattr(obj, "save", None))
        and callable(getattr(obj, "resize", None))
        and hasattr(obj, "size")
    )


def table_bytes(frame: Any, artifact_file: str) -> bytes:
    """MLflow's table file: JSON ``orient="split"`` without the index, ISO dates; or Parquet."""
    try:
        if artifact_file.endswith(".json"):
            text: str = frame.to_json(orient="split", index=False, date_format="iso")
            return text.encode("utf-8")
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return buf.getvalue()
    except Exception as exc:
        raise MlflowException(
            f"Failed to save {frame} as table as the data is not JSON serializable. Error: {exc}"
        ) from exc


def read_table(path: str) -> Any:
    pd = require("pandas", "log_table")
    if path.endswith(".json"):
        return pd.read_json(path, orient="split")
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    raise ValueError(f"Unsupported file type in {path}. Expected .json or .parquet")
