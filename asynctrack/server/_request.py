"""Reading a request into its message Struct: bounded body, JSON or query string, MLflow's messages.

POST bodies are JSON objects decoded straight into the endpoint's Struct (``asynctrack._rest._messages``);
GET requests carry the same fields as query parameters (repeated fields as repeated parameters), as
MLflow's server takes them. A wrong type is reported as MLflow does, naming the field and the value::

    Invalid value 5 for parameter 'name' supplied: Hint: Value was of type 'int', expected a string.
    See the API docs for more information about request parameters.

The body is read in chunks and refused (413) as soon as it passes the limit; a ``Content-Length`` above
the limit is refused before anything is read.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import typing
from typing import Any, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from asynctrack.exceptions import BAD_REQUEST, INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server._errors import BodyTooLarge

__all__ = ["API_DOCS_HINT", "IDEMPOTENCY_KEY", "invalid", "missing", "read_body", "read_message", "required"]

#: The ``Idempotency-Key`` header of the request being handled (asynctrack's REST store and journal send
#: one per log-batch, so a retried or replayed request is applied once); None when absent.
IDEMPOTENCY_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("idempotency_key", default=None)


T = TypeVar("T", bound=msgspec.Struct)

_log = logging.getLogger("asynctrack.server")

API_DOCS_HINT = "See the API docs for more information about request parameters."

_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_list_fields: dict[type[Any], frozenset[str]] = {}
_any_json = msgspec.json.Decoder()

# msgspec's "Expected `int | str | null`, got `float` - at `$.metrics[0].timestamp`"
_EXPECTED = re.compile(r"Expected `(?P<want>[^`]*)`, got `(?P<got>[^`]*)`")
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_WANT = {
    "str | null": "a string",
    "int | str | null": "an integer (a JSON number or a decimal string)",
    "float | str | null": 'a number (or one of "NaN", "Infinity", "-Infinity")',
    "array | null": "a list",
    "object | null": "an object",
    "object": "an object",
    "str | int | null": "a string or an integer",
}


def invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def missing(name: str) -> MlflowException:
    """MLflow's message for an absent (or empty) required field."""
    return invalid(f"Missing value for required parameter '{name}'. {API_DOCS_HINT}")


def required(value: Any, name: str) -> Any:
    """``value``, unless it is absent or empty (MLflow treats ``""`` as absent, as protobuf does)."""
    if value is None or value == "":
        raise missing(name)
    return value


def _decoder(msg_type: type[T]) -> msgspec.json.Decoder[T]:
    dec = _decoders.get(msg_type)
    if dec is None:
        dec = _decoders[msg_type] = msgspec.json.Decoder(msg_type)
    return dec


def _lists(msg_type: type[Any]) -> frozenset[str]:
    """Names of the Struct's list fields: these take every occurrence of a repeated query parameter."""
    names = _list_fields.get(msg_type)
    if names is None:
        hints = typing.get_type_hints(msg_type)
        names = frozenset(
            name
            for name in msg_type.__struct_fields__
            if any(typing.get_origin(arg) is list for arg in typing.get_args(hints[name]))
        )
        _list_fields[msg_type] = names
    return names


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` once more than ``limit`` bytes are announced or arrive."""
    announced = request.headers.get("content-length")
    if announced is not None:
        try:
            size = int(announced)
        except ValueError:
            raise MlflowException(
                f"Invalid Content-Length header {announced!r}", error_code=BAD_REQUEST
            ) from None
        if size > limit:
            raise BodyTooLarge(limit, size)
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge(limit, None)
            chunks.append(chunk)
    except ClientDisconnect:
        raise MlflowException("The client disconnected before sending the whole body", BAD_REQUEST) from None
    return b"".join(chunks)


async def read_message(request: Request, msg_type: type[T], limit: int) -> T:
    """The request's fields as ``msg_type``: the query string of a GET with parameters, else the body."""
    if request.method == "GET" and request.url.query:
        return _from_query(request, msg_type)
    # A write's Content-Type was checked by the server's ContentTypeGuard, before any route.
    return decode_body(await read_body(request, limit), msg_type)


def decode_body(body: bytes, msg_type: type[T], *, nested: bool = False) -> T:
    """``body`` (a JSON object; empty means ``{}``, as in MLflow) as ``msg_type``."""
    try:
        return _decode_body(body, msg_type, nested)
    except RecursionError:  # msgspec's (and json's) bound on nesting: the interpreter's recursion limit
        _log.warning("refused a request body with JSON nested too deeply (%d bytes)", len(body))
        raise invalid(
            "Malformed JSON in the request body: arrays and objects nested too deeply "
            "(MLflow's messages nest a few levels; this server decodes at most a few hundred)."
        ) from None


def _decode_body(body: bytes, msg_type: type[T], nested: bool) -> T:
    if not body.strip():
        return msg_type()
    try:
        return _decoder(msg_type).decode(body)
    except msgspec.ValidationError as exc:
        try:
            value = _any_json.decode(body)
        except msgspec.DecodeError as bad:  # malformed past the first wrongly typed field
            raise _malformed(bad) from None
        if isinstance(value, str) and not nested:
            # Older MLflow clients post their JSON double-encoded as a string; MLflow decodes it again.
            return _decode_body(value.encode(), msg_type, True)
        raise _explain(exc, value) from None
    except msgspec.DecodeError as exc:
        raise _malformed(exc) from None


def _malformed(exc: msgspec.DecodeError) -> MlflowException:
    return invalid(f"Malformed JSON in the request body: {exc}. The body must be a JSON object.")


def _from_query(request: Request, msg_type: type[T]) -> T:
    lists = _lists(msg_type)
    args = request.query_params
    data: dict[str, Any] = {}
    for name in args:
        data[name] = args.getlist(name) if name in lists else args[name]
    try:
        return msgspec.convert(data, msg_type)
    except msgspec.ValidationError as exc:
        raise _explain(exc, data) from None


def _explain(exc: msgspec.ValidationError, source: Any) -> MlflowException:
    """MLflow's "Invalid value ... for parameter ..." message for a decoding error at a path."""
    text = str(exc)
    at = _AT.search(text)
    if at is None:
        got = type(source).__name__ if not isinstance(source, dict) else "object"
        return invalid(f"Invalid request body: expected a JSON object, got {_json_kind(source)} ({got}).")
    reason = text[: at.start()]
    path = ""
    value = source
    for name, index in _STEP.findall(at.group("path")):
        if name:
            path = f"{path}.{name}" if path else name
            value = value.get(name) if isinstance(value, dict) else None
        else:
            path = f"{path}[{index}]"
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
    expected = _EXPECTED.match(reason)
    if expected is not None:
        want = _WANT.get(expected.group("want"), expected.group("want"))
        rule = f"Hint: Value was of type '{type(value).__name__}', expected {want}."
    else:
        rule = f"{reason}."
    return invalid(f"Invalid value {_show(value)} for parameter '{path}' supplied: {rule} {API_DOCS_HINT}")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return text if len(text) <= 200 else text[:200] + "..."
