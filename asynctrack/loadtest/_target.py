"""The target as the parent process sees it: checked before any worker starts, read back afterwards.

The parent talks to the store directly (not through a pipeline) with few HTTP retries, so that an
unreachable or rejecting target is reported within seconds, as one line, instead of after MLflow's
default retry schedule (7 retries with back-off: minutes). The workers use the ordinary client with the
environment's settings, as a training job would.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import msgspec

from asynctrack._http._config import HttpConfig
from asynctrack._redact import redact
from asynctrack._tracking_uri import resolve
from asynctrack.entities import LifecycleStage
from asynctrack.exceptions import MlflowException
from asynctrack.store._open import open_store
from asynctrack.store._protocol import AbstractStore
from asynctrack.store.rest import RestStore

__all__ = ["TargetError", "display_name", "open_target", "prepare_target"]

_CHECK_TIMEOUT = 15.0
_BACKOFF_FACTOR = 0.5  # retries after about 0.5 s and 1 s: a blip is ridden out, an outage is not waited on


class TargetError(Exception):
    """The target cannot be used: unreachable, rejecting requests, or not a tracking store."""


def display_name(uri: str) -> str:
    """``uri`` for people: without a password."""
    return redact(uri)


@asynccontextmanager
async def open_target(
    uri: str, *, retries: int, request_timeout: float = _CHECK_TIMEOUT
) -> AsyncIterator[AbstractStore]:
    """The store behind ``uri``; for a server, with at most ``retries`` retries of a failed request and
    at most ``request_timeout`` seconds per request."""
    location = resolve(uri)
    store: AbstractStore
    if location.is_remote:
        env = HttpConfig.from_env()
        config = msgspec.structs.replace(
            env,
            max_retries=min(env.max_retries, retries),
            backoff_factor=min(env.backoff_factor, _BACKOFF_FACTOR),
            timeout=min(env.timeout, request_timeout),
        )
        store = await RestStore.open(location.uri, config)
    else:
        store = await open_store(location)
    try:
        yield store
    finally:
        with anyio.CancelScope(shield=True):
            await store.aclose()


def _problem(uri: str, exc: BaseException) -> TargetError:
    if isinstance(exc, MlflowException):
        text = f"{exc.message} ({exc.error_code})"
    else:
        text = str(exc) or type(exc).__name__
    return TargetError(f"cannot load-test {display_name(uri)}: {' '.join(text.split())}")


def prepare_target(uri: str, experiment: str | None) -> tuple[str, str]:
    """Check that ``uri`` answers as a tracking store and get or create the experiment; return
    ``(experiment_id, experiment_name)``. Raise :class:`TargetError` (one line) otherwise."""
    name = experiment or (
        f"loadtest-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    )

    async def check() -> str:
        async with open_target(uri, retries=1) as store:
            found = await store.get_experiment_by_name(name)
            if found is None:
                return await store.create_experiment(name)
            if found.lifecycle_stage == LifecycleStage.DELETED:
                raise MlflowException(f"experiment {name!r} is deleted; restore it or choose another name")
            return found.experiment_id

    try:
        return anyio.run(check), name
    except (MlflowException, OSError, ValueError) as exc:
        raise _problem(uri, exc) from None
