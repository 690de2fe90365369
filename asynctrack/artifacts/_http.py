"""The HTTP artifact repository: artifacts behind a tracking server's proxied artifact API.

``mlflow server`` and ``asynctrack server`` with ``--serve-artifacts`` give runs artifact URIs such as
``mlflow-artifacts:/1/<run_id>/artifacts``; as MLflow's client does, such a URI is resolved against the
tracking URI (``http://host:5000`` → ``http://host:5000/api/2.0/mlflow-artifacts/artifacts/1/<run_id>/
artifacts``; ``mlflow-artifacts://other:5001/...`` names its own host). ``http(s)://.../mlflow-artifacts/
artifacts/...`` URIs name the API directly. Files go up as one streamed ``PUT`` each (read in 1 MiB chunks,
never whole), or, for files of at least ``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`` when the client asks
for it (``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD``) or the server says it supports it (``/api/3.0/mlflow/
server-info``, for ``mlflow-artifacts:`` URIs), in parts of ``MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE`` through
MLflow's multipart API: the choice MLflow's client makes. Downloads stream into a temporary file renamed
into place. Authentication, TLS and retries are MLflow's variables, read when the repository is made
(``store/rest/_config.py``); connections are pooled per server (``_http_client``).

Every path sent is checked by ``_paths`` first, and every path a listing returns before the generic
``download_artifacts`` creates anything, so a hostile server cannot make a download write outside its
destination.
"""

from __future__ import annotations

import math
import mimetypes
import os
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator

import aiofiles
import anyio
import httpx
import msgspec

from asynctrack._http._config import HttpConfig
from asynctrack._redact import redact
from asynctrack._tracking_uri import get_tracking_uri
from asynctrack.artifacts import _fs
from asynctrack.artifacts._http_client import Body, HttpSession, origin_of, session_for
from asynctrack.artifacts._local import _plan_tree
from asynctrack.artifacts._paths import (
    check_file_name,
    check_path,
    has_control,
    parent_and_name,
    posix_join,
)
from asynctrack.artifacts._repository import ArtifactRepository, FileInfo, register_artifact_repository
from asynctrack.environment import (
    MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD,
    MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE,
    MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE,
)
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD",
    "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE",
    "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE",
    "HttpArtifactRepository",
    "resolve_artifact_uri",
]


_ANCHOR = "/mlflow-artifacts/artifacts"
_API = "/api/2.0"
_SERVER_INFO = "/api/3.0/mlflow/server-info"
_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
_UPLOAD_CHUNK = 1024 * 1024
_CAPABILITY_TTL = 60.0  # as MLflow's client caches server-info


class _FileJ(msgspec.Struct):
    path: str = ""
    is_dir: bool = False
    file_size: int | str | None = None


class _ListJ(msgspec.Struct):
    files: list[_FileJ] | None = None


class _CredentialJ(msgspec.Struct):
    url: str
    part_number: int
    headers: dict[str, str] | None = None


class _CreateJ(msgspec.Struct):
    upload_id: str | None = None
    credentials: list[_CredentialJ] | None = None


class _ServerInfoJ(msgspec.Struct):
    multipart_uploads_enabled: bool = False


_list_decoder = msgspec.json.Decoder(_ListJ)
_create_decoder = msgspec.json.Decoder(_CreateJ)
_info_decoder = msgspec.json.Decoder(_ServerInfoJ)
_any_decoder = msgspec.json.Decoder()


class _MultipartUnsupported(Exception):
    """The server has no multipart upload for its destination: upload in one request instead."""


def _bad(uri: str, rule: str) -> MlflowException:
    return MlflowException(
        f"Invalid artifact URI {redact(uri)!r}: {rule}.", error_code=INVALID_PARAMETER_VALUE
    )


def _root_path(uri: str, raw: str) -> str:
    # Relative to the server's artifacts destination; the server decodes the URL path once, so the root is
    # what it will see.
    try:
        return check_path(urllib.parse.unquote(raw).lstrip("/"), "artifact URI path")
    except MlflowException as exc:
        raise _bad(uri, exc.message.rstrip(".")) from None


def resolve_artifact_uri(artifact_uri: str, tracking_uri: str | None) -> tuple[str, str, str | None]:
    """``(service URL, root path, server URL)`` for an artifact URI: requests go to ``<service URL>/mlflow-
    artifacts/...``, the root path (canonical) leads every artifact path, and the server URL (None for an
    ``http(s)`` artifact URI) is where ``server-info`` is asked, as MLflow's client resolves them."""
    if has_control(artifact_uri):
        raise _bad(artifact_uri, "control characters (such as NUL or newlines) are not allowed")
    parts = urllib.parse.urlsplit(artifact_uri)
    if parts.query or parts.fragment or "#" in artifact_uri:
        raise _bad(artifact_uri, "a query ('?') or fragment ('#') is not allowed")
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if _ANCHOR not in parts.path or not parts.hostname:
            raise _bad(
                artifact_uri,
                f"an http(s) artifact URI names the artifact API: http://host:port{_API}{_ANCHOR}/...",
            )
        before, _, after = parts.path.partition(_ANCHOR)
        service = urllib.parse.urlunsplit((scheme, parts.netloc, before.rstrip("/"), "", ""))
        return service, _root_path(artifact_uri, after), None
    tracking = tracking_uri if tracking_uri is not None else get_tracking_uri()
    track = urllib.parse.urlsplit(tracking)
    if track.scheme.lower() not in ("http", "https"):
        raise MlflowException(
            "When an mlflow-artifacts URI was supplied, the tracking URI must be a valid http or https URI, "
            f"but it was currently set to {redact(tracking)}. Perhaps you forgot to set the tracking URI to "
            "the running MLflow server. To set the tracking URI, use either of the following methods:\n"
            "1. Set the MLFLOW_TRACKING_URI environment variable to the desired tracking URI. "
            "`export MLFLOW_TRACKING_URI=http://localhost:5000`\n"
            "2. Set the tracking URI programmatically by calling `mlflow.set_tracking_uri`. "
            "`mlflow.set_tracking_uri('http://localhost:5000')`",
            error_code=INVALID_PARAMETER_VALUE,
        )
    hostname = parts.hostname or ""
    if hostname.replace(".", "", 1).isdigit() and parts.port is None:
        raise MlflowException(
            f"The mlflow-artifacts uri was supplied with a port number: {hostname}, but no host was defined.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    server = urllib.parse.urlunsplit(
        (track.scheme.lower(), parts.netloc or track.netloc, track.path.rstrip("/"), "", "")
    )
    return server + _API, _root_path(artifact_uri, parts.path), server


async def _file_chunks(path: str, offset: int, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes of ``path`` from ``offset``, 1 MiB per read (each read on an artifact I/O thread)."""
    async with aiofiles.open(path, "rb", executor=_fs.io_executor()) as f:
        if offset:
            await f.seek(offset)
        remaining = length
        while remaining > 0:
            chunk = await f.read(min(_UPLOAD_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def _file_body(path: str, offset: int, length: int) -> Body:
    return (lambda: _file_chunks(path, offset, length), length)


def _read_small(path: str) -> tuple[int, bytes | None]:
    """The file's size, and its contents when it is small (one thread hop for both)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return size, (f.read() if size <= _fs.SMALL_FILE else None)


# mimetypes reads the system's type maps (/etc/mime.types, ...) on first use; do it at import, not on the
# event loop at the first upload (found by the blocking-call detector in the tests).
mimetypes.init()

_capabilities: dict[str, tuple[float, bool]] = {}
_capabilities_lock = threading.Lock()


class HttpArtifactRepository(ArtifactRepository):
    """Artifacts behind MLflow's proxied artifact API (``mlflow-artifacts:``, ``http(s):``)."""

    concurrency = 8  # files (or parts) in flight at once for one call

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri)
        self._service, self.root, self._server = resolve_artifact_uri(artifact_uri, tracking_uri)
        self._config = HttpConfig.from_env()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.artifact_uri)!r})"

    # -- plumbing
    def _session(self, url: str | None = None) -> HttpSession:
        return session_for(url or self._service, self._config)

    def _url(self, rel: str, route: str = _ANCHOR) -> str:
        return f"{self._service}{route}/{urllib.parse.quote(posix_join(self.root, rel))}"

    async def _discard_body(self, response: httpx.Response) -> None:
        await response.aread()

    async def _put(self, dest: str, body: Body, *, retry: bool = True) -> None:
        name = parent_and_name(dest)[1]
        headers = {"Content-Type": mimetypes.guess_type(name)[0] or "application/octet-stream"}
        url = self._url(dest)
        await self._session().request("PUT", url, self._discard_body, body=body, headers=headers, retry=retry)

    # -- writing
    async def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        rel_dir = check_path(artifact_path)
        local = os.fspath(local_file)
        name = check_file_name(os.path.basename(local), "artifact file name")
        await self._upload_file(local, rel_dir, name)

    async def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """Every file below ``local_dir``; empty directories are not created (the API has no call for them,
        as with MLflow's client)."""
        rel_dir = check_path(artifact_path)
        _, files = await _fs.in_thread(_plan_tree, os.fspath(local_dir))

        async def upload(item: tuple[str, str]) -> None:
            src, rel = item
            parent, name = parent_and_name(posix_join(rel_dir, rel))
            await self._upload_file(src, parent, name)

        await _fs.for_each(files, upload, self.concurrency)

    async def write_artifact(self, data: bytes | AsyncIterator[bytes], artifact_file: str) -> None:
        rel = check_path(artifact_file, "artifact file")
        check_file_name(parent_and_name(rel)[1], "artifact file", shown=artifact_file)
        if isinstance(data, bytes):
            await self._put(rel, data)
        else:  # a stream is read once: sent chunked, not retried
            await self._put(rel, (lambda: data, None), retry=False)

    async def _upload_file(self, local: str, rel_dir: str, name: str) -> None:
        size, data = await _fs.in_thread(_read_small, local)
        if data is not None and len(data) == size:
            await self._put(posix_join(rel_dir, name), data)
            return
        if size >= MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE.get() and await self._multipart_enabled():
            try:
                await self._multipart_upload(local, size, rel_dir)
                return
            except _MultipartUnsupported:
                pass
        await self._put(posix_join(rel_dir, name), _file_body(local, 0, size))

    async def delete_artifacts(self, artifact_path: str | None = None) -> None:
        rel = check_path(artifact_path)
        await self._session().request("DELETE", self._url(rel), self._discard_body)

    # -- multipart upload, as MLflow's client does it
    async def _multipart_enabled(self) -> bool:
        if MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD.is_set():
            return MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD.get()
        if self._server is None:  # an http(s) artifact URI: MLflow's client reads the variable only
            return False
        now = time.monotonic()
        with _capabilities_lock:
            cached = _capabilities.get(self._server)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            info = await self._session().json(
                "GET", self._server + _SERVER_INFO, decoder=_info_decoder, retry=False, http_timeout=3.0
            )
            enabled = info.multipart_uploads_enabled
        except MlflowException:  # no such endpoint (an older server): no multipart, as MLflow decides
            enabled = False
        with _capabilities_lock:
            _capabilities[self._server] = (now + _CAPABILITY_TTL, enabled)
        return enabled

    def _mpu_url(self, step: str, rel_dir: str) -> str:
        return self._url(rel_dir, f"/mlflow-artifacts/mpu/{step}")

    async def _multipart_upload(self, local: str, size: int, rel_dir: str) -> None:
        chunk = MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE.get()
        num_parts = max(1, math.ceil(size / chunk))
        session = self._session()
        try:
            created = await session.json(
                "POST",
                self._mpu_url("create", rel_dir),
                body={"path": local, "num_parts": num_parts},
                decoder=_create_decoder,
            )
        except MlflowException as exc:
            if exc.message.startswith(_UNSUPPORTED):
                raise _MultipartUnsupported from exc
            raise
        own_origin = origin_of(self._service)
        etags: dict[int, str] = {}

        async def upload_part(credential: _CredentialJ) -> None:
            offset = (credential.part_number - 1) * chunk
            length = max(0, min(chunk, size - offset))

            async def etag(response: httpx.Response) -> str:
                await response.aread()
                return str(response.headers.get("ETag", ""))

            etags[credential.part_number] = await self._session(credential.url).request(
                "PUT",
                credential.url,
                etag,
                body=_file_body(local, offset, length),
                headers=credential.headers or {},
                authorize=origin_of(credential.url) == own_origin,  # no token for a presigned URL
            )

        parts = {"path": local, "upload_id": created.upload_id}
        try:
            await _fs.for_each(created.credentials or [], upload_part, self.concurrency)
            done = [{"part_number": n, "etag": etags[n]} for n in sorted(etags)]
            await session.json(
                "POST",
                self._mpu_url("complete", rel_dir),
                body={**parts, "parts": done},
                decoder=_any_decoder,
            )
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                try:
                    await session.json(
                        "POST", self._mpu_url("abort", rel_dir), body=parts, decoder=_any_decoder, retry=False
                    )
                except MlflowException:
                    pass
            raise

    # -- reading
    async def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel = check_path(path)
        listing = await self._session().json(
            "GET",
            f"{self._service}{_ANCHOR}",
            params={"path": posix_join(self.root, rel)},
            decoder=_list_decoder,
        )
        infos = []
        for f in listing.files or []:
            name = check_path(f.path, "listed artifact path")
            if f.is_dir:
                infos.append(FileInfo(posix_join(rel, name), True, None))
            else:
                infos.append(FileInfo(posix_join(rel, name), False, int(f.file_size or 0)))
        # A server may list a file as itself; the protocol says [] for a file (MLflow's client does this too).
        if (
            len(infos) == 1
            and not infos[0].is_dir
            and rel
            and infos[0].path == posix_join(rel, rel.split("/")[-1])
        ):
            return []
        infos.sort(key=lambda f: f.path)
        return infos

    async def _download_file(self, remote_path: str, local_path: str) -> None:
        rel = check_path(remote_path)

        await self._session().download(self._url(rel), local_path)


register_artifact_repository("mlflow-artifacts", HttpArtifactRepository)
register_artifact_repository("http", HttpArtifactRepository)
register_artifact_repository("https", HttpArtifactRepository)
