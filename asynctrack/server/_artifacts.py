"""MLflow's proxied artifact API (``--serve-artifacts``): upload, download, list and delete files under the
artifacts destination, as ``mlflow server`` does, at ``/api/2.0/mlflow-artifacts/artifacts/<path>``.

============================================  ========================================================
``PUT    .../mlflow-artifacts/artifacts/<p>``   store the body as the file ``p`` (streamed to a temporary
                                                 name in chunks, renamed into place when complete)
``GET    .../mlflow-artifacts/artifacts/<p>``   the file (streamed, ``Range`` and ``HEAD`` supported)
``GET    .../mlflow-artifacts/artifacts?path=`` ``{"files": [{"path", "is_dir", "file_size"}]}``: base names
``DELETE .../mlflow-artifacts/artifacts/<p>``   the file or directory
``POST   .../mlflow-artifacts/mpu/...``         multipart uploads (``_artifacts_multipart``)
============================================  ========================================================

Every path is checked by :func:`asynctrack.artifacts._paths.check_path` after uvicorn has percent-decoded it
(``check_path`` looks through further encodings itself), then joined with the destination with symlinks
resolved (``LocalArtifactRepository``): nothing is read, written or deleted outside the destination. Each
failure is MLflow's error JSON. When artifacts are served, the store is opened with ``mlflow-artifacts:`` as
its artifact root, so a new experiment's ``artifact_location`` is ``mlflow-artifacts:/<experiment_id>`` and a
run's ``artifact_uri`` ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts``, which clients resolve
against the tracking URI.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Awaitable, Callable

import msgspec
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from asynctrack._rest._messages import AJAX_PREFIX, API_PREFIX
from asynctrack._tracking_uri import StoreLocation, resolve
from asynctrack.artifacts import _fs
from asynctrack.artifacts._local import LocalArtifactRepository
from asynctrack.artifacts._paths import check_file_name, check_path, parent_and_name
from asynctrack.artifacts._uri import local_path, scheme_of
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server import _artifacts_multipart as mpu
from asynctrack.server._artifacts_io import (
    SMALL_FILE,
    body_chunks,
    check_announced_size,
    mapped_errors,
    write_small,
)
from asynctrack.server._config import ServerConfig
from asynctrack.server._errors import JSON_TYPE, error_response, internal_error
from asynctrack.server._request import read_body

__all__ = [
    "DEFAULT_ARTIFACTS_DESTINATION",
    "ArtifactService",
    "artifact_routes",
    "destination_root",
    "disabled_routes",
    "serves_artifacts",
    "store_location",
]

DEFAULT_ARTIFACTS_DESTINATION = "./mlartifacts"
#: The store's artifact root while artifacts are served: experiment ``N`` gets ``mlflow-artifacts:/N``.
PROXIED_ROOT = "mlflow-artifacts:"
FEATURE_DISABLED = "FEATURE_DISABLED"

_SERVICE_PREFIXES = tuple(prefix.removesuffix("/mlflow") for prefix in (API_PREFIX, AJAX_PREFIX))

# mimetypes reads the system's type maps on first use: at import, not on the event loop at the first request.
mimetypes.init()


class _Download(FileResponse):
    """A file as an attachment, streamed :data:`~asynctrack.artifacts._fs.CHUNK` (1 MiB) per thread hop
    (Starlette's 64 KiB would cost a hop per 64 KiB), or sent from ``data`` when the file was small enough
    to be read whole (no further hop)."""

    chunk_size = _fs.CHUNK  # the artifact stores' file read size, so the server reads files as they do

    def __init__(self, path: str, st: os.stat_result, name: str, data: bytes | None) -> None:
        super().__init__(
            path,
            stat_result=st,
            media_type=_media_type(name),
            filename=name,
            headers={"X-Content-Type-Options": "nosniff"},
        )
        self.data = data

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.data is None or scope["method"] != "GET" or Headers(scope=scope).get("range") is not None:
            await super().__call__(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.data})


def serves_artifacts(config: ServerConfig) -> bool:
    return config.serve_artifacts or config.artifacts_only


def destination_root(config: ServerConfig) -> str:
    """The artifacts destination as an absolute directory; INVALID_PARAMETER_VALUE for anything but a local
    path or ``file:`` URI (object stores are not supported)."""
    uri = config.artifacts_destination
    if scheme_of(uri) not in ("", "file"):
        raise MlflowException(
            f"--artifacts-destination {uri!r}: only a local directory (a path or a file: URI) is supported",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return local_path(uri)


def store_location(config: ServerConfig) -> StoreLocation:
    """Where the tracking store is, with the artifact root new experiments get: ``--default-artifact-root``,
    else ``mlflow-artifacts:`` when artifacts are served (MLflow's default), else the store's own."""
    location = resolve(config.backend_store_uri)
    root = config.default_artifact_root
    if root is None and serves_artifacts(config):
        root = PROXIED_ROOT
    if root is None or location.scheme not in ("sqlite", "postgresql"):
        return location
    if scheme_of(root) == "":
        root = os.path.abspath(os.path.expanduser(root))
    return msgspec.structs.replace(location, artifact_root=root.rstrip("/") or root)


class ArtifactService:
    """The artifacts destination of one server process: a local repository and its root directory."""

    def __init__(self, root: str, max_size: int | None = None) -> None:
        self.root = root
        self.repo = LocalArtifactRepository(root)
        self.max_size = max_size


# -- errors


def _disabled(request: Request, why: str, remedy: str) -> Response:
    exc = MlflowException(
        f"Endpoint: {request.url.path} disabled due to the asynctrack server running {why}. {remedy}",
        error_code=FEATURE_DISABLED,
    )
    return Response(exc.serialize_as_json(), status_code=503, media_type=JSON_TYPE)


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(fn: Callable[[Request], Awaitable[Response]]) -> Endpoint:
    async def call(request: Request) -> Response:
        try:
            return await fn(request)
        except MlflowException as exc:
            return error_response(exc)
        except Exception as exc:
            return internal_error(request, exc)

    call.__name__ = fn.__name__
    return call


def _empty() -> Response:
    return Response(b"{}", media_type=JSON_TYPE)


# -- the endpoints


def _path_param(request: Request) -> str:
    # uvicorn has decoded the path once; check_path refuses what any further decoding would reveal too.
    return check_path(request.path_params["path"])


def _media_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _open_file(service: ArtifactService, rel: str) -> tuple[str, os.stat_result, bytes | None]:
    """The artifact's path and status, and its bytes when it is small (read from the descriptor just
    checked: one thread hop for the whole file)."""
    path = service.repo.get_local_path(rel)  # symlinks resolved inside the root; RESOURCE_DOES_NOT_EXIST
    if os.path.isdir(path):
        raise MlflowException(
            f"Artifact path refers to a directory, not a file: '{rel}'", error_code=INVALID_PARAMETER_VALUE
        )
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        data = f.read(st.st_size + 1) if st.st_size <= SMALL_FILE else None
    if data is not None and len(data) != st.st_size:  # written in place meanwhile: stream it instead
        data = None
    return path, st, data


def _handlers(service: ArtifactService) -> dict[str, Endpoint]:
    repo = service.repo

    async def upload_artifact(request: Request) -> Response:
        rel = _path_param(request)
        name = "" if request.path_params["path"].endswith("/") else parent_and_name(rel)[1]
        check_file_name(name, "artifact file", shown=request.path_params["path"])
        length = request.headers.get("content-length", "")
        check_announced_size(request, service.max_size)
        with mapped_errors(rel):
            if length.isdigit() and int(length) <= SMALL_FILE:
                data = await read_body(request, int(length))
                await _fs.in_thread(write_small, service.root, rel, data)
            else:
                await repo.write_artifact(body_chunks(request, service.max_size), rel)
        return _empty()

    async def download_artifact(request: Request) -> Response:
        rel = _path_param(request)
        check_file_name(parent_and_name(rel)[1], "artifact file", shown=request.path_params["path"])
        with mapped_errors(rel):
            path, st, data = await _fs.in_thread(_open_file, service, rel)
        return _Download(path, st, parent_and_name(rel)[1], data)

    async def list_artifacts(request: Request) -> Response:
        raw = request.query_params.get("path")
        rel = check_path(raw) if raw is not None else ""
        infos = await repo.list_artifacts(rel)
        files = [
            {"path": parent_and_name(f.path)[1], "is_dir": True}
            if f.is_dir
            else {"path": parent_and_name(f.path)[1], "is_dir": False, "file_size": f.file_size or 0}
            for f in infos
        ]
        # As MLflow (protobuf's JSON): an empty listing is {}.
        return Response(msgspec.json.encode({"files": files} if files else {}), media_type=JSON_TYPE)

    async def delete_artifact(request: Request) -> Response:
        rel = _path_param(request)
        if rel == "":
            raise MlflowException(
                "Invalid artifact path '': deleting the whole artifacts destination is not allowed.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        with mapped_errors(rel):
            await repo.delete_artifacts(rel)
        return _empty()

    async def create_multipart_upload(request: Request) -> Response:
        return await mpu.create(service.root, request)

    async def upload_part(request: Request) -> Response:
        return await mpu.upload_part(service.root, request, service.max_size)

    async def complete_multipart_upload(request: Request) -> Response:
        return await mpu.complete(service.root, request, service.max_size)

    async def abort_multipart_upload(request: Request) -> Response:
        return await mpu.abort(service.root, request)

    async def presigned_download_url(request: Request) -> Response:
        _path_param(request)
        # As MLflow's server with a local destination; answered without logging an error (the official
        # client asks before each download when MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD is set).
        exc = MlflowException(
            "Multipart download is not supported for the current artifact repository",
            error_code="NOT_IMPLEMENTED",
        )
        return Response(exc.serialize_as_json(), status_code=501, media_type=JSON_TYPE)

    return {
        fn.__name__: _guarded(fn)
        for fn in (
            upload_artifact,
            download_artifact,
            list_artifacts,
            delete_artifact,
            create_multipart_upload,
            upload_part,
            complete_multipart_upload,
            abort_multipart_upload,
            presigned_download_url,
        )
    }


#: (path under ``/api/2.0`` and ``/ajax-api/2.0``, method, handler name)
_ENDPOINTS = (
    ("/mlflow-artifacts/artifacts", "GET", "list_artifacts"),
    ("/mlflow-artifacts/artifacts/{path:path}", "GET", "download_artifact"),
    ("/mlflow-artifacts/artifacts/{path:path}", "PUT", "upload_artifact"),
    ("/mlflow-artifacts/artifacts/{path:path}", "DELETE", "delete_artifact"),
    ("/mlflow-artifacts/mpu/create/{path:path}", "POST", "create_multipart_upload"),
    ("/mlflow-artifacts/mpu/complete/{path:path}", "POST", "complete_multipart_upload"),
    ("/mlflow-artifacts/mpu/abort/{path:path}", "POST", "abort_multipart_upload"),
    (mpu.PART_ROUTE, "PUT", "upload_part"),
    ("/mlflow-artifacts/presigned/{path:path}", "GET", "presigned_download_url"),
)


def artifact_routes(config: ServerConfig) -> list[Route]:
    """The artifact API's routes: served from the destination, or answering 503 as MLflow's server does
    with ``--no-serve-artifacts``."""
    if serves_artifacts(config):
        handlers = _handlers(ArtifactService(destination_root(config), config.max_artifact_size))
    else:

        async def not_serving(request: Request) -> Response:
            return _disabled(
                request,
                "with `--no-serve-artifacts`",
                "To enable artifacts server functionality, run `asynctrack server` with `--serve-artifacts`",
            )

        handlers = {name: not_serving for _, _, name in _ENDPOINTS}
    return [
        Route(prefix + path, handlers[name], methods=[method])
        for prefix in _SERVICE_PREFIXES
        for path, method, name in _ENDPOINTS
    ]


def disabled_routes(tracking: list[Route]) -> list[Route]:
    """The tracking routes in ``--artifacts-only`` mode: the API's answer 503, as MLflow's server does;
    ``/health`` and ``/version`` stay."""

    async def artifacts_only(request: Request) -> Response:
        return _disabled(
            request,
            "in `--artifacts-only` mode",
            "To enable tracking server functionality, run `asynctrack server` without `--artifacts-only`",
        )

    return [
        Route(r.path, artifacts_only, methods=sorted(r.methods or ()))
        if r.path not in ("/health", "/version")
        else r
        for r in tracking
    ]
