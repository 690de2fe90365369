"""Artifacts: files logged with a run, listed, downloaded and loaded back, as ``mlflow.artifacts``.

    import asynctrack as mlflow

    with mlflow.start_run() as run:
        mlflow.log_dict({"lr": 0.01}, "config.json")
    config = mlflow.artifacts.load_dict(run.info.artifact_uri + "/config.json")

The logging calls are ``mlflow.log_artifact`` and friends (module ``asynctrack._fluent_artifacts``) and
``MlflowClient``'s methods; this package holds the repositories they write through (``_repository``: the
async protocol and the registry by URI scheme; ``_local``: the file system), the path rules every API
enforces (``_paths``) and the upload queue (``_queue``). See docs/artifacts.md.
"""

from __future__ import annotations

from asynctrack.artifacts import _http  # noqa: F401  (registers mlflow-artifacts:, http: and https:)
from asynctrack.artifacts._api import download_artifacts, list_artifacts, load_dict, load_image, load_text
from asynctrack.artifacts._local import LocalArtifactRepository
from asynctrack.artifacts._optional import MissingDependency
from asynctrack.artifacts._repository import (
    ArtifactRepository,
    FileInfo,
    get_artifact_repository,
    register_artifact_repository,
)

__all__ = [
    "ArtifactRepository",
    "FileInfo",
    "LocalArtifactRepository",
    "MissingDependency",
    "download_artifacts",
    "get_artifact_repository",
    "list_artifacts",
    "load_dict",
    "load_image",
    "load_text",
    "register_artifact_repository",
]
