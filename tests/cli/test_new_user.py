"""What a new user meets first (issue 12): the demo, then listing what it logged, at 80 columns, and
read-only commands in an empty directory. Real console runs in subprocesses, real SQLite files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(cwd: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ASYNCTRACK_"))}
    env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "asynctrack", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def deep(tmp_path: Path) -> Path:
    """A working directory with a long path, as a real project has (longer than 80 columns with mlruns)."""
    d = tmp_path / "a-rather-long-project-directory-name" / "experiments-for-the-paper" / "run-here"
    d.mkdir(parents=True)
    return d


def _lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


@pytest.mark.slow  # a dozen console runs of ~1 s each
def test_demo_then_runs_list_at_80_columns(deep: Path) -> None:
    """The demo names its experiment, prints its data path whole and the exact command listing its runs;
    that command and a bare `runs list` show the demo's runs (not "0 run(s) in experiment(s) 0"), every
    run id whole on one line of an 80-column terminal."""
    demo = run_cli(deep, "demo", "--epochs", "1", "--steps", "300", "--no-progress")
    assert demo.returncode == 0, demo.stderr
    db = deep / "mlruns" / "asynctrack.db"
    assert _lines_with(demo.stdout, f"sqlite:///{db}"), demo.stdout  # the path, whole, on one line
    assert "asynctrack-demo" in demo.stdout
    (command,) = re.findall(r"asynctrack runs list --experiment-id \d+", demo.stdout)
    assert run_cli(deep, "demo", "--epochs", "1", "--steps", "300", "--no-progress").returncode == 0
    made = run_cli(deep, "experiments", "create", "other")
    assert made.returncode == 0, made.stderr

    listed = json.loads(run_cli(deep, "runs", "list", "--json").stdout)
    demo_ids = {r["info"]["run_id"] for r in listed}
    assert len(demo_ids) == 2  # both demo runs, found without naming their experiment
    for args in (command.split()[1:], ["runs", "list"]):
        out = run_cli(deep, *args)
        assert out.returncode == 0, out.stderr
        assert "2 run(s)" in out.stdout, out.stdout
        for run_id in demo_ids:
            assert len(_lines_with(out.stdout, run_id)) == 1, out.stdout  # whole, on one line
        assert max(len(line) for line in out.stdout.splitlines()) <= 80
    assert "3 active experiment(s)" in run_cli(deep, "runs", "list").stdout

    run_id = sorted(demo_ids)[0]
    described = run_cli(deep, "runs", "describe", run_id)
    assert described.returncode == 0, described.stderr
    artifacts = json.loads(run_cli(deep, "runs", "describe", run_id, "--json").stdout)["info"]["artifact_uri"]
    assert len(artifacts) > 80 and _lines_with(described.stdout, artifacts), described.stdout
    experiments = run_cli(deep, "experiments", "list")
    assert experiments.returncode == 0 and "asynctrack-demo" in experiments.stdout


# Six console runs of ~1 s each per case: the other two cases are in the slow set.
@pytest.mark.slow
@pytest.mark.parametrize(
    "uri",
    [
        None,
        pytest.param("sqlite:///elsewhere.db", marks=pytest.mark.slow),
        pytest.param("file-store-dir", marks=pytest.mark.slow),
    ],
)
def test_reading_never_creates_a_store(tmp_path: Path, uri: str | None) -> None:
    """In an empty directory, the read-only commands say there is nothing there and create nothing:
    lists exit 0 (JSON: an empty list), describing an unknown run exits 1."""
    prefix = [] if uri is None else ["--tracking-uri", uri]
    for args in (["runs", "list"], ["experiments", "list"]):
        out = run_cli(tmp_path, *prefix, *args)
        assert out.returncode == 0, out.stderr
        assert "No tracking store at" in out.stdout and "nothing has been logged there" in out.stdout
        as_json = run_cli(tmp_path, *prefix, *args, "--json")
        assert as_json.returncode == 0 and json.loads(as_json.stdout) == []
        assert "No tracking store at" in as_json.stderr
    described = run_cli(tmp_path, *prefix, "runs", "describe", "f" * 32)
    assert described.returncode == 1
    assert f"Run with id={'f' * 32} not found" in described.stderr and "No tracking store" in described.stderr
    deleted = run_cli(tmp_path, *prefix, "experiments", "delete", "3")
    assert deleted.returncode == 1 and "No Experiment with id=3 exists" in deleted.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created: no mlruns/, no database file
