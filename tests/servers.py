"""Real tracking servers on loopback for tests: ``asynctrack server`` and the official ``mlflow server``.

MLflow runs from its own venv (``mlflow==3.17.2``, the version we are measured against), made once per
machine under ``~/.cache/asynctrack-tests`` (or ``ASYNCTRACK_TEST_MLFLOW_VENV``) with a file lock, so
parallel test processes share one install and asynctrack's own venv never gets mlflow's dependencies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

MLFLOW_VERSION = "3.17.2"
_READY_TIMEOUT = 120.0


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SKIP_NO_MLFLOW = (
    f"no mlflow=={MLFLOW_VERSION} venv ({{why}}); to run these tests offline, point "
    "ASYNCTRACK_TEST_MLFLOW_VENV "
    f"at a venv with mlflow=={MLFLOW_VERSION} installed (python -m venv DIR && DIR/bin/pip install "
    f"mlflow=={MLFLOW_VERSION})"
)
# Why a part of a venv could not be built (by its marker file: mlflow itself, the auth extra, psycopg), once
# it could not: tried once per session, so later tests skip at once instead of waiting for pip again.
_mlflow_unavailable: dict[Path, str] = {}
# pip's own defaults (15 s, 5 retries) keep an offline machine waiting for minutes per install.
_PIP_INSTALL = ("-m", "pip", "install", "--quiet", "--retries", "2", "--timeout", "20")


def _has_mlflow(python: Path) -> bool:
    try:
        probe = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
            capture_output=True,
            text=True,
        )
    except OSError:  # not an interpreter that runs here
        return False
    return probe.returncode == 0 and probe.stdout.strip() == MLFLOW_VERSION


def mlflow_python() -> Path:
    """The interpreter of a venv with ``mlflow==3.17.2``, created on first use.

    ``ASYNCTRACK_TEST_MLFLOW_VENV`` names a venv to use (one that already has mlflow 3.17.2 is used as it
    is) or to create; a directory there that these tests did not make is never rebuilt (that would wipe
    it). When it cannot be built (no network, pip failing, a directory that cannot be created), the calling
    test is skipped with one line saying how to provide one; CI sets ``ASYNCTRACK_TEST_REQUIRE_MLFLOW=1``
    so that there it fails instead.
    """
    given = os.environ.get("ASYNCTRACK_TEST_MLFLOW_VENV")
    root = Path(given or Path.home() / ".cache" / "asynctrack-tests" / f"mlflow-{MLFLOW_VERSION}")
    python = root / "bin" / "python"
    if (root / ".installed").exists():
        return python
    if given and python.exists() and _has_mlflow(python):
        return python

    def build() -> str | None:
        if given and _foreign(root):
            # Named by the user and not made here: rebuilding it (venv.create clears the directory) could
            # wipe a venv or a directory named by mistake.
            return (
                f"{root} exists, has no mlflow=={MLFLOW_VERSION} and was not made by these tests, so it is "
                "left as it is; install mlflow there, or name a new or empty directory"
            )
        try:
            venv.create(root, with_pip=True, clear=True)
            (root / _MADE_HERE).touch()
        except Exception as exc:  # ensurepip failed (CalledProcessError), no space, no permission, ...
            return f"creating a venv at {root} failed: {exc}"
        return _pip_install(python, f"mlflow=={MLFLOW_VERSION}")

    _build_once(root / ".installed", build)
    return python


# Written into a venv these tests create: only such a directory (or an empty one) is ever rebuilt.
_MADE_HERE = ".asynctrack-tests-venv"


def _foreign(root: Path) -> bool:
    """Whether ``root`` holds something these tests did not make (a non-empty directory without our mark,
    or a file)."""
    if not root.exists():
        return False
    if not root.is_dir():
        return True
    return not (root / _MADE_HERE).exists() and any(root.iterdir())


def mlflow_auth_python() -> Path:
    """:func:`mlflow_python` with MLflow's ``auth`` extra (Flask-WTF, which ``mlflow.server.auth`` and so
    its ``AuthServiceClient`` and ``mlflow server --app-name basic-auth`` import), added on first use."""
    python = mlflow_python()
    flask_wtf = "Flask-WTF<2"  # mlflow[auth]'s pin
    _build_once(python.parent.parent / ".auth-installed", lambda: _pip_install(python, flask_wtf))
    return python


def mlflow_postgres_python() -> Path:
    """:func:`mlflow_python` with the PostgreSQL driver MLflow 3.17.2 uses for ``postgresql://`` URIs
    (``psycopg`` 3), added on first use."""
    python = mlflow_python()
    psycopg = "psycopg[binary]>=3.1"
    _build_once(python.parent.parent / ".postgres-installed", lambda: _pip_install(python, psycopg))
    return python


def _pip_install(python: Path, requirement: str) -> str | None:
    """Install ``requirement`` with the venv's pip; why it failed, or None."""
    try:
        done = subprocess.run([str(python), *_PIP_INSTALL, requirement], capture_output=True, text=True)
    except OSError as exc:  # the venv has no interpreter
        return f"running {python} -m pip failed: {exc}"
    if done.returncode == 0:
        return None
    last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
    return f"pip install {requirement} failed: {last}"


def _build_once(marker: Path, build: Callable[[], str | None]) -> None:
    """Unless ``marker`` (a file in the venv's directory) exists: run ``build``, which returns why it
    failed or None, under the venv's file lock (parallel test processes build once), then write the marker.
    Any failure, making the lock's directory included, skips the calling test (fails it under
    ``ASYNCTRACK_TEST_REQUIRE_MLFLOW=1``), and later ones at once, without trying again."""
    if marker.exists():
        return
    if marker in _mlflow_unavailable:
        _unavailable(_mlflow_unavailable[marker])
    root = marker.parent
    why: str | None
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        with open(root.parent / f".{root.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if marker.exists():  # another process built it meanwhile
                return
            why = build()
            if why is None:
                marker.write_text(MLFLOW_VERSION)
    except OSError as exc:  # the cache directory or the lock cannot be made, a read-only disk, ...
        why = f"preparing {root} failed: {exc}"
    if why is not None:
        _mlflow_unavailable[marker] = " ".join(why.split())[:600]  # one line, whatever pip or the OS said
        _unavailable(_mlflow_unavailable[marker])


def _unavailable(why: str) -> NoReturn:
    if os.environ.get("ASYNCTRACK_TEST_REQUIRE_MLFLOW") == "1":
        raise RuntimeError(_SKIP_NO_MLFLOW.format(why=why))
    pytest.skip(_SKIP_NO_MLFLOW.format(why=why))


class ServerProcess:
    """A server subprocess on ``127.0.0.1:port``, ready once ``GET /health`` answers 200."""

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.cwd = cwd
        self.argv = list(argv)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        with open(self.log, "ab") as out:
            # A new session, so stop() can signal the server's worker processes too.
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                cwd=self.cwd,
            )
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready after {_READY_TIMEOUT} s:\n{self.tail()}")

    def tail(self) -> str:
        """The end of the server's log, for an error message."""
        return self.log.read_text(errors="replace")[-4000:]

    def wait_for_workers(self, count: int, timeout: float = _READY_TIMEOUT) -> set[str]:
        """Wait until the log names ``count`` started worker processes and return their pids.

        ``start()`` returns once one worker answers; the others of a multi-worker server may still be
        importing, and on a loaded machine a short test can finish before they take a connection."""
        deadline = time.monotonic() + timeout
        while True:
            pids = {
                line.split("[", 1)[1].split("]", 1)[0]
                for line in self.log.read_text(errors="replace").splitlines()
                if "Started server process [" in line
            }
            if len(pids) >= count:
                return pids
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"{len(pids)} of {count} workers started after {timeout} s:\n{self.tail()}"
                )
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server and all its workers (a crash, not a shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


def asynctrack_server(
    tmp: Path,
    *,
    backend_store_uri: str | None = None,
    workers: int = 1,
    port: int | None = None,
    extra: Sequence[str] = (),
    cwd: Path | None = None,
) -> ServerProcess:
    """An ``asynctrack server`` (not started) on a free loopback port, on a SQLite file under ``tmp``,
    run in ``cwd`` (default: the tests' working directory)."""
    port = port or free_port()
    uri = backend_store_uri or f"sqlite:///{tmp / 'server.db'}"
    argv = [
        sys.executable,
        "-m",
        "asynctrack",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        uri,
        "--workers",
        str(workers),
        *extra,
    ]
    return ServerProcess(argv, port, tmp / f"asynctrack-server-{port}.log", cwd=cwd)


def mlflow_server(
    tmp: Path, *, workers: int = 1, port: int | None = None, extra: Sequence[str] = ()
) -> ServerProcess:
    """An official ``mlflow server`` (not started) on a SQLite file under ``tmp``; ``extra`` options are
    appended (with ``--default-artifact-root`` among them, ours under ``tmp`` is left out: runs then get
    ``mlflow-artifacts:`` URIs with, for example, ``["--default-artifact-root", "mlflow-artifacts:/",
    "--artifacts-destination", str(tmp / "dest")]``)."""
    port = port or free_port()
    python = mlflow_python()
    root = (
        []
        if "--default-artifact-root" in extra
        else ["--default-artifact-root", str(tmp / "mlflow-artifacts")]
    )
    argv = [
        str(python),
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
        *root,
        "--workers",
        str(workers),
        *extra,
    ]
    # MLflow 3.17.2 starts a job runner with its own worker processes by default; no test here submits a
    # job, so it only adds idle processes to every reference server on a 2-core machine.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return ServerProcess(argv, port, tmp / f"mlflow-server-{port}.log", env=env)


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
