"""The registry URI, as in MLflow: ``set_registry_uri``, then ``MLFLOW_REGISTRY_URI``, then the tracking
URI. asynctrack keeps the registry in a tracking store (its SQLite database or a tracking server), so a
registry URI is any tracking URI."""

from __future__ import annotations

import os
import pathlib

from asynctrack._tracking_uri import get_tracking_uri

__all__ = ["get_registry_uri", "registry_uri_or", "set_registry_uri"]

_registry_uri: str | None = None


def set_registry_uri(uri: str | pathlib.Path | None) -> None:
    """Use ``uri`` for the model registry (None: follow the tracking URI again)."""
    global _registry_uri
    _registry_uri = None if uri is None else str(uri)


def get_registry_uri() -> str:
    """The registry URI: the one set, else ``MLFLOW_REGISTRY_URI``, else the tracking URI."""
    return _registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or get_tracking_uri()


def registry_uri_or(tracking_uri: str) -> str:
    """The registry URI for a client of ``tracking_uri``: the one set or in the environment, else that."""
    return _registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri
