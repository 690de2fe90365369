"""Process-wide switches that override environment variables, like ``mlflow.config``."""

from __future__ import annotations

from asynctrack import environment as _env

__all__ = ["enable_async_logging", "is_async_logging_enabled"]

_async_override: bool | None = None


def enable_async_logging(enable: bool = True) -> None:
    """Make ``synchronous=None`` mean asynchronous (True) or synchronous (False) for this process.

    Takes precedence over ``MLFLOW_ENABLE_ASYNC_LOGGING``.
    """
    global _async_override
    _async_override = bool(enable)


def is_async_logging_enabled() -> bool:
    """Whether ``synchronous=None`` logs asynchronously: the override, else the environment variable."""
    if _async_override is not None:
        return _async_override
    return _env.MLFLOW_ENABLE_ASYNC_LOGGING.get()
