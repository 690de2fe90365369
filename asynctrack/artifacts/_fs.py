"""File-system primitives for artifact repositories, as coroutines: streamed copies, atomic publication.

Every blocking call runs through aiofiles on this module's own pool of *daemon* threads, never on the
event loop and never on asyncio's default executor: Python joins ``concurrent.futures`` threads at exit
without a timeout, so a copy stuck on a dead network mount or a pipe with no writer would hang the
interpreter's exit. Ours cannot; the exit report names what was not written instead.

A file is written to a hidden temporary name in its destination directory (``.artifact.uploading.*``,
MLflow's prefix) and renamed into place, so readers never see a partial artifact. Contents are streamed
with ``sendfile`` (zero-copy, in chunks) where the platform has it, else in 1 MiB reads and writes.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import queue
import secrets
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import aiofiles
import aiofiles.os
import anyio

from asynctrack.artifacts._paths import TEMP_PREFIX

__all__ = ["copy_file", "in_thread", "io_executor", "write_bytes"]

T = TypeVar("T")

CHUNK = 1024 * 1024  # bytes per read/write when sendfile is not available
SENDFILE_CHUNK = 64 * 1024 * 1024  # bytes per sendfile call (each one thread hop)
_IO_THREADS = 8


class _DaemonExecutor(concurrent.futures.Executor):
    """A small thread pool whose threads are daemons and are never joined at exit."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max = max_workers
        self._name = name
        self._work: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._work.put((future, functools.partial(fn, *args, **kwargs)))
        with self._lock:
            if self._idle > 0:
                self._idle -= 1  # that thread will take this item
                return future
            if self._threads >= self._max:
                return future
            self._threads += 1
        threading.Thread(target=self._run, name=f"{self._name}-{self._threads}", daemon=True).start()
        return future

    def _run(self) -> None:
        while True:
            future, call = self._work.get()
            if future.set_running_or_notify_cancel():
                try:
                    result = call()
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, call
            with self._lock:
                self._idle += 1


_executor: _DaemonExecutor | None = None
_executor_lock = threading.Lock()


def io_executor() -> _DaemonExecutor:
    global _executor
    ex = _executor
    if ex is None:
        with _executor_lock:
            if _executor is None:
                _executor = _DaemonExecutor(_IO_THREADS, "asynctrack-artifact-io")
            ex = _executor
    return ex


def _after_fork_in_child() -> None:
    global _executor, _executor_lock
    _executor = None  # its threads do not exist in the child
    _executor_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on an artifact I/O thread."""
    result: T = await aiofiles.os.wrap(fn)(*args, executor=io_executor())
    return result


# -- publication


_UMASK: int | None = None


def _umask() -> int:
    # os.umask can only be read by setting it; do it once, under a lock, like MLflow.
    global _UMASK
    if _UMASK is None:
        with _executor_lock:
            if _UMASK is None:
                current = os.umask(0)
                os.umask(current)
                _UMASK = current
    return _UMASK


def _temp_name(directory: str) -> str:
    return os.path.join(directory, TEMP_PREFIX + secrets.token_hex(8))


def _finish(tmp: str, dest: str, copy_stat_from: str | None) -> None:
    if copy_stat_from is not None:
        shutil.copystat(copy_stat_from, tmp)
    else:
        os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, dest)


def _discard(tmp: str) -> None:
    try:
        os.remove(tmp)
    except FileNotFoundError:
        pass


async def _publish(tmp: str, dest: str, copy_stat_from: str | None) -> None:
    await in_thread(_finish, tmp, dest, copy_stat_from)


async def _discard_shielded(tmp: str) -> None:
    with anyio.CancelScope(shield=True):
        await in_thread(_discard, tmp)


async def _sendfile_all(out_fd: int, in_fd: int) -> int | None:
    """Copy ``in_fd`` to ``out_fd`` with sendfile and return the size; None (nothing copied) if the pair
    does not support it."""
    sendfile = getattr(aiofiles.os, "sendfile", None)
    if sendfile is None:
        return None
    offset = 0
    while True:
        try:
            sent: int = await sendfile(out_fd, in_fd, offset, SENDFILE_CHUNK, executor=io_executor())
        except OSError:
            if offset == 0:
                return None  # e.g. a pipe as the source: fall back to reads and writes
            raise
        if sent == 0:
            return offset
        offset += sent


async def copy_file(src: str, dest: str, *, preserve_stat: bool = True) -> int:
    """Stream ``src`` into ``dest`` (its directory must exist) through a temporary file renamed into place;
    return the size copied. With ``preserve_stat``, mode and times are copied too (as ``shutil.copy2``)."""
    directory = os.path.dirname(dest)
    tmp = _temp_name(directory)
    published = False
    try:
        async with aiofiles.open(src, "rb", executor=io_executor()) as fin:
            async with aiofiles.open(tmp, "xb", executor=io_executor()) as fout:
                size = await _sendfile_all(fout.fileno(), fin.fileno())
                if size is None:
                    size = 0
                    while chunk := await fin.read(CHUNK):
                        size += await fout.write(chunk)
        await _publish(tmp, dest, src if preserve_stat else None)
        published = True
        return size
    finally:
        if not published:
            await _discard_shielded(tmp)


async def write_bytes(chunks: bytes | AsyncIterator[bytes], dest: str) -> int:
    """Write ``chunks`` (bytes, or an async iterator of them) to ``dest`` atomically with the default file
    mode (``0o666`` less the umask), like a plain ``open(dest, "wb")``; return the size written."""
    tmp = _temp_name(os.path.dirname(dest))
    published = False
    size = 0
    try:
        async with aiofiles.open(tmp, "xb", executor=io_executor()) as fout:
            if isinstance(chunks, bytes):
                view = memoryview(chunks)
                for lo in range(0, len(view), CHUNK):
                    size += await fout.write(view[lo : lo + CHUNK])
            else:
                async for chunk in chunks:
                    size += await fout.write(chunk)
        await _publish(tmp, dest, None)
        published = True
        return size
    finally:
        if not published:
            await _discard_shielded(tmp)
