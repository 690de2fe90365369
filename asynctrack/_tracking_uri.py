"""Tracking URI resolution, as in MLflow: ``set_tracking_uri``, then ``MLFLOW_TRACKING_URI``, then the
embedded SQLite store under ``./mlruns``.

Accepted forms: ``sqlite:///relative.db`` and ``sqlite:////absolute.db``; a directory path or ``file://``
URI (the embedded store's database ``asynctrack.db`` lives inside it, artifacts beside it).
"""

from __future__ import annotations

import os
import pathlib
import urllib.parse

import msgspec

from asynctrack.environment import MLFLOW_TRACKING_URI
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "DEFAULT_DB_NAME",
    "StoreLocation",
    "current_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "resolve",
    "set_tracking_uri",
]

DEFAULT_DB_NAME = "asynctrack.db"
_DEFAULT_DIR = "mlruns"

_tracking_uri: str | None = None


class StoreLocation(msgspec.Struct, frozen=True):
    """A resolved tracking URI: which backend, and where (absolute paths)."""

    scheme: str
    uri: str
    db_path: str
    artifact_root: str


def set_tracking_uri(uri: str | pathlib.Path | None) -> None:
    """Log to ``uri`` from now on in this process (``None`` restores the default resolution)."""
    global _tracking_uri
    if uri is None:
        _tracking_uri = None
        return
    uri = str(uri)
    resolve(uri)  # fail now, at the call site, on an unusable URI
    _tracking_uri = uri


def is_tracking_uri_set() -> bool:
    return _tracking_uri is not None or MLFLOW_TRACKING_URI.get() is not None


def current_uri() -> str:
    """The tracking URI string in force, unresolved ("" for the default); cheap enough for hot paths."""
    return _tracking_uri or MLFLOW_TRACKING_URI.get() or ""


def get_tracking_uri() -> str:
    """The tracking URI in force: the one set, else ``MLFLOW_TRACKING_URI``, else the embedded store's."""
    if _tracking_uri is not None:
        return _tracking_uri
    env = MLFLOW_TRACKING_URI.get()
    if env:
        return env
    return resolve(None).uri


def resolve(uri: str | None) -> StoreLocation:
    """Turn a tracking URI into a :class:`StoreLocation`; raise INVALID_PARAMETER_VALUE if unusable."""
    if uri is None or uri == "":
        uri = _tracking_uri or MLFLOW_TRACKING_URI.get() or _DEFAULT_DIR
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme == "sqlite":
        if not uri.lower().startswith("sqlite:///"):
            raise MlflowException(
                f"Invalid SQLite tracking URI {uri!r}: expected sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db",
                error_code=INVALID_PARAMETER_VALUE,
            )
        path = uri[len("sqlite:///") :]
        if path in ("", ":memory:"):
            raise MlflowException(
                f"Invalid SQLite tracking URI {uri!r}: the embedded store needs a file path",
                error_code=INVALID_PARAMETER_VALUE,
            )
        db = os.path.abspath(urllib.parse.unquote(path))
        root = os.path.abspath(_DEFAULT_DIR)
        return StoreLocation("sqlite", f"sqlite:///{db}", db, root)
    if scheme == "file" or scheme == "" or (len(scheme) == 1 and os.name == "nt"):
        directory = urllib.parse.unquote(parsed.path) if scheme == "file" else uri
        directory = os.path.abspath(os.path.expanduser(directory))
        db = os.path.join(directory, DEFAULT_DB_NAME)
        return StoreLocation("sqlite", f"sqlite:///{db}", db, directory)
    raise MlflowException(
        f"Tracking URI {uri!r} uses the scheme {scheme!r}, which this version of asynctrack does not "
        "support yet: use a directory, file:// or sqlite:/// URI (the REST and PostgreSQL stores are "
        "planned).",
        error_code=INVALID_PARAMETER_VALUE,
    )
