"""``asynctrack.tracking``: what MLflow's ``mlflow.tracking`` offers that asynctrack has.

``from mlflow.tracking import MlflowClient`` is among the most common MLflow imports; with asynctrack it is
``from asynctrack.tracking import MlflowClient``, with MLflow's registry URI functions beside the tracking
URI ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from asynctrack._mlflow_names import UNAVAILABLE, MlflowNameUnavailable, unavailable_message
from asynctrack._registry_uri import get_registry_uri, set_registry_uri
from asynctrack._tracking_uri import get_tracking_uri, is_tracking_uri_set, set_tracking_uri
from asynctrack.client import MlflowClient

__all__ = [
    "MlflowClient",
    "get_registry_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "set_registry_uri",
    "set_tracking_uri",
]


if not TYPE_CHECKING:  # hidden from type checkers: a typo in a user's code is still reported

    def __getattr__(name: str) -> NoReturn:
        if name in UNAVAILABLE:
            raise MlflowNameUnavailable(unavailable_message(name), name=name, obj=None)
        raise AttributeError(f"module 'asynctrack.tracking' has no attribute {name!r}", name=name)
