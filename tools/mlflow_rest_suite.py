"""Run MLflow's ``tests/tracking/test_rest_tracking.py`` or ``test_model_registry.py`` against
``asynctrack server`` and ``mlflow server``.

MLflow's files never enter this repository: they are exported from a git checkout of MLflow (by default the
``harupy/mlflow`` mirror the ``fetch`` tool makes, ``/work/.mirror/harupy+mlflow/repo``) into a scratch
directory outside it, and run there with a Python that has ``mlflow==3.17.2`` and pytest.

The test file is not edited. A pytest plugin written by this script (``asynctrack_mlflow_client.py`` in the
scratch directory, loaded with ``-p``) replaces exactly one thing, the module's client fixture
(``mlflow_client`` in test_rest_tracking.py, ``client`` in test_model_registry.py), when pytest imports
it: instead of MLflow's in-process server thread, each test gets a subprocess
server started with artifacts served (``--serve-artifacts``, an artifacts destination under the test's
``tmp_path``) on a fresh SQLite database, and the fluent API and ``MLFLOW_TRACKING_URI`` point at it. Which
server is chosen by ``SUITE_SERVER`` (``mlflow`` or ``asynctrack``). The ``store_type`` parametrisation stays
(MLflow skips its ``file`` half), so the count is the SQLite one.

    python tools/mlflow_rest_suite.py export   # files into --dest, once
    python tools/mlflow_rest_suite.py run --server asynctrack [-k EXPR]
    python tools/mlflow_rest_suite.py run --server mlflow
    python tools/mlflow_rest_suite.py run --server asynctrack tests/tracking/test_model_registry.py

``run`` prints pytest's summary and writes ``<dest>/results-<server>.txt`` (one ``outcome nodeid`` a line).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_GIT = Path("/work/.mirror/harupy+mlflow/repo")
DEFAULT_DEST = Path("/work/scratch/mlflowtests")
#: What test_rest_tracking.py imports from MLflow's tests package, and the conftests pytest loads for it.
EXPORT = (
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/helper_functions.py",
    "tests/simple_repository_server.py",
    "tests/autologging",
    "tests/tracing",
    "tests/integration",
    "tests/tracking/__init__.py",
    "tests/tracking/conftest.py",
    "tests/tracking/integration_test_utils.py",
    "tests/tracking/test_rest_tracking.py",
    "tests/tracking/test_model_registry.py",
)

PLUGIN = '''
"""Replaces the client fixture of test_rest_tracking.py (``mlflow_client``) and test_model_registry.py
(``client``), and nothing else, with a subprocess server."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import mlflow
from mlflow import MlflowClient

SERVER = os.environ["SUITE_SERVER"]
MODULES = ("test_rest_tracking.py", "test_model_registry.py")


def _port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _argv(tmp_path, db_uri, port):
    dest = str(tmp_path / "served-artifacts")
    common = ["--host", "127.0.0.1", "--port", str(port), "--serve-artifacts",
              "--artifacts-destination", dest]
    if SERVER == "mlflow":
        return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", db_uri, "--workers", "1",
                *common]
    python = os.environ["SUITE_ASYNCTRACK_PYTHON"]
    return [python, "-m", "asynctrack", "server", "--backend-store-uri",
            f"sqlite:///{tmp_path / 'asynctrack.db'}", "--workers", "1", *common]


@contextlib.contextmanager
def _server(tmp_path, db_uri):
    port = _port()
    env = dict(os.environ)
    # MLflow's in-process fixture starts no job runner (GenAI scorer jobs, out of scope here): nor do we,
    # which also spares each test six huey worker processes.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    if SERVER == "asynctrack" and os.environ.get("SUITE_ASYNCTRACK_PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["SUITE_ASYNCTRACK_PYTHONPATH"]
    log = open(tmp_path / f"{SERVER}-server.log", "ab")
    proc = subprocess.Popen(_argv(tmp_path, db_uri, port), stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{SERVER} server exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def mlflow_client(store_type, tmp_path, db_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_CRYPTO_KEK_PASSPHRASE", "test-passphrase-at-least-32-characters-long")
    with _server(tmp_path, db_uri) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        mlflow.set_tracking_uri(url)
        yield MlflowClient(url)


@pytest.fixture(params=["file", "sqlalchemy"], name="client")
def registry_client(request, tmp_path, db_uri, monkeypatch):
    """test_model_registry.py's ``client``: the same subprocess server (its ``file`` half skipped, as
    MLflow's fixture skips it)."""
    if request.param == "file":
        pytest.skip("FileStore is no longer supported.")
    monkeypatch.setenv("MLFLOW_CRYPTO_KEK_PASSPHRASE", "test-passphrase-at-least-32-characters-long")
    with _server(tmp_path, db_uri) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        mlflow.set_tracking_uri(url)
        yield MlflowClient(url)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makemodule(module_path, parent):
    module = yield
    if module_path.name in MODULES:
        load = module._getobj

        def _getobj():
            obj = load()
            if hasattr(obj, "mlflow_client"):
                obj.mlflow_client = mlflow_client
            if module_path.name == "test_model_registry.py" and hasattr(obj, "client"):
                obj.client = registry_client
            return obj

        module._getobj = _getobj
    return module
'''

PYTEST_INI = """[pytest]
addopts = -p no:legacypath -p no:cacheprovider --no-header -q -rN
timeout = 600
"""


def export(git_dir: Path, dest: Path, commit: str) -> str:
    dest_resolved = dest.resolve()
    if dest_resolved == REPO or REPO in dest_resolved.parents:
        raise SystemExit(f"{dest}: MLflow's files must stay outside the repository ({REPO})")
    sha = subprocess.run(
        ["git", "-C", str(git_dir), "rev-parse", commit], check=True, capture_output=True, text=True
    ).stdout.strip()
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(git_dir), "archive", sha, *EXPORT], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    (dest / "asynctrack_mlflow_client.py").write_text(textwrap.dedent(PLUGIN).lstrip())
    (dest / "pytest.ini").write_text(PYTEST_INI)
    (dest / "SOURCE_COMMIT").write_text(sha + "\n")
    return sha


def run(dest: Path, server: str, python: str, extra: list[str]) -> int:
    env = dict(os.environ)
    env.update(
        SUITE_SERVER=server,
        SUITE_ASYNCTRACK_PYTHON=sys.executable,
        SUITE_ASYNCTRACK_PYTHONPATH=str(REPO),
        PYTHONPATH=str(dest),
    )
    env.pop("MLFLOW_TRACKING_URI", None)
    results = dest / f"results-{server}.txt"
    argv = [
        python,
        "-m",
        "pytest",
        "-p",
        "asynctrack_mlflow_client",
        "-o",
        "junit_family=xunit1",
        f"--junitxml={dest / f'results-{server}.xml'}",
        *extra,
    ]
    if not any(a.startswith("tests/") for a in extra):
        argv.append("tests/tracking/test_rest_tracking.py")
    done = subprocess.run(argv, cwd=dest, env=env)
    _summarise(dest / f"results-{server}.xml", results)
    return done.returncode


def _summarise(xml: Path, out: Path) -> None:
    import xml.etree.ElementTree as ET

    if not xml.exists():
        return
    lines = []
    counts: dict[str, int] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
        counts[outcome] = counts.get(outcome, 0) + 1
        lines.append(f"{outcome} {case.get('classname')}::{case.get('name')}")
    out.write_text("\n".join(sorted(lines)) + "\n")
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())), f"-> {out}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export")
    ex.add_argument("--git", type=Path, default=DEFAULT_GIT)
    ex.add_argument("--commit", default="HEAD")
    ex.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    rn = sub.add_parser("run")
    rn.add_argument("--server", choices=("mlflow", "asynctrack"), required=True)
    rn.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    rn.add_argument(
        "--python",
        default=os.environ.get("SUITE_MLFLOW_PYTHON", "/work/scratch/mlflowtest-venv/bin/python"),
        help="a Python with mlflow==3.17.2 and pytest (the servers' client side)",
    )
    args, extra = parser.parse_known_args()
    if args.cmd == "export":
        print("exported", export(args.git, args.dest, args.commit), "to", args.dest)
        return 0
    return run(args.dest, args.server, args.python, extra)


if __name__ == "__main__":
    sys.exit(main())
