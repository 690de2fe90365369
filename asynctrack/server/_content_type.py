"""Every state-changing request must say ``Content-Type: application/json``, on every route.

A browser lets any page send a cross-site POST without asking the server first only when its body is a
form or plain text (``application/x-www-form-urlencoded``, ``multipart/form-data``, ``text/plain``);
JSON needs a CORS preflight, which ``_cross_origin`` refuses to foreign origins. So requiring JSON closes
the cross-site write path even for a browser that sends no ``Origin`` (old browsers, some extensions),
behind the origin check. MLflow's server requires it too, with these messages and 400
``INVALID_PARAMETER_VALUE``; every MLflow client sends it.

MLflow's UI upload (``POST /ajax-api/2.0/mlflow/upload-artifact``) carries the file itself as the body, with
no type or the file's (MLflow's server takes it so); it may have any type except the three a page can send
cross-site without a preflight (form, multipart, ``text/plain``), so the rule above still holds for it.

The other exception is the artifact API's PUT and DELETE (``/api/2.0/mlflow-artifacts/...``): a file goes
up with its own type (MLflow's client sends the type guessed from the file name, and no type at all for
multipart parts and deletes). PUT and DELETE are never sent cross-site without a preflight, so the
type adds nothing there. Its POST endpoints (multipart create, complete, abort) take JSON like the rest.

Last, a DELETE with no body at all needs no type: MLflow 3.17.2's client sends the logged-model deletes
(``DELETE /logged-models/{id}``, ``.../tags/{key}``) that way, and a browser never sends a DELETE
cross-site without a preflight.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from asynctrack.exceptions import MlflowException
from asynctrack.server._cross_origin import STATE_CHANGING
from asynctrack.server._errors import error_response
from asynctrack.server._hosts import header

__all__ = ["FILE_UPLOAD_PATHS", "JSON_ONLY_EXEMPT_PREFIXES", "ContentTypeGuard", "upload_type_error"]

#: PUT and DELETE under these paths carry files of any type.
JSON_ONLY_EXEMPT_PREFIXES = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")
_EXEMPT_METHODS = frozenset({"PUT", "DELETE"})
_ALLOWED = ["application/json"]
#: POST paths whose body is a file (any type but the cross-site-sendable ones, or none).
FILE_UPLOAD_PATHS = frozenset({"/ajax-api/2.0/mlflow/upload-artifact"})
_SIMPLE_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})


def upload_type_error(content_type: str | None) -> MlflowException | None:
    """The refusal of a file upload a browser could have sent cross-site without a preflight, or None."""
    if content_type and content_type.split(";", 1)[0].strip().lower() in _SIMPLE_TYPES:
        return MlflowException.invalid_parameter_value(
            f"Bad Request. An upload may not be sent as {content_type.split(';', 1)[0].strip()!r} (a type "
            "any web page can send cross-site); send the file with its own type or none."
        )
    return None


def content_type_error(content_type: str | None) -> MlflowException | None:
    """MLflow's error for a state-changing request with this ``Content-Type``, or None when it is JSON."""
    if content_type is None or not content_type.strip():
        return MlflowException.invalid_parameter_value("Bad Request. Content-Type header is missing.")
    if content_type.split(";", 1)[0].strip().lower() not in _ALLOWED:
        message = f"Bad Request. Content-Type must be one of {_ALLOWED}."
        return MlflowException.invalid_parameter_value(message)
    return None


def _no_body(scope: Scope) -> bool:
    length = header(scope, b"content-length")
    return header(scope, b"transfer-encoding") is None and (length is None or length.strip() == "0")


class ContentTypeGuard:
    """ASGI middleware: 400 for a POST, PUT, PATCH or DELETE that is not JSON (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in STATE_CHANGING:
            path: str = scope["path"]
            if scope["method"] == "POST" and path in FILE_UPLOAD_PATHS:
                error = upload_type_error(header(scope, b"content-type"))
                if error is not None:
                    await error_response(error)(scope, receive, send)
                    return
            elif not (
                (scope["method"] in _EXEMPT_METHODS and path.startswith(JSON_ONLY_EXEMPT_PREFIXES))
                or (scope["method"] == "DELETE" and _no_body(scope))
            ):
                error = content_type_error(header(scope, b"content-type"))
                if error is not None:
                    await error_response(error)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
