"""MLflow's multipart upload, served from the local artifacts destination.

MLflow's client asks for it (``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true``, files of at least
``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE``) in three steps; ``<dir>`` is the artifact directory and
``path`` the client's local file, whose base name becomes the artifact's name (as MLflow's S3 repository
does):

1. ``POST .../mlflow-artifacts/mpu/create/<dir>`` ``{"path", "num_parts"}`` →
   ``{"upload_id", "credentials": [{"url", "part_number", "headers"}]}``. With an object store the URLs are
   presigned; here they point back at this server: ``PUT .../mlflow-artifacts/mpu/parts/<upload_id>/<n>``.
2. Each part is PUT to its URL (concurrently, in any order, again on failure); the answer's ``ETag`` header
   names the stored version of the part.
3. ``POST .../mpu/complete/<dir>`` ``{"path", "upload_id", "parts": [{"part_number", "etag"}]}`` joins the
   parts, in order, into the artifact (a temporary file renamed into place); ``.../mpu/abort/<dir>``
   ``{"path", "upload_id"}`` throws them away.

An upload's state lives on disk, so any worker process can serve any step: a directory
``<destination>/.artifact.uploading.mpu/<upload_id>/`` (hidden from listings, as every name with that prefix)
holding ``meta.json`` (the target path, the number of parts) and the parts. Uploads neither completed nor
aborted are removed after a week, when a later upload is created.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from asynctrack.artifacts import _fs
from asynctrack.artifacts._paths import (
    TEMP_PREFIX,
    check_file_name,
    check_path,
    inside,
    join_inside,
    parent_and_name,
    posix_join,
)
from asynctrack.exceptions import RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.server._artifacts_io import ArtifactTooLarge, body_chunks, mapped_errors
from asynctrack.server._convert import opt_int
from asynctrack.server._errors import JSON_TYPE
from asynctrack.server._request import invalid, read_message, required

__all__ = ["MAX_PARTS", "PART_ROUTE", "abort", "complete", "create", "upload_part"]

#: As S3: an upload has at most 10,000 parts.
MAX_PARTS = 10_000
PART_ROUTE = "/mlflow-artifacts/mpu/parts/{upload_id}/{part_number}"
STATE_DIR = TEMP_PREFIX + "mpu"
_STALE_AFTER = 7 * 86_400.0
_BODY_LIMIT = 16 * 1024 * 1024  # the JSON of a complete request: 10,000 parts fit in about 1 MB
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_COPY_CHUNK = 64 * 1024 * 1024


class CreateMultipartUpload(msgspec.Struct):
    path: str | None = None
    num_parts: int | str | None = None


class PartJ(msgspec.Struct):
    part_number: int | str | None = None
    etag: str | None = None
    url: str | None = None


class CompleteMultipartUpload(msgspec.Struct):
    path: str | None = None
    upload_id: str | None = None
    parts: list[PartJ] | None = None


class AbortMultipartUpload(msgspec.Struct):
    path: str | None = None
    upload_id: str | None = None


class _Meta(msgspec.Struct, frozen=True):
    target: str
    num_parts: int


_meta_decoder = msgspec.json.Decoder(_Meta)


def _json(value: object) -> Response:
    return Response(msgspec.json.encode(value), media_type=JSON_TYPE)


def _target(request: Request, local_file: str | None) -> str:
    """The artifact an upload writes: ``<dir from the URL>/<base name of the client's local file>``."""
    directory = check_path(request.path_params["path"])
    source: str = required(local_file, "path")
    # A Windows client sends C:\\...\\model.bin: its base name is what follows the last separator of either
    # kind (the name itself must still obey the rules).
    name = re.split(r"[\\/]", source)[-1]
    return posix_join(directory, check_file_name(name, "artifact file name", shown=source))


def _upload_dir(root: str, upload_id: str | None) -> str:
    uid: str = required(upload_id, "upload_id")
    if not _UPLOAD_ID.match(uid):
        raise _unknown(uid)
    return os.path.join(root, STATE_DIR, uid)


def _unknown(upload_id: str) -> MlflowException:
    return MlflowException(
        f"No multipart upload with id {upload_id!r}: it was never created, or has been completed or aborted.",
        error_code=RESOURCE_DOES_NOT_EXIST,
    )


def _read_meta(directory: str, upload_id: str) -> _Meta:
    try:
        with open(os.path.join(directory, "meta.json"), "rb") as f:
            return _meta_decoder.decode(f.read())
    except FileNotFoundError:
        raise _unknown(upload_id) from None


def _check_same_target(meta: _Meta, target: str) -> None:
    if meta.target != target:
        raise invalid(
            f"This multipart upload writes '{meta.target}', not '{target}': give the same directory and file "
            "as when it was created."
        )


def _part_name(number: int) -> str:
    return f"part-{number:05d}"


def _etag(st: os.stat_result) -> str:
    # Names this version of the part (a retried PUT replaces the file: a new inode and time), without
    # reading the bytes again to hash them.
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'


# -- create


def _sweep(state: str, now: float) -> None:
    try:
        entries = list(os.scandir(state))
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False) and now - entry.stat().st_mtime > _STALE_AFTER:
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue


def _start(root: str, target: str, num_parts: int) -> str:
    join_inside(root, parent_and_name(target)[0])  # fail now on a directory leading outside
    state = os.path.join(root, STATE_DIR)
    os.makedirs(state, exist_ok=True)
    if not inside(root, state):
        raise invalid(f"The artifacts destination's {STATE_DIR} is a link leading outside it.")
    _sweep(state, time.time())
    upload_id = secrets.token_hex(16)
    directory = os.path.join(state, upload_id)
    os.mkdir(directory)
    with open(os.path.join(directory, "meta.json"), "wb") as f:
        f.write(msgspec.json.encode(_Meta(target, num_parts)))
    return upload_id


async def create(root: str, request: Request) -> Response:
    msg = await read_message(request, CreateMultipartUpload, _BODY_LIMIT)
    target = _target(request, msg.path)
    num_parts = opt_int(msg.num_parts, "num_parts") or 1
    if not 1 <= num_parts <= MAX_PARTS:
        raise invalid(f"num_parts must be between 1 and {MAX_PARTS}, got {num_parts}.")
    upload_id = await _fs.in_thread(_start, root, target, num_parts)
    base = str(request.base_url).rstrip("/") + request.url.path.split("/mlflow-artifacts/", 1)[0]
    credentials = [
        {
            "url": f"{base}{PART_ROUTE.format(upload_id=upload_id, part_number=n)}",
            "part_number": n,
            "headers": {},
        }
        for n in range(1, num_parts + 1)
    ]
    return _json({"upload_id": upload_id, "credentials": credentials})


# -- parts


def _part_path(root: str, upload_id: str, part: str) -> str:
    directory = _upload_dir(root, upload_id)
    meta = _read_meta(directory, upload_id)
    number = opt_int(part, "part_number")
    if number is None or not 1 <= number <= meta.num_parts:
        raise invalid(f"part_number must be between 1 and {meta.num_parts} for this upload, got {part!r}.")
    return os.path.join(directory, _part_name(number))


async def upload_part(root: str, request: Request, max_size: int | None = None) -> Response:
    upload_id = request.path_params["upload_id"]
    dest = await _fs.in_thread(_part_path, root, upload_id, request.path_params["part_number"])
    with mapped_errors(f"{STATE_DIR}/{upload_id}/{os.path.basename(dest)}"):
        try:
            await _fs.write_bytes(body_chunks(request, max_size), dest)
            st = await _fs.in_thread(os.stat, dest)
        except FileNotFoundError:  # aborted or completed meanwhile
            raise _unknown(upload_id) from None
    response = _json({})
    response.headers["ETag"] = _etag(st)
    return response


# -- complete and abort


def _copy_into(dst: int, part: str) -> None:
    with open(part, "rb") as f:
        src = f.fileno()
        size = os.fstat(src).st_size
        offset = 0
        try:
            while offset < size:
                copied = os.copy_file_range(src, dst, min(_COPY_CHUNK, size - offset), offset)
                if copied == 0:
                    break
                offset += copied
        except OSError:  # no copy_file_range across these file systems: plain reads and writes
            if offset:
                raise
        if offset < size:
            f.seek(offset)
            while chunk := f.read(_fs.CHUNK):
                os.write(dst, chunk)


def _finish(
    root: str, upload_id: str, target: str, parts: list[tuple[int, str | None]], max_size: int | None
) -> None:
    directory = _upload_dir(root, upload_id)
    meta = _read_meta(directory, upload_id)
    _check_same_target(meta, target)
    sources = []
    total = 0
    for number, etag in parts:
        part = os.path.join(directory, _part_name(number))
        try:
            st = os.stat(part)
        except FileNotFoundError:
            raise invalid(f"Part {number} of the multipart upload {upload_id} was not uploaded.") from None
        if etag and etag.strip('"') != _etag(st).strip('"'):
            raise invalid(
                f"Part {number} of the multipart upload {upload_id} has changed since it was uploaded "
                f"(ETag {etag}, now {_etag(st)}): upload it again."
            )
        sources.append(part)
        total += st.st_size
    if max_size is not None and total > max_size:
        shutil.rmtree(directory, ignore_errors=True)  # it can never complete: free the space now
        raise ArtifactTooLarge(max_size, total)
    parent, name = parent_and_name(target)
    dest_dir = join_inside(root, parent)
    os.makedirs(dest_dir, exist_ok=True)
    join_inside(root, parent)  # again: a link may have appeared on the way meanwhile
    dest = os.path.join(dest_dir, name)
    tmp = os.path.join(dest_dir, TEMP_PREFIX + secrets.token_hex(8))
    try:
        if len(sources) == 1:
            try:
                os.link(sources[0], tmp)  # one part: no copy at all
            except OSError:
                shutil.copyfile(sources[0], tmp)
        else:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                for part in sources:
                    _copy_into(fd, part)
            finally:
                os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
    shutil.rmtree(directory, ignore_errors=True)


async def complete(root: str, request: Request, max_size: int | None = None) -> Response:
    msg = await read_message(request, CompleteMultipartUpload, _BODY_LIMIT)
    target = _target(request, msg.path)
    given: list[PartJ] = required(msg.parts, "parts")
    parts: dict[int, str | None] = {}
    for i, p in enumerate(given):
        number = opt_int(p.part_number, f"parts[{i}].part_number")
        if number is None or not 1 <= number <= MAX_PARTS:
            raise invalid(f"parts[{i}].part_number must be between 1 and {MAX_PARTS}, got {p.part_number!r}.")
        if number in parts:
            raise invalid(f"Part {number} is listed twice.")
        parts[number] = p.etag
    with mapped_errors(target):
        upload_id: str = required(msg.upload_id, "upload_id")
        await _fs.in_thread(_finish, root, upload_id, target, sorted(parts.items()), max_size)
    return _json({})


def _discard(root: str, upload_id: str | None, target: str) -> None:
    directory = _upload_dir(root, upload_id)
    assert upload_id is not None
    _check_same_target(_read_meta(directory, upload_id), target)
    shutil.rmtree(directory, ignore_errors=True)


async def abort(root: str, request: Request) -> Response:
    msg = await read_message(request, AbortMultipartUpload, _BODY_LIMIT)
    target = _target(request, msg.path)
    await _fs.in_thread(_discard, root, msg.upload_id, target)
    return _json({})
