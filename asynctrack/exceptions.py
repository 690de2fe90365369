"""The one exception users catch, with MLflow's error codes.

Hierarchy::

    Exception
     └── MlflowException            every error asynctrack raises on purpose; carries ``error_code``

A failure of a queued operation reaches the caller as the :class:`MlflowException` the store raised for it,
from ``RunOperations.wait()``; when several operations failed, the first is raised and all of them are
attached as its ``failures`` list.

Store drivers' own errors (sqlite3, asyncpg, httpx) are mapped to :class:`MlflowException` at the store
boundary; nothing else escapes to the user.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "BAD_REQUEST",
    "INTERNAL_ERROR",
    "INVALID_PARAMETER_VALUE",
    "INVALID_STATE",
    "RESOURCE_ALREADY_EXISTS",
    "RESOURCE_DOES_NOT_EXIST",
    "RESOURCE_EXHAUSTED",
    "TEMPORARILY_UNAVAILABLE",
    "MlflowException",
    "get_http_status_code",
]

INTERNAL_ERROR = "INTERNAL_ERROR"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
BAD_REQUEST = "BAD_REQUEST"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
INVALID_STATE = "INVALID_STATE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"

# The HTTP status MLflow's server answers with for each error code (others: 500).
_HTTP_STATUS = {
    INTERNAL_ERROR: 500,
    "INVALID_STATE": 500,
    "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501,
    TEMPORARILY_UNAVAILABLE: 503,
    "DEADLINE_EXCEEDED": 504,
    "REQUEST_LIMIT_EXCEEDED": 429,
    RESOURCE_EXHAUSTED: 429,
    "CANCELLED": 499,
    "ABORTED": 409,
    "RESOURCE_CONFLICT": 409,
    "ALREADY_EXISTS": 409,
    "NOT_FOUND": 404,
    "ENDPOINT_NOT_FOUND": 404,
    RESOURCE_DOES_NOT_EXIST: 404,
    "PERMISSION_DENIED": 403,
    "CUSTOMER_UNAUTHORIZED": 401,
    "UNAUTHENTICATED": 401,
    BAD_REQUEST: 400,
    RESOURCE_ALREADY_EXISTS: 400,
    INVALID_PARAMETER_VALUE: 400,
}


def get_http_status_code(error_code: str) -> int:
    """The HTTP status an MLflow server uses for ``error_code`` (500 when unknown)."""
    return _HTTP_STATUS.get(error_code, 500)


class MlflowException(Exception):
    """An error with an MLflow ``error_code`` string, as ``mlflow.exceptions.MlflowException``.

    >>> try:
    ...     raise MlflowException("Run 'x' not found", error_code=RESOURCE_DOES_NOT_EXIST)
    ... except MlflowException as e:
    ...     e.error_code
    'RESOURCE_DOES_NOT_EXIST'
    """

    def __init__(self, message: object, error_code: str = INTERNAL_ERROR, **kwargs: Any) -> None:
        self.error_code = error_code if isinstance(error_code, str) else INTERNAL_ERROR
        self.message = str(message)
        self.json_kwargs = kwargs
        self.failures: list[MlflowException] = [self]
        super().__init__(self.message)

    def serialize_as_json(self) -> str:
        """MLflow's REST error body: ``{"error_code": ..., "message": ...}``."""
        body = {"error_code": self.error_code, "message": self.message, **self.json_kwargs}
        return msgspec.json.encode(body).decode()

    def get_http_status_code(self) -> int:
        return get_http_status_code(self.error_code)

    @classmethod
    def invalid_parameter_value(cls, message: object, **kwargs: Any) -> MlflowException:
        return cls(message, error_code=INVALID_PARAMETER_VALUE, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.error_code, self.json_kwargs))


def _rebuild(
    cls: type[MlflowException], message: str, error_code: str, json_kwargs: dict[str, Any]
) -> MlflowException:
    # Bypasses subclasses' own __init__ signatures (StoreUnavailable takes only a message).
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.error_code = error_code
    exc.message = message
    exc.json_kwargs = dict(json_kwargs)
    exc.failures = [exc]
    return exc
