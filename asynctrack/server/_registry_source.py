"""Which ``source`` a model version created through the server may have (MLflow's
``_validate_source_run``, the fix for CVE-2023-6974 and relatives).

A version's source is later handed to every client that resolves ``models:/`` URIs, so a client must not
be able to register files it has no claim to:

- a local path or ``file:`` URI must lie inside the artifact directory of the run named by ``run_id``
  (symlinks resolved);
- ``runs:/<run_id>/...`` must name the ``run_id`` given, with no host part;
- ``mlflow-artifacts:`` (and ``http(s)://.../api/2.0/mlflow-artifacts/artifacts/...``) must lie under the
  given run's artifact location;
- ``models:/`` must not name a host or a logged model id;
- any source: no ``..`` segment, NUL or path that normalises elsewhere, however percent-encoded.

Each refusal is INVALID_PARAMETER_VALUE with MLflow's message.
"""

from __future__ import annotations

import os
import pathlib
import posixpath
import re
import urllib.parse
from collections.abc import Awaitable, Callable

import anyio

from asynctrack._model_uri import parse_model_uri
from asynctrack.artifacts._uri import parse_runs_uri
from asynctrack.entities import Run
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MlflowException

__all__ = ["check_source"]

GetRun = Callable[[str], Awaitable[Run]]


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _not_identified(source: str, field: str) -> MlflowException:
    return _invalid(
        f"Invalid model version source: '{source}'. The {field} request parameter must identify the "
        "resource that contains the source."
    )


def _is_local(uri: str) -> bool:
    scheme = urllib.parse.urlparse(uri).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def _local_path(uri: str) -> str:
    parsed = urllib.parse.urlparse(uri)
    return urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else uri


def _unquoted(text: str) -> str:
    while (once := urllib.parse.unquote_plus(text)) != text:
        text = once
    return text


def _check_relative(source: str) -> None:
    message = (
        f"Invalid model version source: '{source}'. If supplying a source as an http, https, local file "
        "path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without "
        "relative path references present. Please provide an absolute path."
    )
    plain = _unquoted(source)
    path = re.sub(r"/+", "/", urllib.parse.urlparse(plain).path.rstrip("/"))
    if "\x00" in path or any(p == ".." for p in plain.split("/")):
        raise _invalid(message)
    # MLflow resolves the path on the server's file system and refuses it unless that changes nothing:
    # a relative or empty path (resolved against the working directory) or one with "." parts.
    if not path.startswith("/") or posixpath.normpath(path) != path:
        raise _invalid(message)


def _parts(uri: str) -> tuple[str, str, tuple[str, ...]]:
    parsed = urllib.parse.urlsplit(uri)
    return (
        parsed.scheme.lower(),
        parsed.netloc.lower(),
        tuple(_unquoted(p) for p in parsed.path.split("/") if p),
    )


def _within(source: str, root: str) -> bool:
    s_scheme, s_host, s_parts = _parts(source)
    r_scheme, r_host, r_parts = _parts(root)
    return s_scheme == r_scheme and s_host == r_host and bool(r_parts) and s_parts[: len(r_parts)] == r_parts


def _is_proxied(source: str) -> bool:
    scheme, _, parts = _parts(source)
    if scheme == "mlflow-artifacts":
        return True
    route = ("api", "2.0", "mlflow-artifacts", "artifacts")
    return scheme in ("http", "https") and any(parts[i : i + 4] == route for i in range(len(parts) - 3))


def _inside(source: str, root_uri: str) -> bool:
    """Whether the local ``source`` is the run's artifact directory or below it, symlinks resolved (a
    thread's job: resolving reads the file system)."""
    path = pathlib.Path(_local_path(source)).resolve()
    root = pathlib.Path(_local_path(root_uri)).resolve()
    return root == path or root in path.parents


async def _run(get_run: GetRun, run_id: str, source: str) -> Run:
    try:
        return await get_run(run_id)
    except MlflowException as exc:
        if exc.error_code == RESOURCE_DOES_NOT_EXIST:
            raise _not_identified(source, "run_id") from None
        raise


async def check_source(source: str, run_id: str | None, get_run: GetRun) -> None:
    """Refuse ``source`` unless it is one the run ``run_id`` (or nothing) vouches for (module doc)."""
    if _is_local(source):
        if run_id:
            run = await _run(get_run, run_id, source)
            root_uri = run.info.artifact_uri or ""
            if _is_local(root_uri) and await anyio.to_thread.run_sync(_inside, source, root_uri):
                return
        raise _invalid(
            f"Invalid model version source: '{source}'. To use a local path as a model version source, the "
            "run_id request parameter has to be specified and the local path has to be contained within the "
            "artifact directory of the run specified by the run_id."
        )
    _check_relative(source)
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme == "runs":
        if parsed.netloc:
            raise _not_identified(source, "run_id")
        source_run, _ = parse_runs_uri(source)
        if run_id and source_run == run_id:
            return
        raise _not_identified(source, "run_id")
    if parsed.scheme == "models":
        if parsed.netloc:
            raise _not_identified(source, "model_id")
        if parse_model_uri(source).model_id is not None:
            raise _not_identified(source, "model_id")
    if _is_proxied(source):
        if run_id:
            run = await _run(get_run, run_id, source)
            if _within(source, run.info.artifact_uri or ""):
                return
        raise _not_identified(source, "run_id")
