"""The REST store: asynctrack's store protocol over MLflow's REST API 2.0 (``http://`` and ``https://``
tracking URIs), with MLflow's retry, authentication and TLS settings."""

from __future__ import annotations

from asynctrack._http._config import HttpConfig
from asynctrack.store.rest._store import RestStore

__all__ = ["HttpConfig", "RestStore"]
