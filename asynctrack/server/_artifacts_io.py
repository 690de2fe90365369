"""What both artifact modules need from a request: its body in large chunks, and file-system failures
turned into MLflow's errors at one boundary."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import AsyncIterator, Iterator

from starlette.requests import ClientDisconnect, Request

from asynctrack.exceptions import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    RESOURCE_EXHAUSTED,
    MlflowException,
)

__all__ = ["UPLOAD_CHUNK", "body_chunks", "mapped_errors"]

#: Body bytes gathered per write: one thread hop each (uvicorn hands the body over 64 KiB or so at a time).
UPLOAD_CHUNK = 4 * 1024 * 1024


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The request body in chunks of about ``UPLOAD_CHUNK`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        if chunk:
            parts.append(chunk)
            size += len(chunk)
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
