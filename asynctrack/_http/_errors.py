"""HTTP failures mapped to asynctrack's errors, at one boundary (the REST store's and the artifact
client's).

Hierarchy of what leaves the REST store::

    MlflowException                 permanent: the request is wrong, or the setup is (TLS, URL)
     │                              error_code from MLflow's error JSON, else from the HTTP status
     └── StoreUnavailable           transient, after the retries: connection refused or reset,
                                    timeout, HTTP 408/429/5xx (TEMPORARILY_UNAVAILABLE)
"""

from __future__ import annotations

import ssl

import httpx
import msgspec

from asynctrack._redact import redact
from asynctrack._rest._messages import ErrorJ
from asynctrack.exceptions import INTERNAL_ERROR, INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "describe_failure",
    "error_from_response",
    "malformed_response",
    "permanent_transport_error",
]

# MLflow's HTTP_STATUS_TO_ERROR_CODE: the error code of an answer without MLflow's error JSON.
_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: INTERNAL_ERROR,
    501: "NOT_IMPLEMENTED",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_BODY_SHOWN = 500  # characters of a non-JSON error body quoted in a message

_error_decoder = msgspec.json.Decoder(ErrorJ)


def _error_json(body: bytes) -> ErrorJ | None:
    try:
        err = _error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return err if err.error_code or err.message else None


def _quote_body(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= _BODY_SHOWN else text[:_BODY_SHOWN] + "..."


def error_from_response(status: int, body: bytes, url: str) -> MlflowException:
    """The permanent error for an answer that is neither a success nor worth retrying.

    With MLflow's error JSON, its ``error_code`` and ``message`` (as MLflow's ``RestException``, without
    its "CODE: " message prefix: asynctrack keeps the code in ``error_code`` only); otherwise the code
    MLflow derives from the HTTP status and a message quoting the body.
    """
    err = _error_json(body)
    if err is not None:
        code = err.error_code or _STATUS_CODES.get(status, INTERNAL_ERROR)
        if code.isdigit():  # some proxies put the HTTP status there
            code = _STATUS_CODES.get(int(code), INTERNAL_ERROR)
        return MlflowException(
            err.message or f"Response: {_quote_body(body)}",
            error_code=code,
            sqlstate=err.sqlstate,
            error_class=err.error_class,
        )
    return MlflowException(
        f"API request to {redact(url)} failed with error code {status} != 200. "
        f"Response body: '{_quote_body(body)}'",
        error_code=_STATUS_CODES.get(status, INTERNAL_ERROR),
    )


def describe_failure(status: int, body: bytes) -> str:
    """A short description of a transient HTTP answer, for retry logs and the final error."""
    err = _error_json(body)
    if err is not None:
        return f"HTTP {status} {err.error_code or ''}: {err.message or ''}".replace("  ", " ")
    text = _quote_body(body)
    return f"HTTP {status}" + (f": {text}" if text else "")


def malformed_response(url: str, exc: Exception) -> MlflowException:
    return MlflowException(
        f"API request to {redact(url)} returned a body that is not MLflow's JSON: {exc}",
        error_code=INTERNAL_ERROR,
    )


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        out.append(cur)
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return out


# TLS failures that are the connection's fault, not the setup's: retried like any dropped connection.
_TRANSIENT_SSL = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


def permanent_transport_error(exc: httpx.TransportError, url: str) -> MlflowException | None:
    """The permanent error behind a transport failure (certificate, TLS setup, URL), or None when the
    failure is transient (refused, reset, timed out) and the request should be retried."""
    where = redact(url)
    for e in _chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return MlflowException(
                f"API request to {where} failed: the server's TLS certificate could not be verified "
                f"({e.verify_message or e.reason}). If the server uses a private CA, set "
                "MLFLOW_TRACKING_SERVER_CERT_PATH to that CA's certificate bundle; to skip verification "
                "(insecure), set MLFLOW_TRACKING_INSECURE_TLS=true.",
                error_code=INTERNAL_ERROR,
            )
        if isinstance(e, ssl.SSLError) and not isinstance(e, _TRANSIENT_SSL):
            return MlflowException(
                f"API request to {where} failed: TLS handshake error ({e.reason or e}). Check that the "
                "tracking URI's scheme (http/https) matches the server.",
                error_code=INTERNAL_ERROR,
            )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return MlflowException(f"API request to {where} failed: {exc}", error_code=INVALID_PARAMETER_VALUE)
    return None
