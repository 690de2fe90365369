"""The artifact repository protocol (async) and the registry that picks an implementation by URI scheme.

A repository serves one artifact root: a run's ``.../<run_id>/artifacts``, or any directory or server
location an artifact URI names. Paths given to it are run-relative and POSIX-style; every implementation
applies :mod:`asynctrack.artifacts._paths`'s rules to them. The local file system is registered for plain
paths and ``file:`` URIs; a repository for a tracking server (``mlflow-artifacts:``, ``http(s):``) plugs in
with :func:`register_artifact_repository` and implements the abstract methods, the generic
:meth:`ArtifactRepository.download_artifacts` then works unchanged.
"""

from __future__ import annotations

import abc
import os
import tempfile
from collections.abc import AsyncIterator, Callable

import msgspec

from asynctrack.artifacts import _fs
from asynctrack.artifacts._paths import check_path, join_inside, parent_and_name
from asynctrack.artifacts._uri import scheme_of
from asynctrack.exceptions import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    MlflowException,
)

__all__ = [
    "ArtifactRepository",
    "FileInfo",
    "get_artifact_repository",
    "register_artifact_repository",
    "registered_schemes",
]


_DST = "the destination directory"


class FileInfo(msgspec.Struct, frozen=True):
    """An artifact or a directory of artifacts, as MLflow's ``FileInfo``: run-relative ``path``, ``is_dir``,
    and ``file_size`` in bytes (None for a directory)."""

    path: str
    is_dir: bool
    file_size: int | None = None


class ArtifactRepository(abc.ABC):
    """Coroutines over one artifact root. Subclasses implement the abstract methods."""

    #: How many files one call moves at once (a directory upload or download).
    concurrency: int = 8

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None) -> None:
        self.artifact_uri = artifact_uri
        self.tracking_uri = tracking_uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.artifact_uri!r})"

    # -- writing
    @abc.abstractmethod
    async def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        """Copy the local file to ``<artifact_path>/<its base name>``."""

    @abc.abstractmethod
    async def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """Copy the local directory's contents (recursively, empty directories too) under
        ``artifact_path``."""

    @abc.abstractmethod
    async def write_artifact(self, data: bytes | AsyncIterator[bytes], artifact_file: str) -> None:
        """Store ``data`` (bytes, or chunks of them) as the artifact ``artifact_file``."""

    @abc.abstractmethod
    async def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or (recursively) a directory of artifacts; the whole root when no path is given."""

    # -- reading
    @abc.abstractmethod
    async def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The entries directly under ``path``, sorted by path; ``[]`` for a file or a missing path."""

    @abc.abstractmethod
    async def _download_file(self, remote_path: str, local_path: str) -> None:
        """Copy the artifact file ``remote_path`` (canonical) to ``local_path`` (its directory exists)."""

    def get_local_path(self, artifact_path: str) -> str | None:
        """The artifact's own path on this machine when the repository is a local directory, else None."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections (a network repository's); the local one holds none."""

    async def _is_directory(self, path: str) -> bool:
        return len(await self.list_artifacts(path)) > 0

    async def _walk(self, path: str) -> AsyncIterator[FileInfo]:
        """Every file below ``path``, and each empty directory (as a directory entry)."""
        entries = [e for e in await self.list_artifacts(path) if e.path not in (".", path)]
        if not entries:
            yield FileInfo(path, True, None)
            return
        for entry in entries:
            if entry.is_dir:
                async for sub in self._walk(entry.path):
                    yield sub
            else:
                yield entry

    async def download_artifacts(
        self, artifact_path: str | None, dst_path: str | None = None, *, strip_parent: bool = False
    ) -> str:
        """Copy an artifact file or directory into ``dst_path`` (an existing directory; a new temporary one
        when None) and return the local path of what was copied, as MLflow's ``download_artifacts``.

        ``a/b`` lands at ``<dst>/a/b``; with ``strip_parent`` at ``<dst>/b``, as MLflow's ``runs:/`` downloads
        place it."""
        rel = check_path(artifact_path)
        cut = len(parent_and_name(rel)[0]) + 1 if strip_parent and "/" in rel else 0
        dst = await _fs.in_thread(_destination_dir, dst_path)
        if rel == "":
            if not await self.list_artifacts(""):
                return dst
            is_dir = True
        else:
            is_dir = await self._is_directory(rel)
        files: list[str] = []
        dirs: set[str] = set()
        if is_dir:
            async for entry in self._walk(rel):
                # A listing is data from the repository (a server's, possibly hostile): its paths obey the
                # same rules before anything is created under dst.
                path = check_path(entry.path, "listed artifact path")
                if cut and not path.startswith(rel + "/") and path != rel:
                    raise MlflowException(
                        f"Invalid listed artifact path {path!r}: it is not below {rel!r}.",
                        error_code=INVALID_PARAMETER_VALUE,
                    )
                if entry.is_dir:
                    dirs.add(path[cut:])
                else:
                    files.append(path)
        else:
            files.append(rel)
        dirs.update(parent_and_name(path[cut:])[0] for path in files)
        # Every local directory is created and checked (no link on the way may lead outside dst) in one
        # thread hop; a link at a file's own name is then replaced by the download, never followed.
        await _fs.in_thread(_make_dirs_under, dst, sorted(dirs))
        failures: dict[str, Exception] = {}

        async def fetch(path: str) -> None:
            try:
                await self._download_file(path, os.path.join(dst, *path[cut:].split("/")))
            except Exception as exc:
                failures[path] = exc

        await _fs.for_each(files, fetch, self.concurrency)
        if failures:
            raise _download_failed(self.artifact_uri, failures)
        return os.path.join(dst, *rel[cut:].split("/")) if rel else dst


def _destination_dir(dst_path: str | None) -> str:
    if dst_path is None:
        return tempfile.mkdtemp()
    dst = os.path.abspath(dst_path)
    if not os.path.exists(dst):
        raise MlflowException(
            f"The destination path for downloaded artifacts does not exist! Destination path: {dst}",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    if not os.path.isdir(dst):
        raise MlflowException(
            f"The destination path for downloaded artifacts must be a directory! Destination path: {dst}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return dst


def _make_dirs_under(dst: str, rels: list[str]) -> None:
    for rel in rels:
        target = join_inside(dst, rel, "artifact path", _DST)
        os.makedirs(target, exist_ok=True)
        join_inside(dst, rel, "artifact path", _DST)  # a link may have appeared meanwhile


def _download_failed(uri: str, failures: dict[str, Exception]) -> MlflowException:
    text = "\n".join(f"##### File {path} #####\n{exc}" for path, exc in failures.items())
    if len(text) > 10_000:
        text = text[:5000] + "\n\n*** Error message is too long, truncated ***\n\n" + text[-5000:]
    codes = {
        e.error_code
        for e in failures.values()
        if isinstance(e, MlflowException) and e.error_code != INTERNAL_ERROR
    }
    code = codes.pop() if len(codes) == 1 else INTERNAL_ERROR
    return MlflowException(
        f"The following failures occurred while downloading one or more artifacts from {uri}:\n{text}",
        error_code=code,
    )


RepositoryFactory = Callable[[str, "str | None"], ArtifactRepository]

_registry: dict[str, RepositoryFactory] = {}


def register_artifact_repository(scheme: str, factory: RepositoryFactory) -> None:
    """Serve artifact URIs with ``scheme`` (``""`` for plain paths) by
    ``factory(artifact_uri, tracking_uri)``."""
    _registry[scheme.lower()] = factory


def registered_schemes() -> list[str]:
    return list(_registry)


def get_artifact_repository(artifact_uri: str, tracking_uri: str | None = None) -> ArtifactRepository:
    """The repository for ``artifact_uri``, chosen by its scheme."""
    scheme = scheme_of(artifact_uri)
    factory = _registry.get(scheme)
    if factory is None:
        raise MlflowException(
            f"Could not find a registered artifact repository for: {artifact_uri}. Currently registered "
            f"schemes are: {list(_registry)}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return factory(artifact_uri, tracking_uri)
