"""A run's artifacts by run id, as MLflow's server offers them besides the proxied artifact API.

==============================================================  ============================================
``GET  /api/2.0/mlflow/artifacts/list?run_id=&path=``          REST API 2.0's List Artifacts:
                                                                ``{"root_uri", "files": [{"path", "is_dir",
                                                                "file_size"}]}`` with run-relative paths
``GET  /get-artifact?run_id=&path=``                            the file, as an attachment (MLflow's UI)
``POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=``   the body (at most 10 MiB) as that file
``GET  /model-versions/get-artifact?name=&version=&path=``      a file of a model version's source
==============================================================  ============================================

A run's ``artifact_uri`` is data a client chose, so it is resolved only when it lies under the server's
configured roots (``_locations.py``): ``mlflow-artifacts:`` through the artifacts destination, local paths
inside the store's root or the destination (symlinks resolved), the remote default root; anything else is
refused with ``PERMISSION_DENIED`` and nothing is read or written. Paths inside the run are checked by
``artifacts/_paths.py`` before the run is even looked up; a refused path is MLflow's 400 ``Invalid path``.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import shutil
import tempfile
import urllib.parse
from collections.abc import Awaitable, Callable

import msgspec
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from asynctrack._rest._messages import AJAX_PREFIX, API_PREFIX
from asynctrack.artifacts import _fs
from asynctrack.artifacts._local import LocalArtifactRepository
from asynctrack.artifacts._paths import check_file_name, check_path, parent_and_name
from asynctrack.artifacts._repository import ArtifactRepository, get_artifact_repository
from asynctrack.artifacts._uri import local_path, scheme_of
from asynctrack.entities import Run
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server._artifacts import PROXIED_ROOT, destination_root
from asynctrack.server._artifacts_io import mapped_errors
from asynctrack.server._config import ServerConfig
from asynctrack.server._errors import JSON_TYPE, error_response, internal_error
from asynctrack.server._locations import check_artifact_location
from asynctrack.server._request import missing, read_body
from asynctrack.server._state import ServerState
from asynctrack.store._registry_protocol import RegistryStore
from asynctrack.validation import check_run_id

__all__ = ["MAX_UPLOAD_BYTES", "run_artifact_routes", "run_repository", "safe_path"]

PERMISSION_DENIED = "PERMISSION_DENIED"
#: MLflow's limit on upload-artifact bodies.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def safe_path(raw: str) -> str:
    """``raw`` in canonical run-relative form, or MLflow's 400 ``Invalid path`` (``..``, absolute paths,
    URIs, backslashes, control characters, ``#`` and their percent-encodings)."""
    try:
        return check_path(raw)
    except MlflowException:
        raise MlflowException("Invalid path", error_code=INVALID_PARAMETER_VALUE) from None


def _refused(uri: str, why: str) -> MlflowException:
    return MlflowException(
        f"The run's artifact location {uri[:300]!r} is not served by this server: {why}",
        error_code=PERMISSION_DENIED,
    )


def run_repository(config: ServerConfig, artifact_uri: str | None) -> tuple[ArtifactRepository, str]:
    """The repository holding a run's artifacts and the run's root inside it; ``PERMISSION_DENIED`` when
    the run's location lies outside the server's configured roots."""
    if not artifact_uri:
        raise _refused("", "the run has no artifact location")
    try:
        check_artifact_location(artifact_uri, config)
    except MlflowException as exc:
        raise _refused(artifact_uri, exc.message) from None
    scheme = scheme_of(artifact_uri)
    if scheme == PROXIED_ROOT.rstrip(":"):
        prefix = check_path(urllib.parse.urlsplit(artifact_uri).path.lstrip("/"), "artifact location")
        return LocalArtifactRepository(destination_root(config)), prefix
    if scheme in ("", "file"):
        return LocalArtifactRepository(local_path(artifact_uri)), ""
    return get_artifact_repository(artifact_uri), ""


def _join(prefix: str, rel: str) -> str:
    return posixpath.join(prefix, rel) if prefix and rel else prefix or rel


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


async def _run(request: Request, *names: str) -> Run:
    raw = next((v for v in (request.query_params.get(n) for n in names) if v), None)
    if raw is None:
        raise missing(names[0])
    run_id = check_run_id(raw)
    state = _state(request)
    return await state.call(lambda: state.store.get_run(run_id), "get_run")


async def list_artifacts(request: Request) -> Response:
    """MLflow's ``ListArtifacts``: a missing ``run_id`` first, then the path, then the run."""
    if not (request.query_params.get("run_id") or request.query_params.get("run_uuid")):
        raise MlflowException(
            "Missing value for required parameter 'run_id'. See the API docs for more information about "
            "request parameters.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    rel = safe_path(request.query_params.get("path") or "")
    run = await _run(request, "run_id", "run_uuid")
    repo, prefix = run_repository(_state(request).config, run.info.artifact_uri)
    try:
        infos = await repo.list_artifacts(_join(prefix, rel))
    finally:
        await repo.aclose()
    files = []
    for info in infos:
        name = parent_and_name(info.path)[1]
        if not name:
            continue
        item: dict[str, object] = {"path": _join(rel, name), "is_dir": info.is_dir}
        if not info.is_dir:
            item["file_size"] = info.file_size or 0
        files.append(item)
    body: dict[str, object] = {"root_uri": run.info.artifact_uri}
    if files:
        body["files"] = files
    return Response(msgspec.json.encode(body), media_type=JSON_TYPE)


async def get_artifact(request: Request) -> Response:
    """``/get-artifact``: the file as an attachment, typed by its name, never sniffed."""
    raw = request.query_params.get("path")
    if raw is None:
        raise missing("path")
    rel = safe_path(raw)
    if rel == "":
        raise MlflowException(
            "Artifact path refers to a directory, not a file: ''", error_code=INVALID_PARAMETER_VALUE
        )
    run = await _run(request, "run_id", "run_uuid")
    repo, prefix = run_repository(_state(request).config, run.info.artifact_uri)
    return await _send(repo, _join(prefix, rel), rel)


async def fetch_file(repo: ArtifactRepository, full: str, rel: str) -> tuple[str, str | None]:
    """A local path to the file ``full`` of ``repo`` (``rel`` names it in errors), and the temporary
    directory holding it when the repository is remote (the caller removes it once the file is sent);
    a directory is refused. Closes ``repo``."""
    cleanup: str | None = None
    try:
        with mapped_errors(rel):
            if isinstance(repo, LocalArtifactRepository):
                path = await _fs.in_thread(repo.get_local_path, full)  # symlinks resolved inside the root
            else:
                cleanup = await _fs.in_thread(tempfile.mkdtemp)
                path = await repo.download_artifacts(full, cleanup, strip_parent=True)
            if await _fs.in_thread(os.path.isdir, path):
                raise MlflowException(
                    f"Artifact path refers to a directory, not a file: '{rel}'",
                    error_code=INVALID_PARAMETER_VALUE,
                )
    except BaseException:
        if cleanup:
            await _fs.in_thread(shutil.rmtree, cleanup, True)
        raise
    finally:
        await repo.aclose()
    return path, cleanup


async def _send(repo: ArtifactRepository, full: str, rel: str) -> Response:
    """The file ``full`` of ``repo`` as an attachment named after ``rel``, typed by its name."""
    path, cleanup = await fetch_file(repo, full, rel)
    name = parent_and_name(rel)[1]
    return FileResponse(
        path,
        media_type=_media_type(name),
        filename=name,
        headers={"X-Content-Type-Options": "nosniff"},
        background=BackgroundTask(shutil.rmtree, cleanup, True) if cleanup else None,
    )


async def model_version_artifact(request: Request) -> Response:
    """``/model-versions/get-artifact?name=&version=&path=``: a file of a registered model version, read
    from its source (a ``runs:/`` URI or an artifact location) through the configured roots only."""
    raw = request.query_params.get("path")
    if raw is None:
        raise missing("path")
    rel = safe_path(raw)
    name = request.query_params.get("name")
    if not name:
        raise missing("name")
    try:
        version = int(request.query_params.get("version") or "")
    except ValueError:
        raise MlflowException(
            f"Invalid value {request.query_params.get('version')!r} for parameter 'version': expected an "
            "integer version number",
            error_code=INVALID_PARAMETER_VALUE,
        ) from None
    state = _state(request)
    store = state.store
    if not isinstance(store, RegistryStore):
        raise MlflowException("This server's backend store has no model registry.", "NOT_IMPLEMENTED")
    mv = await state.call(lambda: store.get_model_version(name, version), "get_model_version")
    source = mv.source or ""
    if source.startswith("runs:/"):
        run_id, _, sub = source[len("runs:/") :].partition("/")
        run = await state.call(lambda: store.get_run(check_run_id(run_id)), "get_run")
        repo, prefix = run_repository(state.config, run.info.artifact_uri)
        base = _join(prefix, check_path(sub))
    else:
        repo, base = run_repository(state.config, source)
    return await _send(repo, _join(base, rel), rel)


def _media_type(name: str) -> str:
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    # As MLflow: anything textual goes out as plain text, so no browser renders it as a page.
    return "text/plain" if kind.startswith("text/") or kind in ("application/json",) else kind


async def upload_artifact(request: Request) -> Response:
    """MLflow's UI upload: ``run_uuid`` and ``path`` in the query, the file as the body (1 to 10 MiB)."""
    run_uuid = request.query_params.get("run_uuid")
    if not run_uuid:
        raise MlflowException("Request must specify run_uuid.", error_code=INVALID_PARAMETER_VALUE)
    raw = request.query_params.get("path")
    if not raw:
        raise MlflowException("Request must specify path.", error_code=INVALID_PARAMETER_VALUE)
    rel = safe_path(raw)
    check_file_name(parent_and_name(rel)[1], "artifact file", shown=raw)
    too_large = MlflowException("Artifact size is too large. Max size is 10MB.", INVALID_PARAMETER_VALUE)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
        raise too_large
    try:
        data = await read_body(request, MAX_UPLOAD_BYTES)
    except MlflowException:
        raise too_large from None
    if not data:
        raise MlflowException("Request must specify data.", error_code=INVALID_PARAMETER_VALUE)
    run = await _run(request, "run_uuid")
    repo, prefix = run_repository(_state(request).config, run.info.artifact_uri)
    try:
        with mapped_errors(rel):
            await repo.write_artifact(data, _join(prefix, rel))
    finally:
        await repo.aclose()
    return Response(b"", media_type=JSON_TYPE)


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(fn: Endpoint) -> Endpoint:
    async def call(request: Request) -> Response:
        try:
            return await fn(request)
        except MlflowException as exc:
            return error_response(exc)
        except Exception as exc:
            return internal_error(request, exc)

    return call


def run_artifact_routes() -> list[Route]:
    """The three endpoints at MLflow's paths (List Artifacts under both API prefixes)."""
    return [
        *(
            Route(prefix + "/artifacts/list", _guarded(list_artifacts), methods=["GET"])
            for prefix in (API_PREFIX, AJAX_PREFIX)
        ),
        Route("/get-artifact", _guarded(get_artifact), methods=["GET"]),
        Route(AJAX_PREFIX + "/upload-artifact", _guarded(upload_artifact), methods=["POST"]),
        # MLflow's server (werkzeug) merges repeated slashes; clients (MLflow's own tests) send "//...".
        *(
            Route(path, _guarded(model_version_artifact), methods=["GET"])
            for path in ("/model-versions/get-artifact", "//model-versions/get-artifact")
        ),
    ]
