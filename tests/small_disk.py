"""A directory where writes fail past a size, like a full disk, for tests of what asynctrack does then.

Two ways, used as a pytest fixture's two params: a small tmpfs (needs the right to mount: root here; the
test is skipped elsewhere), or a file-size limit (RLIMIT_FSIZE) set in the child process, which fails writes
past the limit with EFBIG the way a full disk fails them with ENOSPC."""

from __future__ import annotations

import contextlib
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

__all__ = ["KINDS", "small_disk"]

KINDS = ["tmpfs", "file-size-limit"]


@contextlib.contextmanager
def small_disk(kind: str, where: Path, size: int = 256 * 1024) -> Iterator[Callable[[], None] | None]:
    """Make ``where`` a small disk of ``size`` bytes; yields the ``preexec_fn`` a child process needs
    (None for a tmpfs, which limits every process)."""
    where.mkdir(exist_ok=True)
    if kind == "tmpfs":
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
        try:
            yield None
        finally:
            subprocess.run(["umount", "-l", str(where)], check=False)
        return

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    yield limit
