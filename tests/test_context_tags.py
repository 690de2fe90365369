"""System tags of a new run: git commit, branch and remote read from ``.git`` as MLflow's GitPython does."""

from __future__ import annotations

import subprocess
from pathlib import Path

from asynctrack._context import git_info


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def test_git_info_commit_branch_and_remote(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "trunk")
    assert git_info(str(repo / "src")) == {}  # no commit yet: MLflow sets no git tags either
    _git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    script = repo / "src" / "train.py"
    script.write_text("")
    assert git_info(str(script)) == {"mlflow.source.git.commit": head, "mlflow.source.git.branch": "trunk"}

    _git(repo, "remote", "add", "origin", "https://example.com/team/repo.git")
    _git(repo, "remote", "add", "backup", "https://example.com/backup.git")
    assert git_info(str(script))["mlflow.source.git.repoURL"] == "https://example.com/team/repo.git"

    _git(repo, "pack-refs", "--all")  # the branch now lives in packed-refs only
    assert git_info(str(script))["mlflow.source.git.commit"] == head

    _git(repo, "checkout", "-q", "--detach")
    detached = git_info(str(script))
    assert detached["mlflow.source.git.commit"] == head
    assert "mlflow.source.git.branch" not in detached


def test_outside_a_repository(tmp_path: Path) -> None:
    assert git_info(str(tmp_path / "nowhere.py")) == {}


def test_git_info_in_a_linked_worktree(tmp_path: Path) -> None:
    """A ``git worktree add`` checkout: its ``.git`` is a file; HEAD is its own, refs and remotes the main
    repository's (GitPython, hence MLflow, reads them so)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "trunk")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    _git(repo, "remote", "add", "origin", "https://example.com/team/repo.git")
    _git(repo, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "wt"))
    _git(tmp_path / "wt", "commit", "-q", "--allow-empty", "-m", "second")
    head = _git(tmp_path / "wt", "rev-parse", "HEAD")
    assert git_info(str(tmp_path / "wt" / "train.py")) == {
        "mlflow.source.git.commit": head,
        "mlflow.source.git.branch": "feature",
        "mlflow.source.git.repoURL": "https://example.com/team/repo.git",
    }
    _git(repo, "pack-refs", "--all")
    assert git_info(str(tmp_path / "wt" / "train.py"))["mlflow.source.git.commit"] == head
