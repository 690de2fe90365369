"""``asynctrack.artifacts``: download, list and load artifacts by run id or by artifact URI, as
``mlflow.artifacts`` does."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

from asynctrack._model_uri import split_models_uri
from asynctrack.artifacts import _sync
from asynctrack.artifacts._optional import require
from asynctrack.artifacts._paths import check_path
from asynctrack.artifacts._repository import FileInfo, get_artifact_repository
from asynctrack.artifacts._uri import parse_runs_uri, scheme_of, split_last
from asynctrack.exceptions import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    MlflowException,
)

__all__ = [
    "download_artifacts",
    "download_run_artifacts",
    "list_artifacts",
    "model_download_uri",
    "set_model_uri_resolver",
    "load_dict",
    "load_image",
    "load_text",
]


def _one_of(run_id: str | None, artifact_uri: str | None, artifact_path: str | None) -> None:
    if (run_id, artifact_uri).count(None) != 1:
        raise MlflowException(
            "Exactly one of `run_id` or `artifact_uri` must be specified", error_code=INVALID_PARAMETER_VALUE
        )
    if artifact_uri is not None and artifact_path is not None:
        raise MlflowException(
            "`artifact_path` cannot be specified if `artifact_uri` is specified",
            error_code=INVALID_PARAMETER_VALUE,
        )


def download_run_artifacts(
    tracking_uri: str | None, run_id: str, artifact_path: str | None, dst_path: str | None
) -> str:
    """A run's artifact (file or directory) copied into ``dst_path`` (a new temporary directory when None),
    as MLflow's ``runs:/<run_id>/<path>`` download; without a path, the whole root, which a local store
    returns in place when ``dst_path`` is None."""
    rel = check_path(artifact_path)
    repo = _sync.repository_for_run(tracking_uri, run_id)
    if not rel:
        return _sync.read(repo, repo.download_artifacts, "", dst_path)
    dst = dst_path if dst_path is not None else tempfile.mkdtemp()
    # MLflow splits runs:/<run_id>/a/b into the root runs:/<run_id>/a and the name b, so what it copies
    # lands at <dst>/b, not <dst>/a/b; so here too (the paths are still checked against the run's root).
    try:
        return _sync.read(repo, functools.partial(repo.download_artifacts, rel, dst, strip_parent=True))
    except MlflowException as exc:
        if exc.error_code == INVALID_PARAMETER_VALUE:
            raise
        raise MlflowException(
            f"Failed to download artifacts from path {rel!r}, please ensure that the path is correct.",
            error_code=RESOURCE_DOES_NOT_EXIST,
        ) from exc


#: Resolves a ``models:/`` URI to its version's download URI: ``resolve(model_uri, tracking_uri,
#: registry_uri)``. The registry belongs to the client layer above this package, which installs it
#: (``client.py``, at import: ``import asynctrack`` always runs first), so artifacts never import clients.
_model_resolver: Callable[[str, str | None, str | None], str] | None = None


def set_model_uri_resolver(resolve: Callable[[str, str | None, str | None], str]) -> None:
    """Install the ``models:/`` resolver (the client layer does)."""
    global _model_resolver
    _model_resolver = resolve


def model_download_uri(model_uri: str, tracking_uri: str | None, registry_uri: str | None) -> str:
    """Where the files of a ``models:/<name>/<version|stage|latest>`` or ``models:/<name>@<alias>`` URI
    are: the named version's download URI, as the registry answers it."""
    if _model_resolver is None:  # pragma: no cover - asynctrack/__init__ imports the client first
        raise MlflowException(f"Cannot resolve {model_uri!r}: the model registry client is not loaded")
    return _model_resolver(model_uri, tracking_uri, registry_uri)


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
) -> str:
    """Download an artifact file or directory to a local directory and return its local path.

    Give exactly one of ``artifact_uri`` (``runs:/<run_id>/<path>``, a local path or ``file:`` URI) and
    ``run_id`` (with an optional run-relative ``artifact_path``). ``dst_path`` is created if missing; without
    it, run paths go to a new temporary directory, and an artifact already on this machine is returned in
    place, as MLflow does::

        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="plots")
    """
    _one_of(run_id, artifact_uri, artifact_path)
    if dst_path is not None:
        os.makedirs(dst_path, exist_ok=True)
    if artifact_uri is not None:
        if scheme_of(artifact_uri) == "runs":
            rid, rel = parse_runs_uri(artifact_uri)
            return download_run_artifacts(tracking_uri, rid, rel, dst_path)
        if scheme_of(artifact_uri) == "models":
            return download_artifacts(
                artifact_uri=model_download_uri(artifact_uri, tracking_uri, registry_uri),
                dst_path=dst_path,
                tracking_uri=tracking_uri,
            )
        root, name = split_last(artifact_uri)
        name = check_path(name)
        repo = get_artifact_repository(root, tracking_uri)
        return _sync.read(repo, repo.download_artifacts, name, dst_path)
    assert run_id is not None
    return download_run_artifacts(tracking_uri, run_id, artifact_path, dst_path)


def list_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    tracking_uri: str | None = None,
) -> list[FileInfo]:
    """The artifacts directly under a location (``[]`` for a file or a missing path), sorted by path.

    ``artifact_uri`` may be a ``runs:/``, ``models:/<name>/<version|stage|latest>[/<path>]``,
    ``models:/<name>@<alias>[/<path>]``, local or remote artifact URI."""
    _one_of(run_id, artifact_uri, artifact_path)
    if artifact_uri is not None:
        if scheme_of(artifact_uri) == "runs":
            run_id, artifact_path = parse_runs_uri(artifact_uri)
        elif scheme_of(artifact_uri) == "models":
            # models:/<name>/<version|stage|latest>[/path] and models:/<name>@<alias>[/path]: the named
            # version's files (MLflow splits the URI the same way before listing).
            model_uri, inner = split_models_uri(artifact_uri)
            location = model_download_uri(model_uri, tracking_uri, None)
            repo = get_artifact_repository(location, tracking_uri)
            return _sync.read(repo, repo.list_artifacts, check_path(inner))
        else:
            root, name = split_last(artifact_uri)
            repo = get_artifact_repository(root, tracking_uri)
            return _sync.read(repo, repo.list_artifacts, check_path(name))
    assert run_id is not None
    rel = check_path(artifact_path)
    repo = _sync.repository_for_run(tracking_uri, run_id)
    return _sync.read(repo, repo.list_artifacts, rel)


def _not_utf8(artifact_uri: str) -> MlflowException:
    return MlflowException(
        f"Artifact {artifact_uri!r} is not valid UTF-8. To read a file in another encoding, download it "
        "with `mlflow.artifacts.download_artifacts` and open it with the correct `encoding`.",
        error_code=BAD_REQUEST,
    )


def load_text(artifact_uri: str) -> str:
    """The artifact's contents as a string (UTF-8)::

    mlflow.artifacts.load_text(run.info.artifact_uri + "/notes.txt")
    """
    with tempfile.TemporaryDirectory() as tmp:
        local = download_artifacts(artifact_uri, dst_path=tmp)
        try:
            with open(local, encoding="utf-8") as f:
                return f.read()
        except UnicodeDecodeError as exc:
            raise _not_utf8(artifact_uri) from exc
        except OSError as exc:
            raise MlflowException("Unable to form a str object from file content", BAD_REQUEST) from exc


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """The artifact's contents parsed as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        local = download_artifacts(artifact_uri, dst_path=tmp)
        try:
            with open(local, encoding="utf-8") as f:
                loaded: dict[str, Any] = json.load(f)
                return loaded
        except UnicodeDecodeError as exc:
            raise _not_utf8(artifact_uri) from exc
        except json.JSONDecodeError as exc:
            raise MlflowException("Unable to form a JSON object from file content", BAD_REQUEST) from exc


def load_image(artifact_uri: str) -> Any:
    """The artifact as a loaded ``PIL.Image.Image`` (needs Pillow)."""
    pil = require("PIL.Image", "load_image")
    with tempfile.TemporaryDirectory() as tmp:
        local = download_artifacts(artifact_uri, dst_path=tmp)
        try:
            image = pil.open(local)
            image.load()
            return image
        except Exception as exc:
            raise MlflowException("Unable to form a PIL Image object from file content", BAD_REQUEST) from exc
