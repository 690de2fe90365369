"""The interop tests' mlflow venv: when it cannot be built (venv creation failing, pip failing, as offline,
a location that cannot be made), its tests skip with one line saying how to provide one, unless
``ASYNCTRACK_TEST_REQUIRE_MLFLOW=1`` (CI), where they fail. None of these tests uses the network."""

from __future__ import annotations

import os
import stat
import subprocess
import venv
from collections.abc import Callable
from pathlib import Path

import pytest
import servers

PIP_OFFLINE = "ERROR: No matching distribution found for mlflow==3.17.2"


def _cannot_create(root: Path, **kwargs: object) -> None:
    raise OSError(28, "No space left on device")


def _ensurepip_fails(root: Path, **kwargs: object) -> None:
    raise subprocess.CalledProcessError(1, [str(root / "bin" / "python"), "-m", "ensurepip"])


def _fake_python(root: Path, script: str) -> Path:
    """``root/bin/python`` as a shell script running ``script`` (a stand-in for a venv's interpreter)."""
    (root / "bin").mkdir(parents=True)
    python = root / "bin" / "python"
    python.write_text(f"#!/bin/sh\n{script}")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return python


def _pip_offline(root: Path, **kwargs: object) -> None:
    """A venv whose interpreter fails every command as pip does offline, noting each call."""
    _fake_python(
        root,
        f'echo "$*" >> "{root / "calls"}"\n'
        f'echo "WARNING: Retrying..." >&2\necho "{PIP_OFFLINE}" >&2\nexit 1\n',
    )


def _location_not_a_directory(root: Path) -> None:
    root.parent.parent.write_text("a file where the venv's parent directory should be")


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """No failure remembered from elsewhere in the session, none left behind."""
    monkeypatch.setattr(servers, "_mlflow_unavailable", {})


def _venv_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: bool) -> Path:
    root = tmp_path / "home" / "cache" / "mlflow-venv"
    monkeypatch.setenv("ASYNCTRACK_TEST_MLFLOW_VENV", str(root))
    if ci:
        monkeypatch.setenv("ASYNCTRACK_TEST_REQUIRE_MLFLOW", "1")
    else:
        monkeypatch.delenv("ASYNCTRACK_TEST_REQUIRE_MLFLOW", raising=False)
    return root


# Each way the build can fail, with what the one line must say about it.
FAILURES: dict[str, tuple[Callable[..., None], str]] = {
    "venv.create raises": (_cannot_create, "No space left on device"),
    "ensurepip fails": (_ensurepip_fails, "ensurepip"),
    "pip fails (offline)": (_pip_offline, PIP_OFFLINE),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_venv_that_cannot_be_built_skips_with_how_to_provide_one(
    failure: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    make, said = FAILURES[failure]
    root = _venv_at(monkeypatch, tmp_path, ci=False)
    monkeypatch.setattr(venv, "create", make)
    with pytest.raises(pytest.skip.Exception) as info:
        servers.mlflow_python()
    message = str(info.value)
    assert "ASYNCTRACK_TEST_MLFLOW_VENV" in message and "mlflow==3.17.2" in message and said in message
    assert "\n" not in message and "Retrying" not in message  # one line: pip's last, not its chatter
    assert not (root / ".installed").exists()
    monkeypatch.setattr(venv, "create", _unexpected)
    with pytest.raises(pytest.skip.Exception) as again:  # remembered: not tried again by the next test
        servers.mlflow_python()
    assert str(again.value) == message


def _unexpected(*args: object, **kwargs: object) -> None:
    raise AssertionError("the build was tried again")


def test_a_location_that_cannot_be_made_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ASYNCTRACK_TEST_MLFLOW_VENV under a file: making its directory (or the lock beside it) fails."""
    root = _venv_at(monkeypatch, tmp_path, ci=False)
    _location_not_a_directory(root)
    monkeypatch.setattr(venv, "create", _unexpected)
    with pytest.raises(pytest.skip.Exception) as info:
        servers.mlflow_python()
    message = str(info.value)
    assert "ASYNCTRACK_TEST_MLFLOW_VENV" in message and "Not a directory" in message and "\n" not in message


@pytest.mark.parametrize("failure", [*sorted(FAILURES), "location cannot be made"])
def test_ci_fails_instead_of_skipping(failure: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = _venv_at(monkeypatch, tmp_path, ci=True)
    if failure in FAILURES:
        monkeypatch.setattr(venv, "create", FAILURES[failure][0])
    else:
        _location_not_a_directory(root)
    with pytest.raises(RuntimeError, match="ASYNCTRACK_TEST_MLFLOW_VENV"):
        servers.mlflow_python()
    with pytest.raises(RuntimeError, match="ASYNCTRACK_TEST_MLFLOW_VENV"):  # and every later test too
        servers.mlflow_python()


@pytest.mark.parametrize("ci", [False, True], ids=["skip", "ci"])
@pytest.mark.parametrize("extra", ["auth", "postgres"])
def test_an_extra_that_cannot_be_installed_skips_once(
    extra: str, ci: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The auth extra and psycopg go into the built venv with its pip: offline, their tests skip (fail in
    CI) like mlflow's, and pip is not run again for the next test."""
    root = _venv_at(monkeypatch, tmp_path, ci=ci)
    _pip_offline(root)
    (root / ".installed").write_text("3.17.2")  # mlflow itself is there
    get = servers.mlflow_auth_python if extra == "auth" else servers.mlflow_postgres_python
    expected = RuntimeError if ci else pytest.skip.Exception
    for _ in range(2):
        with pytest.raises(expected) as info:
            get()
        assert "ASYNCTRACK_TEST_MLFLOW_VENV" in str(info.value) and "\n" not in str(info.value)
    (call,) = (root / "calls").read_text().splitlines()  # pip ran once
    assert call.startswith("-m pip install") and ("Flask-WTF" in call or "psycopg" in call)


def test_a_given_venv_with_mlflow_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A venv made elsewhere (no marker of ours) with mlflow 3.17.2 in it is neither rebuilt nor touched."""
    root = _venv_at(monkeypatch, tmp_path, ci=True)
    python = _fake_python(root, "echo 3.17.2\n")
    monkeypatch.setattr(venv, "create", _unexpected)
    assert servers.mlflow_python() == python
    assert sorted(p.name for p in root.iterdir()) == ["bin"]


@pytest.mark.slow  # a real venv with pip (ensurepip: ~5 s)
def test_a_real_pip_without_an_index_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The whole path for real, offline: venv.create with pip, then pip install against an index that
    refuses connections (nothing listens on the port), so the test needs no network and changes none."""
    root = _venv_at(monkeypatch, tmp_path, ci=False)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{servers.free_port()}/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        servers.mlflow_python()
    message = str(info.value)
    assert "pip install mlflow==3.17.2 failed" in message and "ASYNCTRACK_TEST_MLFLOW_VENV" in message
    assert "\n" not in message
    assert (root / "bin" / "python").exists() and not (root / ".installed").exists()


def test_a_given_directory_without_mlflow_is_never_wiped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ASYNCTRACK_TEST_MLFLOW_VENV naming someone's venv (or any directory) without mlflow 3.17.2: rebuilding
    it would clear it, so the tests skip and say so, and the directory is left exactly as it was."""
    root = _venv_at(monkeypatch, tmp_path, ci=False)
    _fake_python(root, "exit 1\n")  # a venv's interpreter without mlflow
    (root / "work.txt").write_text("keep me")
    monkeypatch.setattr(venv, "create", _unexpected)
    with pytest.raises(pytest.skip.Exception) as info:
        servers.mlflow_python()
    message = str(info.value)
    assert "left as it is" in message and str(root) in message and "\n" not in message
    assert (root / "work.txt").read_text() == "keep me"
    assert sorted(p.name for p in root.iterdir()) == ["bin", "work.txt"]


def test_a_given_venv_these_tests_made_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A venv an earlier run made at ASYNCTRACK_TEST_MLFLOW_VENV whose install did not finish is built
    again (it carries the tests' mark)."""
    root = _venv_at(monkeypatch, tmp_path, ci=False)
    root.mkdir(parents=True)
    (root / servers._MADE_HERE).touch()
    (root / "half-installed").touch()
    made: list[Path] = []

    def create(at: Path, **kwargs: object) -> None:
        made.append(at)
        _pip_offline(at, **kwargs)

    monkeypatch.setattr(venv, "create", create)
    with pytest.raises(pytest.skip.Exception) as info:
        servers.mlflow_python()
    assert made == [root] and PIP_OFFLINE in str(info.value)
