"""The local file-system repository: plain paths and ``file:`` URIs.

Every destination is checked twice: its run-relative path against the rules of ``_paths``, then the joined
path, symlinks resolved, against the root. Writes stream through a temporary file renamed into place
(``_fs``); listings hide temporary files and entries whose symlinks lead outside the root.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

from asynctrack.artifacts import _fs
from asynctrack.artifacts._paths import (
    TEMP_PREFIX,
    check_file_name,
    check_path,
    inside,
    join_inside,
    parent_and_name,
    posix_join,
)
from asynctrack.artifacts._repository import ArtifactRepository, FileInfo, register_artifact_repository
from asynctrack.artifacts._uri import local_path
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MlflowException

__all__ = ["LocalArtifactRepository"]


class LocalArtifactRepository(ArtifactRepository):
    """Artifacts as files under a local directory (created on first write)."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri)
        self.root = local_path(artifact_uri)

    # -- writing
    async def _dest_dir(self, rel_dir: str) -> str:
        return await _fs.in_thread(_checked_dir, self.root, rel_dir)

    async def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        rel_dir = check_path(artifact_path)
        name = check_file_name(os.path.basename(os.fspath(local_file)), "artifact file name")
        directory = await self._dest_dir(rel_dir)
        dest = os.path.join(directory, name)
        if await _fs.in_thread(_same_file, local_file, dest):
            return  # logging the artifact onto itself (MLflow does nothing too)
        # The directory is checked; a link at the destination name itself is replaced, never followed.
        await _fs.copy_file(local_file, dest, preserve_stat=True)

    async def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        rel_dir = check_path(artifact_path)
        dirs, files = await _fs.in_thread(_plan_tree, os.fspath(local_dir))
        await _fs.in_thread(
            _make_all_dirs_inside, self.root, [posix_join(rel_dir, rel) for rel in ["", *dirs]]
        )

        async def copy(item: tuple[str, str]) -> None:
            src, rel = item
            dest = os.path.join(self.root, *posix_join(rel_dir, rel).split("/"))
            await _fs.copy_file(src, dest, preserve_stat=True)

        await _fs.for_each(files, copy, self.concurrency)

    async def write_artifact(self, data: bytes | AsyncIterator[bytes], artifact_file: str) -> None:
        rel = check_path(artifact_file, "artifact file")
        parent, name = parent_and_name(rel)
        check_file_name(name, "artifact file", shown=artifact_file)
        directory = await self._dest_dir(parent)
        await _fs.write_bytes(data, os.path.join(directory, name))

    async def delete_artifacts(self, artifact_path: str | None = None) -> None:
        rel = check_path(artifact_path)
        await _fs.in_thread(_delete, self.root, rel)

    # -- reading
    def get_local_path(self, artifact_path: str) -> str:  # blocking: call it on an I/O thread
        rel = check_path(artifact_path)
        target = join_inside(self.root, rel)
        if not os.path.exists(target):
            raise MlflowException(f"No such artifact: '{rel}'", error_code=RESOURCE_DOES_NOT_EXIST)
        return os.path.abspath(target)

    async def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel = check_path(path)
        return await _fs.in_thread(_list, self.root, rel)

    async def _is_directory(self, path: str) -> bool:
        return await _fs.in_thread(_is_dir_inside, self.root, check_path(path))

    async def _download_file(self, remote_path: str, local_path: str) -> None:
        rel = check_path(remote_path)
        source = os.path.join(self.root, *rel.split("/"))

        def check() -> None:  # on the I/O thread, with the open
            join_inside(self.root, rel)
            if not os.path.isfile(source):
                raise MlflowException(f"No such artifact: '{rel}'", error_code=RESOURCE_DOES_NOT_EXIST)

        await _fs.copy_file(source, local_path, preserve_stat=True, check=check)

    async def download_artifacts(
        self, artifact_path: str | None, dst_path: str | None = None, *, strip_parent: bool = False
    ) -> str:
        """Without ``dst_path``, the artifact's own local path (no copy), as MLflow's local repository."""
        if dst_path:
            return await super().download_artifacts(artifact_path, dst_path, strip_parent=strip_parent)
        return await _fs.in_thread(self.get_local_path, check_path(artifact_path))


# -- blocking helpers, run on artifact I/O threads


def _checked_dir(root: str, rel_dir: str) -> str:
    target = join_inside(root, rel_dir)
    _make_dirs_inside(root, target, rel_dir)
    return target


def _make_all_dirs_inside(root: str, rels: list[str]) -> None:
    for rel in rels:
        _checked_dir(root, rel)


def _make_dirs_inside(root: str, target: str, rel: str) -> None:
    os.makedirs(target, exist_ok=True)
    if not inside(root, target):  # a symlink appeared on the way meanwhile
        raise MlflowException(
            f"Invalid artifact path {rel!r}: it resolves (through a symlink) to a location outside the "
            "artifact root.",
            error_code=INVALID_PARAMETER_VALUE,
        )


def _is_dir_inside(root: str, rel: str) -> bool:
    return os.path.isdir(join_inside(root, rel))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _plan_tree(local_dir: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Directories (relative, parents first) and ``(source, relative path)`` of the files below
    ``local_dir``; every relative name is checked before anything is copied. Symlinked directories are
    created empty and not followed, as MLflow's copy does."""
    if not os.path.isdir(local_dir):
        raise MlflowException(
            f"local_dir {local_dir!r} is not a directory", error_code=INVALID_PARAMETER_VALUE
        )
    dirs: list[str] = []
    files: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(local_dir):
        base = os.path.relpath(dirpath, local_dir)
        base = "" if base == "." else base.replace(os.sep, "/")
        dirnames.sort()
        for name in dirnames:
            dirs.append(check_path(posix_join(base, check_file_name(name, "directory name"))))
        for name in sorted(filenames):
            rel = posix_join(base, check_file_name(name, "file name"))
            files.append((os.path.join(dirpath, name), rel))
    return dirs, files


def _list(root: str, rel: str) -> list[FileInfo]:
    directory = join_inside(root, rel)
    if not os.path.isdir(directory):
        return []
    infos: list[FileInfo] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(TEMP_PREFIX):
                continue
            if entry.is_symlink() and not inside(root, entry.path):
                continue  # leads outside the root: neither listed nor downloadable
            path = posix_join(rel, entry.name)
            try:
                if entry.is_dir():
                    infos.append(FileInfo(path, True, None))
                else:
                    infos.append(FileInfo(path, False, entry.stat().st_size))
            except OSError:  # removed meanwhile, or a dangling symlink
                continue
    infos.sort(key=lambda f: f.path)
    return infos


def _delete(root: str, rel: str) -> None:
    target = join_inside(root, rel)
    if os.path.islink(target):
        os.remove(target)  # the link itself, never what it points to
    elif os.path.isdir(target):
        shutil.rmtree(target)
    elif os.path.exists(target):
        os.remove(target)


register_artifact_repository("", LocalArtifactRepository)
register_artifact_repository("file", LocalArtifactRepository)
