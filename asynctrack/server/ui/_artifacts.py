"""The run page's artifact tree and previews: ``artifacts/list`` and ``artifacts/get``.

Artifacts are read only through what the server was configured with, never from wherever a run says: a
run's ``artifact_uri`` is data a client chose (through its experiment's ``artifact_location``, possibly
before the server restricted it, or written straight into a shared database), so it is resolved only when it
lies under the server's configured roots (``server/_locations.py``'s rule: ``mlflow-artifacts:`` through
the artifacts destination, local paths inside the store's artifact root or the destination with symlinks
resolved, the remote default root's scheme and host), else refused (``PERMISSION_DENIED``), so a run can
never make the server read its own files (MLflow's CVE-2023-6909 family). Paths inside the run obey
``artifacts/_paths.py`` (no ``..``, nothing absolute, no encodings of either).

A file is previewed inline only as one of a few passive types (text, JSON, CSV, raster images); HTML, SVG
and anything else is ``application/octet-stream`` as an attachment. Every answer carries
``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: default-src 'none'; sandbox``, so even
a file opened directly in a tab runs nothing in the app's origin.
"""

from __future__ import annotations

import os
import posixpath
import shutil

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from asynctrack.artifacts._paths import check_path, parent_and_name
from asynctrack.artifacts._repository import ArtifactRepository
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server._run_artifacts import fetch_file, run_repository
from asynctrack.server.ui._common import SECURITY_HEADERS, json_response, state_of, str_param
from asynctrack.validation import check_run_id

__all__ = ["get_artifact", "list_artifacts", "preview_type"]

PERMISSION_DENIED = "PERMISSION_DENIED"
ARTIFACT_CSP = "default-src 'none'; sandbox"

#: Extensions previewed inline, with the type they are served as (all passive: no script can run).
_PREVIEW = {
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".py": "text/plain; charset=utf-8",
    ".yaml": "text/plain; charset=utf-8",
    ".yml": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".tsv": "text/tab-separated-values; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}
_OPAQUE = "application/octet-stream"


def preview_type(name: str) -> str | None:
    """The type a file is previewed as, or None when it is only ever downloaded as opaque bytes."""
    return _PREVIEW.get(os.path.splitext(name)[1].lower())


def _refused(uri: str, why: str) -> MlflowException:
    return MlflowException(
        f"The run's artifact location {uri[:300]!r} is not readable through this server: {why}",
        error_code=PERMISSION_DENIED,
    )


def _repository(request: Request, artifact_uri: str | None) -> tuple[ArtifactRepository, str]:
    """The repository to read a run's artifacts from, and the run's root inside it."""
    try:
        return run_repository(state_of(request).config, artifact_uri)
    except MlflowException as exc:
        if exc.error_code != PERMISSION_DENIED:
            raise
        raise _refused(artifact_uri or "", exc.message.split(": ", 1)[-1]) from None


async def _run_repository(request: Request) -> tuple[ArtifactRepository, str]:
    state = state_of(request)
    run_id = check_run_id(str_param(request, "run_id", required=True))
    run = await state.call(lambda: state.store.get_run(run_id), "get_run")
    return _repository(request, run.info.artifact_uri)


def _join(prefix: str, rel: str) -> str:
    return posixpath.join(prefix, rel) if prefix and rel else prefix or rel


async def list_artifacts(request: Request) -> Response:
    """``GET artifacts/list?run_id=...&path=sub/dir``: the entries directly under ``path``, with
    run-relative paths."""
    rel = check_path(str_param(request, "path") or "")
    repo, prefix = await _run_repository(request)
    try:
        infos = await repo.list_artifacts(_join(prefix, rel))
    finally:
        await repo.aclose()
    cut = len(prefix) + 1 if prefix else 0
    files = [
        {"path": f.path[cut:], "is_dir": f.is_dir, "file_size": None if f.is_dir else (f.file_size or 0)}
        for f in infos
        if f.path[cut:]
    ]
    return json_response({"files": files})


def _headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Content-Security-Policy"] = ARTIFACT_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


async def get_artifact(request: Request) -> Response:
    """``GET artifacts/get?run_id=...&path=a/b.txt[&download=1]``: the file's bytes."""
    raw = str_param(request, "path", required=True)
    rel = check_path(raw)
    if rel == "":
        raise MlflowException(
            f"Invalid artifact path {raw!r}: name a file.", error_code=INVALID_PARAMETER_VALUE
        )
    name = parent_and_name(rel)[1]
    repo, prefix = await _run_repository(request)
    full = _join(prefix, rel)
    path, cleanup = await fetch_file(repo, full, rel)
    kind = preview_type(name)
    download = request.query_params.get("download") not in (None, "", "0", "false")
    response = FileResponse(
        path,
        media_type=kind or _OPAQUE,
        filename=name,
        content_disposition_type="attachment" if download or kind is None else "inline",
        background=BackgroundTask(shutil.rmtree, cleanup, True) if cleanup else None,
    )
    return _headers(response)
