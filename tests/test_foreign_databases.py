"""A database asynctrack did not create is never modified (issue 12).

The MLflow database is made by the real ``mlflow==3.17.2`` (its own venv, tests/servers.py); every refusal
is checked to leave the file byte-for-byte as it was (a SHA-256 before and after) and to leave nothing beside
it, through the client, the CLI and ``asynctrack server``."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from loops import PRODUCTION_LOOP

import asynctrack
from asynctrack import MlflowClient, MlflowException
from asynctrack.store.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).parent))
import servers  # noqa: E402

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP  # asyncio on uvloop, in debug mode: the loop asynctrack runs (tests/loops.py)


_MAKE_MLFLOW_DB = """
import mlflow
mlflow.set_tracking_uri("sqlite:///mlflow.db")
mlflow.set_experiment("made-by-mlflow")
with mlflow.start_run():
    mlflow.log_metric("loss", 0.5)
    mlflow.log_param("lr", "0.1")
"""


@pytest.fixture(scope="module")
def mlflow_db_original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database made by MLflow 3.17.2 itself (one experiment besides Default, one run)."""
    where = tmp_path_factory.mktemp("mlflow-made")
    subprocess.run(
        [str(servers.mlflow_python()), "-c", _MAKE_MLFLOW_DB],
        cwd=where,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return where / "mlflow.db"


@pytest.fixture
def mlflow_db(mlflow_db_original: Path, tmp_path: Path) -> Path:
    """A private copy of the MLflow-made database, alone in its directory."""
    path = tmp_path / "data" / "mlflow.db"
    path.parent.mkdir()
    shutil.copyfile(mlflow_db_original, path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def env() -> dict[str, str]:
    e = {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join(sys.path)}
    e.pop("MLFLOW_TRACKING_URI", None)
    return e


def _assert_mlflow_refusal(message: str, path: Path) -> None:
    assert str(path) in message
    assert "MLflow database" in message
    assert "nothing was written" in message
    assert "mlflow server --backend-store-uri" in message
    assert f"asynctrack db copy sqlite:///{path} sqlite:///asynctrack.db" in " ".join(message.split())


@pytest.mark.slow
async def test_store_refuses_mlflow_database_unchanged(mlflow_db: Path) -> None:
    """The store refuses an MLflow database, naming what it found, and leaves the file as it was."""
    before, files = digest(mlflow_db), listing(mlflow_db.parent)
    with pytest.raises(MlflowException) as ei:
        await SqliteStore.open(str(mlflow_db), str(mlflow_db.parent / "artifacts"))
    _assert_mlflow_refusal(ei.value.message, mlflow_db)
    assert "2 experiments, 1 runs" in ei.value.message  # read from MLflow's own tables
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert digest(mlflow_db) == before
    assert listing(mlflow_db.parent) == files


def test_client_and_fluent_refuse_mlflow_database(mlflow_db: Path, tmp_tracking: str) -> None:
    """MlflowClient and the fluent API raise at their first call; the file is unchanged."""
    before = digest(mlflow_db)
    uri = f"sqlite:///{mlflow_db}"
    with pytest.raises(MlflowException) as ei:
        MlflowClient(uri).search_experiments()
    _assert_mlflow_refusal(ei.value.message, mlflow_db)
    asynctrack.set_tracking_uri(uri)
    with pytest.raises(MlflowException) as ei:
        asynctrack.log_metric("m", 1.0)
    _assert_mlflow_refusal(ei.value.message, mlflow_db)
    assert digest(mlflow_db) == before
    assert listing(mlflow_db.parent) == ["mlflow.db"]


def test_wal_mode_foreign_database_left_unchanged(mlflow_db: Path) -> None:
    """A foreign database already in WAL mode: refused, no -wal/-shm left beside it, bytes unchanged."""
    conn = sqlite3.connect(mlflow_db)
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    conn.close()
    before = digest(mlflow_db)
    with pytest.raises(MlflowException) as ei:
        MlflowClient(f"sqlite:///{mlflow_db}").get_experiment("0")
    _assert_mlflow_refusal(ei.value.message, mlflow_db)
    assert digest(mlflow_db) == before
    assert listing(mlflow_db.parent) == ["mlflow.db"]


@pytest.mark.slow  # console runs (~1 s each); the store and client cases stay in the quick loop
def test_cli_refuses_mlflow_database(mlflow_db: Path) -> None:
    """Read and write commands exit 1 with the message; the file is unchanged."""
    before = digest(mlflow_db)
    for args in (["runs", "list"], ["experiments", "create", "x"], ["experiments", "list"]):
        out = subprocess.run(
            [sys.executable, "-m", "asynctrack", "--tracking-uri", f"sqlite:///{mlflow_db}", *args],
            cwd=mlflow_db.parent,
            env=env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        _assert_mlflow_refusal(" ".join(out.stderr.split()), mlflow_db)
    assert digest(mlflow_db) == before
    assert listing(mlflow_db.parent) == ["mlflow.db"]


@pytest.mark.slow  # a server process per case
def test_server_refuses_mlflow_database(mlflow_db: Path) -> None:
    """`asynctrack server` on an MLflow database exits with the message before serving; file unchanged."""
    before = digest(mlflow_db)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "asynctrack",
            "server",
            "--port",
            str(servers.free_port()),
            "--backend-store-uri",
            f"sqlite:///{mlflow_db}",
        ],
        cwd=mlflow_db.parent,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, (out.stdout, out.stderr)
    _assert_mlflow_refusal(" ".join(out.stderr.split()), mlflow_db)
    assert digest(mlflow_db) == before
    assert listing(mlflow_db.parent) == ["mlflow.db"]


async def test_other_foreign_schema_refused(tmp_path: Path) -> None:
    """Any database without asynctrack's marker table is refused, naming its tables."""
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE users (id INTEGER, name TEXT); INSERT INTO users VALUES (1, 'a');")
    conn.close()
    before = digest(path)
    with pytest.raises(MlflowException) as ei:
        await SqliteStore.open(str(path), str(tmp_path / "a"))
    assert "tables users" in ei.value.message and "asynctrack_meta" in ei.value.message
    assert "MLflow database" not in ei.value.message
    assert digest(path) == before and listing(tmp_path) == ["app.db"]


async def test_table_less_database_not_ours_refused(tmp_path: Path) -> None:
    """A valid SQLite file with no tables, which asynctrack never leaves behind, is refused too."""
    path = tmp_path / "blank.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")  # writes the header: a real, table-less database
    conn.close()
    assert path.stat().st_size > 0
    before = digest(path)
    with pytest.raises(MlflowException) as ei:
        await SqliteStore.open(str(path), str(tmp_path / "a"))
    assert "no tables" in ei.value.message and str(path) in ei.value.message
    assert digest(path) == before


async def test_zero_byte_file_refused_then_created_once_deleted(tmp_path: Path) -> None:
    """A 0-byte file asynctrack did not create is refused and stays 0 bytes; once deleted, asynctrack
    creates the database (whole: nothing temporary is left beside it)."""
    path = tmp_path / "t.db"
    path.touch()
    with pytest.raises(MlflowException) as ei:
        await SqliteStore.open(str(path), str(tmp_path / "a"))
    assert "empty (0-byte) file" in ei.value.message and "did not create" in ei.value.message
    assert path.stat().st_size == 0
    path.unlink()
    store = await SqliteStore.open(str(path), str(tmp_path / "a"))
    try:
        assert (await store.get_experiment("0")).name == "Default"
    finally:
        await store.aclose()
    assert listing(tmp_path) == ["t.db"]
    store = await SqliteStore.open(str(path), str(tmp_path / "a"))  # ours now: opened again
    await store.aclose()


async def test_not_sqlite_file_unchanged(tmp_path: Path) -> None:
    """A file that is not SQLite is refused by its header, before SQLite opens it."""
    path = tmp_path / "notes.db"
    path.write_text("my notes\n" * 100)
    before = digest(path)
    with pytest.raises(MlflowException) as ei:
        await SqliteStore.open(str(path), str(tmp_path / "a"))
    assert "not a usable SQLite database" in ei.value.message
    assert digest(path) == before and listing(tmp_path) == ["notes.db"]


_CREATE_AT_ONCE = """
import sys, time
from asynctrack import MlflowClient
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
client = MlflowClient("sqlite:///" + sys.argv[1])
run = client.create_run("0")
client.log_metric(run.info.run_id, "m", 1.0)
print(run.info.run_id)
"""


@pytest.mark.slow  # many processes racing to create a store (~20 s)
def test_processes_creating_one_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Eight processes opening a store that does not exist yet, released at the same instant: one creates
    it, none sees a half-made (0-byte) file and refuses, every run lands. Repeated three times."""
    import time

    for round_ in range(3):
        path = tmp_path / f"race{round_}.db"
        start = time.time() + 1.5
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(_CREATE_AT_ONCE), str(path), str(start)],
                env=env(),
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(8)
        ]
        ids = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            ids.append(out.strip())
        runs = MlflowClient(f"sqlite:///{path}").search_runs(["0"])
        assert sorted(r.info.run_id for r in runs) == sorted(ids)
    assert not [n for n in listing(tmp_path) if n.endswith(".creating")]
