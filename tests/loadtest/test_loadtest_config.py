"""Options from a TOML file and the command line: every option may live in the file, flags win, and a bad
file or flag is one line on stderr with exit code 2 (nothing is run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from loadtest_helpers import loadtest, loadtest_env, results

from asynctrack.loadtest import OPTIONS, ConfigError, Options


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.slow  # a load run through the console (~5 s)
def test_config_file_holds_every_option_and_flags_win(tmp_path: Path) -> None:
    """A file with the target and the workload runs as written; a flag given too overrides its key."""
    config = tmp_path / "lt.toml"
    config.write_text(
        f'target = "sqlite:///{tmp_path}/lt.db"\n'
        "workers = 1\nruns = 1\nmetrics = 3\nsteps = 10\nparams = 2\ntags = 1\n"
        'await-every = 2\nseed = 42\nexperiment = "from-config"\nmode = "threads"\n'
        "json = true\nprogress = false\nwait_timeout = 30\n"
    )
    proc = loadtest(tmp_path, "--config", str(config), "--steps", "20")
    assert proc.returncode == 0, proc.stderr
    (r,) = results(proc)
    w = r["workload"]
    assert (w["workers"], w["metrics"], w["steps"], w["await_every"], w["seed"]) == (1, 3, 20, 2, 42)
    assert r["metrics_sent"] == 60 and r["verification"]["lost"] == 0
    assert proc.stderr == ""  # progress = false


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workers = 2\nworkres = 3\n", "unknown key 'workres'"),
        ("workers = -1\n", "'workers' must be an integer from 1 to 256, got -1"),
        ('mode = "processes"\n', "'mode' must be 'threads' or 'tasks'"),
        ("duration = 'soon'\n", "'duration' must be a number"),
        ("json = 1\n", "'json' must be true or false"),
        ("[loadtest]\nworkers = 2\n", "unknown key 'loadtest' (options are top-level keys, not tables)"),
        ("workers = [\n", "is not valid TOML"),
    ],
)
def test_bad_config_file_is_one_line_exit_2(tmp_path: Path, text: str, message: str) -> None:
    """Unknown keys, wrong types, out-of-range values and broken TOML name the file and the key."""
    config = tmp_path / "bad.toml"
    config.write_text(text)
    # Checked in-process (same code path as the command) to keep this table fast ...
    with pytest.raises(ConfigError, match="bad.toml") as err:
        Options.from_toml(str(config))
    assert message in str(err.value)


@pytest.mark.slow  # console runs of ~1 s each (~8 s)
def test_bad_config_file_and_bad_flag_through_the_command(tmp_path: Path) -> None:
    """... and through the real command: one line, exit 2, for a config error and a bad flag."""
    config = tmp_path / "bad.toml"
    config.write_text("workers = 2\nfoo = 1\n")
    proc = loadtest(tmp_path, "sqlite:///x.db", "--config", str(config))
    assert proc.returncode == 2
    assert "unknown key 'foo'" in _one_line_error(proc)
    missing = loadtest(tmp_path, "sqlite:///x.db", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "cannot read config file" in _one_line_error(missing)
    flag = loadtest(tmp_path, "sqlite:///x.db", "--rate", "-5")
    assert flag.returncode == 2 and "--rate: must be 0 or a positive number" in flag.stderr
    no_target = loadtest(tmp_path)
    assert no_target.returncode == 2 and "no TARGET" in _one_line_error(no_target)
    assert not (tmp_path / "x.db").exists()


def test_every_option_has_a_flag_and_a_config_key() -> None:
    """The command line and the file are built from one table; a Workload field cannot be left out."""
    from asynctrack.loadtest import Workload

    names = {o.name for o in OPTIONS}
    assert set(Workload.__struct_fields__) <= names
    assert {f for f in Options.__struct_fields__ if f != "workload"} <= names


def test_report_without_matplotlib_says_how_to_install(tmp_path: Path) -> None:
    """--report needs the 'report' extra; without matplotlib the command says so before running."""
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"  # as if the extra were not installed
        "from asynctrack.cli import main\n"
        f"sys.exit(main(['loadtest', 'sqlite:///{tmp_path}/lt.db', '--report', '{tmp_path}/r']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=loadtest_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert "pip install 'asynctrack[report]'" in _one_line_error(proc)
    assert not (tmp_path / "lt.db").exists()
