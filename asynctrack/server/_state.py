"""What a handler works with: the process's store, its group-commit writer, and bounded store calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from asynctrack.exceptions import TEMPORARILY_UNAVAILABLE, MlflowException
from asynctrack.server._config import ServerConfig
from asynctrack.server._writer import GroupCommitWriter
from asynctrack.store import AbstractStore
from asynctrack.store._retry import retry_transient

__all__ = ["ServerState"]

T = TypeVar("T")


@dataclass(frozen=True)
class ServerState:
    """One per worker process, built in the app's lifespan."""

    config: ServerConfig
    store: AbstractStore
    writer: GroupCommitWriter

    async def call(self, fn: Callable[[], Awaitable[T]], what: str) -> T:
        """``fn()`` against the store, retried while the store is transiently unavailable, for at most
        ``write_timeout`` seconds; then ``TEMPORARILY_UNAVAILABLE`` (503, which MLflow clients retry)."""
        timeout = self.config.write_timeout
        with anyio.move_on_after(timeout):
            return await retry_transient(fn, what=what)
        raise MlflowException(
            f"The backend store stayed unavailable (locked or unreachable) for {timeout:g} s during {what}; "
            "retry later.",
            error_code=TEMPORARILY_UNAVAILABLE,
        )
