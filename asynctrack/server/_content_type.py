"""Every state-changing request must say ``Content-Type: application/json``, on every route.

A browser lets any page send a cross-site POST without asking the server first only when its body is a
form or plain text (``application/x-www-form-urlencoded``, ``multipart/form-data``, ``text/plain``);
JSON needs a CORS preflight, which ``_cross_origin`` refuses to foreign origins. So requiring JSON closes
the cross-site write path even for a browser that sends no ``Origin`` (old browsers, some extensions),
behind the origin check. MLflow's server requires it too, with these messages and 400
``INVALID_PARAMETER_VALUE``; every MLflow client sends it.

The one exception is the artifact API's PUT and DELETE (``/api/2.0/mlflow-artifacts/...``): a file goes
up with its own type (MLflow's client sends the type guessed from the file name, and no type at all for
multipart parts and deletes). PUT and DELETE are never sent cross-site without a preflight, so the
type adds nothing there. Its POST endpoints (multipart create, complete, abort) take JSON like the rest.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from asynctrack.exceptions import MlflowException
from asynctrack.server._cross_origin import STATE_CHANGING
from asynctrack.server._errors import error_response
from asynctrack.server._hosts import header

__all__ = ["JSON_ONLY_EXEMPT_PREFIXES", "ContentTypeGuard"]

#: PUT and DELETE under these paths carry files of any type.
JSON_ONLY_EXEMPT_PREFIXES = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")
_EXEMPT_METHODS = frozenset({"PUT", "DELETE"})
_ALLOWED = ["application/json"]


def content_type_error(content_type: str | None) -> MlflowException | None:
    """MLflow's error for a state-changing request with this ``Content-Type``, or None when it is JSON."""
    if content_type is None or not content_type.strip():
        return MlflowException.invalid_parameter_value("Bad Request. Content-Type header is missing.")
    if content_type.split(";", 1)[0].strip().lower() not in _ALLOWED:
        message = f"Bad Request. Content-Type must be one of {_ALLOWED}."
        return MlflowException.invalid_parameter_value(message)
    return None


class ContentTypeGuard:
    """ASGI middleware: 400 for a POST, PUT, PATCH or DELETE that is not JSON (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in STATE_CHANGING:
            path: str = scope["path"]
            if not (scope["method"] in _EXEMPT_METHODS and path.startswith(JSON_ONLY_EXEMPT_PREFIXES)):
                error = content_type_error(header(scope, b"content-type"))
                if error is not None:
                    await error_response(error)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
