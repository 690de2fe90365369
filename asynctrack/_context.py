"""The system tags MLflow sets on a new run: user, source name and type, git commit, branch and remote."""

from __future__ import annotations

import getpass
import os
import sys

from asynctrack._system_tags import (
    MLFLOW_GIT_BRANCH,
    MLFLOW_GIT_COMMIT,
    MLFLOW_GIT_REPO_URL,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    MLFLOW_USER,
)

__all__ = ["context_tags", "current_user", "git_commit", "git_info"]


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # containers without a passwd entry for the uid
        return "unknown"


def _source_name() -> str:
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return os.path.abspath(main) if main and main != "-c" else main


class _GitDirs:
    """Where a checkout's git data is: ``head`` holds its HEAD; ``common`` its refs and config. They
    differ in a linked worktree (``git worktree add``), whose ``.git`` is a file naming its own directory,
    which names the main repository's in ``commondir``."""

    def __init__(self, head: str, common: str) -> None:
        self.head = head
        self.common = common


def _git_dir(path: str) -> _GitDirs | None:
    d = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
    while True:
        git = os.path.join(d, ".git")
        if os.path.isdir(git):
            return _GitDirs(git, git)
        if os.path.isfile(git):
            return _linked_worktree(git)
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _linked_worktree(dot_git: str) -> _GitDirs | None:
    try:
        with open(dot_git) as f:
            text = f.read().strip()
        if not text.startswith("gitdir:"):
            return None
        head = os.path.join(os.path.dirname(dot_git), text[len("gitdir:") :].strip())
        common = head
        commondir = os.path.join(head, "commondir")
        if os.path.exists(commondir):
            with open(commondir) as f:
                common = os.path.join(head, f.read().strip())
        return _GitDirs(os.path.normpath(head), os.path.normpath(common))
    except OSError:
        return None


def git_commit(path: str) -> str | None:
    """The commit checked out in the git repository holding ``path``, read from ``.git`` (no subprocess)."""
    git = _git_dir(path)
    return None if git is None else _read_head(git)[0]


def git_info(path: str) -> dict[str, str]:
    """MLflow's git tags for the repository holding ``path``: commit, branch (unless the head is detached)
    and the first remote's URL, each only when known. Read from ``.git``: no git executable, no GitPython."""
    git = _git_dir(path)
    if git is None:
        return {}
    commit, branch = _read_head(git)
    if commit is None:
        return {}
    tags = {MLFLOW_GIT_COMMIT: commit}
    if branch is not None:
        tags[MLFLOW_GIT_BRANCH] = branch
    url = _first_remote_url(git.common)
    if url is not None:
        tags[MLFLOW_GIT_REPO_URL] = url
    return tags


def _read_head(git: _GitDirs) -> tuple[str | None, str | None]:
    """(commit, branch name or None when detached)."""
    try:
        with open(os.path.join(git.head, "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref: "):
            return head or None, None
        ref = head[5:]
        branch = ref.removeprefix("refs/heads/")
        ref_file = os.path.join(git.common, ref)
        if os.path.exists(ref_file):
            with open(ref_file) as f:
                return f.read().strip() or None, branch
        packed = os.path.join(git.common, "packed-refs")
        if os.path.exists(packed):
            with open(packed) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[1] == ref:
                        return parts[0], branch
    except OSError:
        pass
    return None, None


def _first_remote_url(git: str) -> str | None:
    """The ``url`` of the first ``[remote ...]`` section of ``.git/config`` (GitPython's order)."""
    try:
        with open(os.path.join(git, "config")) as f:
            in_remote = False
            for raw in f:
                line = raw.strip()
                if line.startswith("["):
                    in_remote = line.startswith("[remote ")
                elif in_remote and line.replace(" ", "").startswith("url="):
                    return line.split("=", 1)[1].strip()
    except OSError:
        return None
    return None


def context_tags() -> dict[str, str]:
    """``mlflow.user``, ``mlflow.source.name``, ``mlflow.source.type`` and, in a repo, the git commit."""
    source = _source_name()
    tags = {
        MLFLOW_USER: current_user(),
        MLFLOW_SOURCE_NAME: source,
        MLFLOW_SOURCE_TYPE: "LOCAL",
    }
    tags.update(git_info(source or os.getcwd()))
    return tags
