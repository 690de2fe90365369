"""Helpers for artifact tests: a record of every file outside the artifact directory, to prove that nothing
was written there."""

from __future__ import annotations

import os
from pathlib import Path


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file and directory under ``root`` (not following symlinks) with its size and mtime, leaving out
    the tree under ``skip``, SQLite's own files and the pipeline's queue files beside them."""
    seen: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".asynctrack-queues"]
        if skip is not None and Path(dirpath) == skip:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path == skip or name.startswith("t.db"):
                continue
            st = path.lstat()
            seen[str(path.relative_to(root))] = (st.st_size if path.is_file() else 0, st.st_mtime_ns)
    return seen


class Outside:
    """``Outside(root, artifact_dir)`` remembers every file under ``root`` but outside the artifact
    directory; ``unchanged()`` asserts that none was added, removed or modified since."""

    def __init__(self, root: Path, artifact_dir: Path) -> None:
        self.root, self.artifact_dir = root, artifact_dir
        self.before = snapshot(root, skip=artifact_dir)

    def unchanged(self) -> None:
        assert snapshot(self.root, skip=self.artifact_dir) == self.before
