"""The synchronous side: which repository serves a run, uploads through the queue, reads on the loop.

A run's artifact URI never changes, so it is read from the store once per run id and remembered (as
MLflow caches its repositories per run); the fluent API seeds it from the active run, so an artifact call
on the active run costs no store read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, TypeVarTuple

from asynctrack.artifacts._queue import artifact_queue, wait_for_root
from asynctrack.artifacts._repository import ArtifactRepository, get_artifact_repository
from asynctrack.exceptions import INVALID_STATE, MlflowException
from asynctrack.pipeline import _registry
from asynctrack.pipeline._operations import RunOperations

__all__ = ["call", "read", "remember_run", "repository_for_run", "run_artifact_uri", "upload"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_MAX_CACHED = 1024
_uris: OrderedDict[str, str] = OrderedDict()
_repos: OrderedDict[str, ArtifactRepository] = OrderedDict()
_lock = threading.Lock()


def _put(cache: OrderedDict[str, Any], key: str, value: Any) -> None:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > _MAX_CACHED:
            cache.popitem(last=False)


def remember_run(run_id: str, artifact_uri: str | None) -> None:
    if artifact_uri:
        _put(_uris, run_id, artifact_uri)


def run_artifact_uri(tracking_uri: str | None, run_id: str) -> str:
    """The run's ``artifact_uri`` (RESOURCE_DOES_NOT_EXIST for an unknown run)."""
    uri = _uris.get(run_id)
    if uri is None:
        p = _registry.get_pipeline(tracking_uri)
        run = p.call(p.store.get_run, run_id)
        uri = run.info.artifact_uri
        if not uri:
            raise MlflowException(f"Run '{run_id}' has no artifact location.", error_code=INVALID_STATE)
        remember_run(run_id, uri)
    return uri


def repository_for_run(tracking_uri: str | None, run_id: str) -> ArtifactRepository:
    repo = _repos.get(run_id)
    if repo is None:
        repo = get_artifact_repository(run_artifact_uri(tracking_uri, run_id), tracking_uri)
        _put(_repos, run_id, repo)
    return repo


def call(fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T:
    """``await fn(*args)`` on the background loop, from synchronous code."""
    return _registry.background_loop().call(fn, *args)


def read(repo: ArtifactRepository, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T:
    """A read of ``repo``, after the uploads already queued into it (read-your-writes)."""
    wait_for_root(repo.artifact_uri)
    return call(fn, *args)


def upload(
    repo: ArtifactRepository,
    work: Callable[[], Awaitable[None]],
    *,
    run_id: str | None,
    dest: str,
    what: str,
    synchronous: bool,
    nbytes: int = 0,
) -> RunOperations | None:
    """Queue an upload into ``repo``; wait for it (and raise its error) when ``synchronous``, else return
    its :class:`RunOperations`."""
    ops = artifact_queue().submit(
        work,
        run_id=run_id,
        root=repo.artifact_uri,
        dest=dest,
        what=what,
        nbytes=nbytes,
        log_failure=not synchronous,
    )
    if synchronous:
        ops.wait()
        return None
    return ops
