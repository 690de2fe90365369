"""MLflow's error responses: ``{"error_code", "message", "sqlstate", "error_class"}`` with MLflow's status.

Every failure leaves the server through here, as JSON: an :class:`MlflowException` with the HTTP status
MLflow gives its error code, an unknown path as ``ENDPOINT_NOT_FOUND`` (404), a wrong method as 405, an
oversize body as 413, and anything unexpected as ``INTERNAL_ERROR`` (500) with the traceback logged here
and never sent to the client.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from asynctrack.exceptions import BAD_REQUEST, INTERNAL_ERROR, MlflowException

__all__ = [
    "BodyTooLarge",
    "JSON_TYPE",
    "endpoint_not_found",
    "error_response",
    "internal_error",
    "method_not_allowed",
]

_log = logging.getLogger("asynctrack.server")

JSON_TYPE = "application/json"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"


class BodyTooLarge(MlflowException):
    """A request body over the configured limit: HTTP 413, whatever MLflow's table says for the code."""

    status = 413

    def __init__(self, limit: int, size: int | None) -> None:
        got = "" if size is None else f" (got {size} bytes)"
        super().__init__(
            f"Request body too large{got}: this server accepts at most {limit} bytes per request; "
            "split the data across several requests (a log-batch carries at most 1000 metrics).",
            error_code=BAD_REQUEST,
        )


def error_response(exc: MlflowException) -> Response:
    """The JSON body and status MLflow's server sends for ``exc``."""
    status = exc.status if isinstance(exc, BodyTooLarge) else exc.get_http_status_code()
    if status >= 500:
        _log.error("%s: %s", exc.error_code, exc.message)
    return Response(exc.serialize_as_json(), status_code=status, media_type=JSON_TYPE)


def endpoint_not_found(request: Request) -> Response:
    exc = MlflowException(
        f"No API endpoint {request.method} {request.url.path!r}: asynctrack server does not implement "
        "it (it serves MLflow's tracking REST API; docs/server.md lists the endpoints).",
        error_code=ENDPOINT_NOT_FOUND,
    )
    return error_response(exc)


def method_not_allowed(request: Request, allowed: str) -> Response:
    exc = MlflowException(
        f"Method {request.method} is not allowed for {request.url.path}; use {allowed}.",
        error_code=BAD_REQUEST,
    )
    response = Response(exc.serialize_as_json(), status_code=405, media_type=JSON_TYPE)
    response.headers["Allow"] = allowed
    return response


def internal_error(request: Request, exc: BaseException) -> Response:
    """A bug or an unmapped failure: logged with its traceback here, a bare INTERNAL_ERROR for the client."""
    _log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    body = MlflowException(
        f"Internal error while handling {request.method} {request.url.path}: {type(exc).__name__}; "
        "see the server log for details.",
        error_code=INTERNAL_ERROR,
    )
    return Response(body.serialize_as_json(), status_code=500, media_type=JSON_TYPE)
