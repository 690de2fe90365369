"""The system tags MLflow sets on a new run: user, source name and type, git commit."""

from __future__ import annotations

import getpass
import os
import sys

__all__ = ["context_tags", "current_user", "git_commit"]


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # containers without a passwd entry for the uid
        return "unknown"


def _source_name() -> str:
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return os.path.abspath(main) if main and main != "-c" else main


def git_commit(path: str) -> str | None:
    """The commit checked out in the git repository holding ``path``, read from ``.git`` (no subprocess)."""
    d = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
    while True:
        git = os.path.join(d, ".git")
        if os.path.isdir(git):
            return _read_head(git)
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _read_head(git: str) -> str | None:
    try:
        with open(os.path.join(git, "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref: "):
            return head or None
        ref = head[5:]
        ref_file = os.path.join(git, ref)
        if os.path.exists(ref_file):
            with open(ref_file) as f:
                return f.read().strip() or None
        packed = os.path.join(git, "packed-refs")
        if os.path.exists(packed):
            with open(packed) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[1] == ref:
                        return parts[0]
    except OSError:
        return None
    return None


def context_tags() -> dict[str, str]:
    """``mlflow.user``, ``mlflow.source.name``, ``mlflow.source.type`` and, in a repo, the git commit."""
    source = _source_name()
    tags = {
        "mlflow.user": current_user(),
        "mlflow.source.name": source,
        "mlflow.source.type": "LOCAL",
    }
    commit = git_commit(source or os.getcwd())
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags
