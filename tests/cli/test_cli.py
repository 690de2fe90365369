"""The ``asynctrack`` command: tables by default, --json for scripts, clear errors and exit codes.

Each test runs the real console script in a subprocess against a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asynctrack import MlflowClient


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "asynctrack.cli", "--tracking-uri", f"sqlite:///{tmp_path}/c.db", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow  # a dozen console runs of ~1 s each
def test_experiment_lifecycle_commands(tmp_path: Path) -> None:
    """create, rename, delete and restore print what they did and change the store."""
    out = cli(tmp_path, "experiments", "create", "first", "--json")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    eid = created["experiment_id"]
    assert created["name"] == "first" and created["lifecycle_stage"] == "active"
    assert cli(tmp_path, "experiments", "rename", eid, "second").returncode == 0
    assert cli(tmp_path, "experiments", "delete", eid).returncode == 0
    client = MlflowClient(f"sqlite:///{tmp_path}/c.db")
    assert client.get_experiment(eid).lifecycle_stage == "deleted"
    assert client.get_experiment(eid).name == "second"
    restored = cli(tmp_path, "experiments", "restore", eid)
    assert restored.returncode == 0 and f"restored experiment {eid}" in restored.stdout
    assert client.get_experiment(eid).lifecycle_stage == "active"


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        # A console run costs ~1 s: one store error and one usage error stay in the quick loop.
        pytest.param(
            ("experiments", "delete", "999"), "No Experiment with id=999 exists", 1, marks=pytest.mark.slow
        ),
        (("experiments", "create", ""), "Invalid experiment name", 1),
        pytest.param(
            ("runs", "describe", "f" * 32), f"Run with id={'f' * 32} not found", 1, marks=pytest.mark.slow
        ),
        pytest.param(("runs", "describe", "bad id!"), "bad id!", 1, marks=pytest.mark.slow),
        (("runs", "list", "--max-results", "0"), "must be a positive integer", 2),
        pytest.param(
            ("experiments", "list", "--view", "sideways"), "invalid view", 2, marks=pytest.mark.slow
        ),
    ],
)
def test_bad_input_is_one_line_and_non_zero(tmp_path: Path, args, message: str, code: int) -> None:
    """Store errors exit 1 with 'error: ...'; bad arguments exit 2 with usage; never a traceback."""
    out = cli(tmp_path, *args)
    assert out.returncode == code
    assert message in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow  # several console runs of ~1 s each
def test_run_describe_delete_restore(tmp_path: Path) -> None:
    """describe shows a run's fields, metrics, params and tags; delete and restore change its stage."""
    client = MlflowClient(f"sqlite:///{tmp_path}/c.db")
    rid = client.create_run("0", run_name="cli-run").info.run_id
    client.log_metric(rid, "acc", 0.75)
    client.log_param(rid, "lr", "0.1")
    table = cli(tmp_path, "runs", "describe", rid)
    assert table.returncode == 0, table.stderr
    assert "cli-run" in table.stdout and "metrics.acc" in table.stdout and "0.75" in table.stdout
    data = json.loads(cli(tmp_path, "runs", "describe", rid, "--json").stdout)
    assert data["data"]["params"] == {"lr": "0.1"} and data["info"]["run_name"] == "cli-run"
    assert cli(tmp_path, "runs", "delete", rid).returncode == 0
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    assert cli(tmp_path, "runs", "restore", rid).returncode == 0
    assert client.get_run(rid).info.lifecycle_stage == "active"


@pytest.mark.slow  # several console runs of ~1 s each
def test_runs_list_filters_orders_and_prints_json(tmp_path: Path) -> None:
    """runs list applies --filter, --order-by and --max-results; the table and JSON agree."""
    client = MlflowClient(f"sqlite:///{tmp_path}/c.db")
    for i in range(5):
        rid = client.create_run("0", run_name=f"r{i}").info.run_id
        client.log_metric(rid, "acc", i / 10)
    args = ("runs", "list", "--filter", "metrics.acc > 0.15", "--order-by", "metrics.acc DESC")
    data = json.loads(cli(tmp_path, *args, "--max-results", "2", "--json").stdout)
    assert [r["info"]["run_name"] for r in data] == ["r4", "r3"]
    table = cli(tmp_path, *args)
    assert table.returncode == 0, table.stderr
    assert "3 run(s)" in table.stdout and "r2" in table.stdout and "r1" not in table.stdout
    bad = cli(tmp_path, "runs", "list", "--filter", "metrics.acc >>> 1")
    assert bad.returncode == 1 and "INVALID_PARAMETER_VALUE" in bad.stderr


def test_error_messages_keep_square_brackets(tmp_path):
    """A one-line error is printed as text: rich markup in a message (``[report]``) is not interpreted."""
    import contextlib
    import io

    from asynctrack.cli._output import fail

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert fail("install asynctrack[report] for plots", 1) == 1
    assert "asynctrack[report]" in err.getvalue()
