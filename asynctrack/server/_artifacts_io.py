"""What both artifact modules need: a request body in large chunks, small files read or written in one
thread hop, and file-system failures turned into MLflow's errors at one boundary."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import AsyncIterator, Iterator

from starlette.requests import ClientDisconnect, Request

from asynctrack.artifacts._fs import SMALL_FILE
from asynctrack.artifacts._paths import TEMP_PREFIX, join_inside, parent_and_name
from asynctrack.exceptions import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    RESOURCE_EXHAUSTED,
    MlflowException,
)
from asynctrack.server._errors import BodyTooLarge

__all__ = [
    "SMALL_FILE",
    "UPLOAD_CHUNK",
    "ArtifactTooLarge",
    "body_chunks",
    "check_announced_size",
    "mapped_errors",
    "write_small",
]

#: Body bytes gathered per write: one thread hop each (uvicorn hands the body over 64 KiB or so at a time).
UPLOAD_CHUNK = 4 * 1024 * 1024


class ArtifactTooLarge(BodyTooLarge):
    """An artifact over ``--max-artifact-size``: HTTP 413, and nothing of it is kept."""

    def __init__(self, limit: int, size: int | None) -> None:
        got = "" if size is None else f" ({size} bytes)"
        MlflowException.__init__(
            self,
            f"Artifact too large{got}: this server accepts artifact files of at most {limit} bytes "
            "(--max-artifact-size); nothing was stored.",
            error_code=BAD_REQUEST,
        )


def check_announced_size(request: Request, limit: int | None) -> None:
    """:class:`ArtifactTooLarge` before reading anything when ``Content-Length`` is over ``limit``."""
    length = request.headers.get("content-length", "")
    if limit is not None and length.isdigit() and int(length) > limit:
        raise ArtifactTooLarge(limit, int(length))


async def body_chunks(request: Request, limit: int | None = None) -> AsyncIterator[bytes]:
    """The request body in chunks of about ``UPLOAD_CHUNK`` bytes; :class:`ArtifactTooLarge` as soon as
    more than ``limit`` bytes have arrived (the writer then discards what it wrote)."""
    check_announced_size(request, limit)
    parts: list[bytes] = []
    size = 0
    total = 0
    async for chunk in request.stream():
        if chunk:
            parts.append(chunk)
            size += len(chunk)
            total += len(chunk)
            if limit is not None and total > limit:
                raise ArtifactTooLarge(limit, None)
        if size >= UPLOAD_CHUNK:
            yield b"".join(parts)
            parts, size = [], 0
    if parts:
        yield b"".join(parts)


@contextlib.contextmanager
def mapped_errors(rel: str) -> Iterator[None]:
    """File-system failures while handling the artifact ``rel`` as MLflow's errors."""
    try:
        yield
    except ClientDisconnect:
        raise MlflowException("The client disconnected before sending the whole body", BAD_REQUEST) from None
    except FileNotFoundError:
        raise MlflowException(f"No such artifact: '{rel}'", error_code=RESOURCE_DOES_NOT_EXIST) from None
    except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        raise MlflowException(
            f"Invalid artifact path '{rel}': a file and a directory cannot share a name ({exc.strerror}).",
            error_code=INVALID_PARAMETER_VALUE,
        ) from None
    except PermissionError as exc:
        raise MlflowException(
            f"The server may not write '{rel}': {exc.strerror}", error_code="PERMISSION_DENIED"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            raise MlflowException(
                f"The artifacts destination is full: '{rel}' was not stored.", error_code=RESOURCE_EXHAUSTED
            ) from None
        raise


def write_small(root: str, rel: str, data: bytes) -> None:
    """``data`` as the artifact ``rel`` under ``root``, in one go (call it on an I/O thread): the directory is
    created and checked inside the root with symlinks resolved, as the local repository does, then a
    temporary file is renamed into place (a link at the name itself is replaced, never followed)."""
    parent, name = parent_and_name(rel)
    directory = join_inside(root, parent)
    os.makedirs(directory, exist_ok=True)
    join_inside(root, parent)  # again: a link may have appeared on the way meanwhile
    tmp = os.path.join(directory, TEMP_PREFIX + secrets.token_hex(8))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with open(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
