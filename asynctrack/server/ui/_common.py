"""What every endpoint of the web UI's data API shares: the prefix, the security headers, JSON out with
msgspec, MLflow's error JSON for failures, and typed query parameters with MLflow's messages."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from asynctrack.exceptions import MlflowException
from asynctrack.server._errors import JSON_TYPE, error_response, internal_error
from asynctrack.server._request import API_DOCS_HINT, invalid, missing
from asynctrack.server._state import ServerState

__all__ = [
    "SECURITY_HEADERS",
    "UI_API_PREFIX",
    "Endpoint",
    "csv_param",
    "float_param",
    "guarded",
    "int_param",
    "json_response",
    "state_of",
    "str_param",
]

UI_API_PREFIX = "/ajax-api/asynctrack/ui"

#: Sent with every UI response: no script or style from anywhere but this origin, no framing, no sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

Endpoint = Callable[[Request], Awaitable[Response]]

# Plain ASCII decimals only: Python's int() and float() also take surrounding spaces, '_' separators and
# other scripts' digits ('1_000', ' 5', '\u0661\u0662'), which no page sends and a query string should not
# carry silently.
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

_encoder = msgspec.json.Encoder()


def json_response(body: Any) -> Response:
    response = Response(_encoder.encode(body), media_type=JSON_TYPE)
    response.headers.update(SECURITY_HEADERS)
    # Answers change as runs log; a browser must not reuse one.
    response.headers["Cache-Control"] = "no-store"
    return response


def guarded(fn: Endpoint) -> Endpoint:
    """``fn`` with failures answered as MLflow's error JSON (and the UI's headers)."""

    async def call(request: Request) -> Response:
        try:
            return await fn(request)
        except MlflowException as exc:
            response = error_response(exc)
        except Exception as exc:
            response = internal_error(request, exc)
        response.headers.update(SECURITY_HEADERS)
        return response

    call.__name__ = fn.__name__
    return call


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


def str_param(
    request: Request, name: str, default: str | None = None, *, required: bool = False
) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise missing(name)
        return default
    return value


def csv_param(request: Request, name: str, *, required: bool = False, limit: int = 1000) -> list[str]:
    """A comma-separated list (repeated parameters are joined too); empty items dropped."""
    items = [item for raw in request.query_params.getlist(name) for item in raw.split(",") if item]
    if required and not items:
        raise missing(name)
    if len(items) > limit:
        raise invalid(f"Parameter '{name}' lists {len(items)} values; at most {limit} are allowed.")
    return items


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not _INT.fullmatch(raw):
        raise invalid(
            f"Invalid value {raw[:100]!r} for parameter '{name}' supplied: expected an integer. "
            + API_DOCS_HINT
        )
    # Past 30 digits it is out of any range here; int() would also refuse past 4,300 digits.
    value = int(raw) if len(raw) <= 30 else None
    if value is None or not lo <= value <= hi:
        shown = raw if len(raw) <= 40 else f"{raw[:20]}...({len(raw)} characters)"
        raise invalid(f"Invalid value {shown} for parameter '{name}' supplied: it must be in [{lo}, {hi}].")
    return value


def float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = float(raw) if _FLOAT.fullmatch(raw) else math.nan
    if not math.isfinite(value):  # also a decimal too large for a double
        raise invalid(
            f"Invalid value {raw[:100]!r} for parameter '{name}' supplied: expected a finite number. "
            + API_DOCS_HINT
        )
    return value
