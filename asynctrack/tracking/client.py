"""``asynctrack.tracking.client``: ``from mlflow.tracking.client import MlflowClient`` works here too."""

from __future__ import annotations

from asynctrack.client import MlflowClient

__all__ = ["MlflowClient"]
