"""File-system primitives for artifact repositories, as coroutines: streamed copies, atomic publication.

Every blocking call runs on this module's own pool of *daemon* threads (aiofiles' functions with that
executor), never on the event loop and never on asyncio's default executor: Python joins
``concurrent.futures`` threads at exit without a timeout, so a copy stuck on a dead network mount or a pipe
with no writer would hang the interpreter's exit. Ours cannot; the exit report names what was not written
instead, and ``shutdown_io`` (called when the upload queue closes) ends the idle threads.

A file is written to a hidden temporary name in its destination directory (``.artifact.uploading.*``,
MLflow's prefix) and renamed into place, so readers never see a partial artifact. Contents are streamed
with ``sendfile`` (zero-copy, in chunks) where the platform has it, else in 1 MiB reads and writes; a
regular file up to 4 MiB is copied in the one thread hop that opens it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import queue
import secrets
import shutil
import stat
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar, TypeVarTuple

import aiofiles
import aiofiles.os
import anyio

from asynctrack.artifacts._paths import TEMP_PREFIX

__all__ = ["copy_file", "for_each", "in_thread", "io_executor", "shutdown_io", "write_bytes"]

T = TypeVar("T")
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")

CHUNK = 1024 * 1024  # bytes per read/write when sendfile is not available
SENDFILE_CHUNK = 64 * 1024 * 1024  # bytes per sendfile call (each one thread hop)
#: Files up to this size are read, written or copied whole, in the one thread hop that opens them (with many
#: small files the hops of a streamed copy cost more than the bytes); the artifact client and the server's
#: artifact API use it too.
SMALL_FILE = 4 * 1024 * 1024
_IO_THREADS = 8


class _DaemonExecutor(concurrent.futures.Executor):
    """A small thread pool whose threads are daemons: ``shutdown`` ends the idle ones; one stuck in a
    system call cannot hold the interpreter's exit."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max = max_workers
        self._name = name
        self._work: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("artifact I/O has been shut down")
            self._work.put((future, functools.partial(fn, *args, **kwargs)))
            if self._idle > 0:
                self._idle -= 1  # that thread will take this item
                return future
            if len(self._threads) >= self._max:
                return future
            name = f"{self._name}-{len(self._threads)}"
            thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._threads.append(thread)
        thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False, timeout: float = 1.0) -> None:
        """Refuse new work; each thread ends after the work queued before (``wait``: up to ``timeout``)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._work.put(None)
        if wait:
            for thread in threads:
                thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, call = item
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


def shutdown_io(timeout: float = 1.0) -> None:
    """End the artifact I/O threads (idle ones at once; busy ones after their current work, waiting at most
    ``timeout``; a thread stuck in a system call is a daemon and is left behind). Later I/O starts a new
    pool."""
    global _executor
    with _executor_lock:
        ex, _executor = _executor, None
    if ex is not None:
        ex.shutdown(wait=True, timeout=timeout)


def _after_fork_in_child() -> None:
    global _executor, _executor_lock
    _executor = None  # its threads do not exist in the child
    _executor_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


async def for_each(items: Iterable[T], fn: Callable[[T], Awaitable[None]], concurrency: int) -> None:
    """``await fn(item)`` for every item, ``concurrency`` at a time (a few workers sharing one iterator,
    not a task per item: per-task overhead is most of the cost of many small files)."""
    it = iter(items)

    async def worker() -> None:
        for item in it:
            await fn(item)

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)


async def in_thread(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """``fn(*args)`` on an artifact I/O thread."""
    result: T = await aiofiles.os.wrap(fn)(*args, executor=io_executor())
    return result


# -- publication


def _temp_name(directory: str) -> str:
    return os.path.join(directory, TEMP_PREFIX + secrets.token_hex(8))


class _Pair:
    """The two open descriptors of one copy and its temporary file; closing is idempotent. ``done``: the
    copy was finished (and published) in the same thread hop as the opening."""

    __slots__ = ("done", "dst", "size", "src", "tmp")

    def __init__(self, src: int, dst: int, tmp: str, size: int | None) -> None:
        self.src, self.dst, self.tmp, self.size = src, dst, tmp, size
        self.done = False

    def close(self) -> None:
        for name in ("src", "dst"):
            fd = getattr(self, name)
            if fd >= 0:
                setattr(self, name, -1)
                os.close(fd)

    def discard(self) -> None:
        self.close()
        try:
            os.remove(self.tmp)
        except FileNotFoundError:
            pass


def _open_pair(src: str, dest: str, check: Callable[[], None] | None, copy_stat_from: str | None) -> _Pair:
    # One thread hop: check, open the source (this may block: a pipe, a slow mount), create the temporary
    # file exclusively (mode 0o666 less the umask, like open()), and learn the size of a regular source.
    # A small regular file is copied and published in the same hop: most of a many-small-files upload's
    # cost is thread hops, and its copy is too short to need cancelling midway.
    if check is not None:
        check()
    fin = os.open(src, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fin)
        tmp = _temp_name(os.path.dirname(dest))
        fout = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except BaseException:
        os.close(fin)
        raise
    pair = _Pair(fin, fout, tmp, st.st_size if stat.S_ISREG(st.st_mode) else None)
    if pair.size is not None and pair.size <= SMALL_FILE:
        try:
            _copy_small(pair)
            _publish(pair, dest, copy_stat_from)
        except BaseException:
            pair.discard()
            raise
        pair.done = True
    return pair


def _copy_small(pair: _Pair) -> None:
    assert pair.size is not None
    offset = 0
    try:
        while offset < pair.size and (sent := os.sendfile(pair.dst, pair.src, offset, pair.size - offset)):
            offset += sent
    except (AttributeError, OSError):
        if offset:
            raise
        while chunk := os.read(pair.src, CHUNK):
            os.write(pair.dst, chunk)


def _publish(pair: _Pair, dest: str, copy_stat_from: str | None) -> None:
    pair.close()
    if copy_stat_from is not None:
        shutil.copystat(copy_stat_from, pair.tmp)
    os.replace(pair.tmp, dest)


async def _opened(src: str, dest: str, check: Callable[[], None] | None, copy_stat_from: str | None) -> _Pair:
    """``_open_pair`` on an artifact I/O thread. If the caller is cancelled meanwhile (at exit, an open
    blocked on a pipe), whatever the thread opens later is closed and removed when it finishes."""
    future = io_executor().submit(_open_pair, src, dest, check, copy_stat_from)
    try:
        return await asyncio.wrap_future(future)
    except BaseException:
        future.add_done_callback(lambda f: None if f.cancelled() or f.exception() else f.result().discard())
        raise


async def _sendfile_all(pair: _Pair) -> int | None:
    """Copy with sendfile (zero-copy) and return the size; None (nothing copied) where the pair does not
    support it. A regular source is copied up to the size it had when opened, in one call per 64 MiB."""
    sendfile = getattr(aiofiles.os, "sendfile", None)
    if sendfile is None:
        return None
    offset = 0
    while pair.size is None or offset < pair.size:
        try:
            sent: int = await sendfile(pair.dst, pair.src, offset, SENDFILE_CHUNK, executor=io_executor())
        except OSError:
            if offset == 0:
                return None  # e.g. a pipe as the source: fall back to reads and writes
            raise
        if sent == 0:
            break
        offset += sent
    return offset


async def _copy_chunks(pair: _Pair) -> int:
    size = 0
    async with (
        aiofiles.open(pair.src, "rb", closefd=False, executor=io_executor()) as fin,
        aiofiles.open(pair.dst, "wb", closefd=False, executor=io_executor()) as fout,
    ):
        while chunk := await fin.read(CHUNK):
            size += await fout.write(chunk)
    return size


async def copy_file(
    src: str, dest: str, *, preserve_stat: bool = True, check: Callable[[], None] | None = None
) -> int:
    """Stream ``src`` into ``dest`` (its directory must exist) through a temporary file renamed into place;
    return the size copied. With ``preserve_stat``, mode and times are copied too (as ``shutil.copy2``);
    ``check()``, if given, runs first on the I/O thread (and may raise). A regular file up to 4 MiB takes
    one thread hop; a larger one streams through aiofiles' ``sendfile`` in 64 MiB chunks (or 1 MiB reads
    and writes where sendfile does not apply, a pipe for instance), cancellable between chunks."""
    copy_stat_from = src if preserve_stat else None
    pair = await _opened(src, dest, check, copy_stat_from)
    if pair.done:
        assert pair.size is not None
        return pair.size
    published = False
    try:
        size = await _sendfile_all(pair)
        if size is None:
            size = await _copy_chunks(pair)
        with anyio.CancelScope(shield=True):  # a rename half done must finish, not be abandoned
            await in_thread(_publish, pair, dest, copy_stat_from)
        published = True
        return size
    finally:
        if not published:
            with anyio.CancelScope(shield=True):
                await in_thread(pair.discard)


def _discard(tmp: str) -> None:
    try:
        os.remove(tmp)
    except FileNotFoundError:
        pass


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
        with anyio.CancelScope(shield=True):
            await in_thread(os.replace, tmp, dest)
        published = True
        return size
    finally:
        if not published:
            with anyio.CancelScope(shield=True):
                await in_thread(_discard, tmp)
