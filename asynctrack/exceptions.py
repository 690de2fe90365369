"""The one exception users catch, with MLflow's error codes, and the subclasses that name a situation.

Hierarchy::

    Exception
     ├── MlflowException                 every error asynctrack raises on purpose; carries ``error_code``
     │    ├── QueueFull                  RESOURCE_EXHAUSTED: the logging queue is full and
     │    │                              ASYNCTRACK_QUEUE_FULL=raise; the operation was not accepted
     │    ├── PipelineClosed             RESOURCE_EXHAUSTED: the pipeline (or the artifact upload queue) is
     │    │                              closed or stopped: the operation was not accepted, or not written
     │    ├── StoreUnavailable           TEMPORARILY_UNAVAILABLE: a transient store failure, retried
     │    │                              (asynctrack.store)
     │    ├── JournalFullError           RESOURCE_EXHAUSTED: the write-ahead journal's disk is full
     │    │                              (asynctrack.journal)
     │    ├── MissingDependency          also an ImportError: an optional library an artifact call needs
     │    │                              (asynctrack.artifacts)
     │    └── BodyTooLarge               the server's 413 (asynctrack.server)
     ├── AttributeError
     │    └── MlflowNameUnavailable      an MLflow name asynctrack does not provide (yet), with the reason
     └── ModuleNotFoundError
          └── MlflowModuleUnavailable    the same for an MLflow module

Catching :class:`MlflowException` catches everything above it; the subclasses keep MLflow's
``error_code`` strings, so code written for MLflow that compares codes behaves the same.

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
    "PipelineClosed",
    "QueueFull",
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


# MLflow 3.x classifies every error further for its dashboards (mlflow/error_classification.py, client-side
# mappings): an ``error_class`` derived from the error code, and a 5-character ``sqlstate`` derived from that.
# Codes missing here get neither, and their JSON leaves both fields out, as MLflow's does.
_CLIENT_ERROR_CLASS = {
    BAD_REQUEST: INVALID_PARAMETER_VALUE,
    "CUSTOMER_UNAUTHORIZED": "PERMISSION_DENIED",
    "ENDPOINT_NOT_FOUND": "RESOURCE_NOT_FOUND",
    "FEATURE_DISABLED": "FEATURE_DISABLED",
    INTERNAL_ERROR: "CLIENT_INTERNAL_ERROR",
    INVALID_PARAMETER_VALUE: INVALID_PARAMETER_VALUE,
    INVALID_STATE: "CLIENT_INTERNAL_ERROR",
    "NOT_FOUND": "RESOURCE_NOT_FOUND",
    "PERMISSION_DENIED": "PERMISSION_DENIED",
    RESOURCE_ALREADY_EXISTS: RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST: "RESOURCE_NOT_FOUND",
    TEMPORARILY_UNAVAILABLE: "CLIENT_INTERNAL_ERROR",
}
_CLIENT_SQLSTATE = {
    BAD_REQUEST: "KAM00",
    "CUSTOMER_UNAUTHORIZED": "KAM00",
    "ENDPOINT_NOT_FOUND": "KAM00",
    "FEATURE_DISABLED": "KAM00",
    INTERNAL_ERROR: "XXM00",
    INVALID_PARAMETER_VALUE: "KAM00",
    INVALID_STATE: "XXM00",
    "NOT_FOUND": "KAM00",
    "PERMISSION_DENIED": "KAM00",
    RESOURCE_ALREADY_EXISTS: "KAM00",
    RESOURCE_DOES_NOT_EXIST: "KAM00",
    TEMPORARILY_UNAVAILABLE: "XXM00",
}
# Error classes finer than their error code, with their own sqlstate.
_ERROR_CLASS_SQLSTATE = {
    "ATTRIBUTE_NOT_FOUND": "KAM04",
    "MODEL_SERIALIZATION_FAILED": "KAM03",
    "PREDICTION_FUNCTION_FAILED": "KAM02",
    "SCHEMA_ENFORCEMENT_FAILED": "KAM01",
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

    def __init__(
        self,
        message: object,
        error_code: str = INTERNAL_ERROR,
        sqlstate: str | None = None,
        error_class: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.error_code = error_code if isinstance(error_code, str) else INTERNAL_ERROR
        self.message = str(message)
        # MLflow 3.x's derivation: error_class from the code unless given; sqlstate from the class's own
        # mapping, else from the code, unless given.
        self.error_class: str | None = (
            error_class if error_class is not None else _CLIENT_ERROR_CLASS.get(self.error_code)
        )
        if sqlstate is None:
            sqlstate = _ERROR_CLASS_SQLSTATE.get(self.error_class or "") or _CLIENT_SQLSTATE.get(
                self.error_code
            )
        self.sqlstate: str | None = sqlstate
        self.json_kwargs = kwargs
        self.failures: list[MlflowException] = [self]
        super().__init__(self.message)

    def serialize_as_json(self) -> str:
        """MLflow's REST error body: ``{"error_code": ..., "message": ..., "sqlstate": ...,
        "error_class": ...}`` (the last two left out when unknown, as MLflow does)."""
        body: dict[str, Any] = {"error_code": self.error_code, "message": self.message}
        if self.sqlstate is not None:
            body["sqlstate"] = self.sqlstate
        if self.error_class is not None:
            body["error_class"] = self.error_class
        body.update(self.json_kwargs)
        return msgspec.json.encode(body).decode()

    def get_http_status_code(self) -> int:
        return get_http_status_code(self.error_code)

    @classmethod
    def invalid_parameter_value(cls, message: object, **kwargs: Any) -> MlflowException:
        return cls(message, error_code=INVALID_PARAMETER_VALUE, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (type(self), self.message, self.error_code, self.json_kwargs, self.sqlstate, self.error_class),
        )


class QueueFull(MlflowException):
    """The logging queue is full and ``ASYNCTRACK_QUEUE_FULL=raise``: the operation was not accepted.

    Raised at the call site, before anything is queued (``error_code`` ``RESOURCE_EXHAUSTED``). Operations
    accepted earlier are unaffected; wait on their ``RunOperations`` or call ``flush_async_logging()``.
    """

    def __init__(self, message: object, error_code: str = RESOURCE_EXHAUSTED, **kwargs: Any) -> None:
        super().__init__(message, error_code, **kwargs)


class PipelineClosed(MlflowException):
    """The logging pipeline (or the artifact upload queue) is closed: at exit, after
    ``close_pipelines()``, or after its worker stopped.

    Raised at the call site when an operation is refused, and by ``RunOperations.wait()`` when the
    pipeline stopped before the operation was written (``error_code`` ``RESOURCE_EXHAUSTED``).
    """

    def __init__(self, message: object, error_code: str = RESOURCE_EXHAUSTED, **kwargs: Any) -> None:
        super().__init__(message, error_code, **kwargs)


def _rebuild(
    cls: type[MlflowException],
    message: str,
    error_code: str,
    json_kwargs: dict[str, Any],
    sqlstate: str | None = None,
    error_class: str | None = None,
) -> MlflowException:
    # Bypasses subclasses' own __init__ signatures (StoreUnavailable takes only a message).
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.error_code = error_code
    exc.message = message
    exc.sqlstate = sqlstate
    exc.error_class = error_class
    exc.json_kwargs = dict(json_kwargs)
    exc.failures = [exc]
    return exc
