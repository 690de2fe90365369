"""Schema migrations on real files: the schema-4 and schema-5 databases (committed fixtures, each made by
the code of its version) and the schema-3 one, upgraded by ``asynctrack db upgrade``; newer schemas refused
unwritten; a server refusing an old schema with the command to run; an upgrade that fails half way leaves
the file as it was."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import make_schema5_fixture as schema5
import numpy as np
import pytest
from make_schema4_fixture import EXPERIMENTS, KEYS, RUNS_PER_EXPERIMENT, params, series, tags

from asynctrack.cli._main import main
from asynctrack.entities import LoggedModelInput, LoggedModelOutput, ViewType
from asynctrack.exceptions import MlflowException
from asynctrack.store._migrations import Migration, SchemaTooNew
from asynctrack.store.sqlite import SqliteStore
from asynctrack.store.sqlite._connection import transaction
from asynctrack.store.sqlite._migrations import STEPS, apply_plan
from asynctrack.store.sqlite._schema import SCHEMA_VERSION

DATA = Path(__file__).parent / "data"
SCHEMA3 = Path(__file__).parent.parent / "store_ui" / "data" / "schema3.db"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def version_of(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(
            conn.execute("SELECT value FROM asynctrack_meta WHERE key = 'schema_version'").fetchone()[0]
        )


def copy_of(src: Path, tmp: Path, name: str = "s.db") -> Path:
    dst = tmp / name
    shutil.copy(src, dst)
    return dst


async def check_schema4_contents(path: Path) -> None:
    """Everything make_schema4_fixture.py wrote is there, point for point."""
    store = await SqliteStore.open(str(path), "/nonexistent/artifacts")
    try:
        exps, _ = await store.search_experiments(ViewType.ALL, 100, "", [], None)
        by_name = {e.name: e for e in exps}
        for e, name in enumerate(EXPERIMENTS):
            exp = by_name[name]
            assert exp.tags == {"owner": f"o{e}"}
            assert exp.lifecycle_stage == ("deleted" if name == "removed" else "active")
            runs, _ = await store.search_runs(
                [exp.experiment_id], "", ViewType.ALL, 100, ["attributes.run_name ASC"], None
            )
            assert [r.info.run_name for r in runs] == [f"r{r}" for r in range(RUNS_PER_EXPERIMENT)]
            for r, run in enumerate(runs):
                assert run.data.params == params(e, r)
                assert {k: v for k, v in run.data.tags.items() if k != "mlflow.runName"} == tags(e, r)
                for k, key in enumerate(KEYS):
                    written = series(e, r, k)
                    steps = np.concatenate([s for s, _, _ in written])
                    order = np.argsort(steps, kind="stable")
                    got = await store.get_metric_series(run.info.run_id, key)
                    np.testing.assert_array_equal(got.steps, steps[order])
                    np.testing.assert_array_equal(
                        got.values, np.concatenate([v for _, v, _ in written])[order]
                    )
                    np.testing.assert_array_equal(
                        got.timestamps, np.concatenate([t for _, _, t in written])[order]
                    )
    finally:
        await store.aclose()


@pytest.mark.anyio
async def test_schema4_fixture_is_read_whole_by_this_code(tmp_path: Path) -> None:
    path = copy_of(DATA / "schema4.db", tmp_path)
    assert version_of(path) == "4"
    await check_schema4_contents(path)
    assert version_of(path) == str(SCHEMA_VERSION)


def test_upgrade_command_on_a_current_database_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = copy_of(DATA / "schema4.db", tmp_path)
    assert main(["db", "upgrade", "--no-backup", f"sqlite:///{path}"]) == 0  # to the current version
    capsys.readouterr()
    before = digest(path)
    assert main(["db", "upgrade", f"sqlite:///{path}"]) == 0
    out = capsys.readouterr().out
    assert f"schema version {SCHEMA_VERSION}, current; nothing to do" in out
    assert digest(path) == before
    assert list(tmp_path.glob("*.bak")) == []


def test_upgrade_command_from_schema_3_reports_backs_up_and_upgrades(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = copy_of(SCHEMA3, tmp_path)
    original = digest(path)
    assert main(["db", "upgrade", f"sqlite:///{path}", "--dry-run"]) == 0
    assert f"would upgrade schema version 3 -> {SCHEMA_VERSION}" in capsys.readouterr().out
    assert digest(path) == original  # a dry run writes nothing
    assert main(["db", "upgrade", f"sqlite:///{path}"]) == 0
    out = capsys.readouterr().out
    assert f"upgraded schema version 3 -> {SCHEMA_VERSION}" in out
    assert "3 -> 4: add chart summaries" in out
    (backup,) = tmp_path.glob("s.db.schema3-*.bak")
    assert str(backup) in out
    assert version_of(backup) == "3" and version_of(path) == str(SCHEMA_VERSION)
    with sqlite3.connect(backup) as b, sqlite3.connect(path) as p:
        assert b.execute("SELECT count(*) FROM metric_chunks").fetchone()[0] > 0
        assert (
            p.execute("SELECT count(*) FROM metric_summaries").fetchone()[0]
            == p.execute("SELECT count(*) FROM metric_chunks").fetchone()[0]
        )

    # the upgraded file opens without further migration; a second upgrade has nothing to do
    async def reopen() -> None:
        store = await SqliteStore.open(str(path), str(tmp_path / "a"), upgrade=False)
        await store.aclose()

    anyio.run(reopen)
    assert main(["db", "upgrade", f"sqlite:///{path}", "--no-backup"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_newer_schema_is_refused_unwritten_naming_both_versions(tmp_path: Path) -> None:
    path = copy_of(DATA / "schema4.db", tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE asynctrack_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    conn.close()
    before = digest(path)
    with pytest.raises(SchemaTooNew) as caught:
        anyio.run(SqliteStore.open, str(path), str(tmp_path / "a"))
    message = caught.value.message
    assert (
        f"schema version {SCHEMA_VERSION + 1}" in message and f"version {SCHEMA_VERSION} that this" in message
    )
    assert caught.value.error_code == "INVALID_STATE"
    assert main(["db", "upgrade", f"sqlite:///{path}"]) == 1
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]  # no -wal, -shm, backup


@pytest.mark.anyio
async def test_a_version_without_a_migration_is_refused(tmp_path: Path) -> None:
    path = copy_of(DATA / "schema4.db", tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE asynctrack_meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()
    before = digest(path)
    with pytest.raises(MlflowException, match="no migration from version 1"):
        await SqliteStore.open(str(path), str(tmp_path / "a"))
    assert digest(path) == before


def test_a_failing_step_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """The steps run in one transaction: a step after the current version that fails after changing things
    rolls back whole, the real steps before it included."""
    path = copy_of(DATA / "schema4.db", tmp_path)

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE future (x INTEGER)")
        conn.execute("DELETE FROM params")
        raise RuntimeError("step failed")

    steps = {**STEPS, SCHEMA_VERSION: Migration(SCHEMA_VERSION, "test step", half_then_fail)}
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        params_before = conn.execute("SELECT count(*) FROM params").fetchone()[0]
        with pytest.raises(RuntimeError, match="step failed"):
            transaction(conn, apply_plan, str(path), SCHEMA_VERSION + 1, steps)
        assert conn.execute("SELECT count(*) FROM params").fetchone()[0] == params_before > 0
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'future'").fetchone()[0] == 0
    finally:
        conn.close()
    assert version_of(path) == "4"

    def add_table(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE future (x INTEGER)")

    steps[SCHEMA_VERSION] = Migration(SCHEMA_VERSION, "test step", add_table)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        found, done = transaction(conn, apply_plan, str(path), SCHEMA_VERSION + 1, steps)
    finally:
        conn.close()
    assert found == 4 and done[-1] == f"{SCHEMA_VERSION} -> {SCHEMA_VERSION + 1}: test step"
    assert version_of(path) == str(SCHEMA_VERSION + 1)


def test_server_refuses_an_old_schema_and_names_the_upgrade_command(tmp_path: Path) -> None:
    path = copy_of(SCHEMA3, tmp_path)
    before = digest(path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "asynctrack",
            "server",
            "--port",
            "0",
            "--backend-store-uri",
            f"sqlite:///{path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    err = " ".join(done.stderr.split())
    assert f"schema version 3; this asynctrack reads version {SCHEMA_VERSION}" in err
    assert f"asynctrack db upgrade sqlite:///{path}" in err
    assert version_of(path) == "3" and digest(path) == before


@pytest.mark.anyio
async def test_schema5_fixture_keeps_its_logged_models_and_takes_run_model_links(tmp_path: Path) -> None:
    """A schema-5 database (logged models, no run model links) written by that code: opened by this code
    it is upgraded in place to the current version, its model, params, tags and linked points are intact,
    and its run now takes model inputs and outputs."""
    path = copy_of(DATA / "schema5.db", tmp_path)
    assert version_of(path) == "5"
    store = await SqliteStore.open(str(path), "/nonexistent/artifacts")
    try:
        assert version_of(path) == str(SCHEMA_VERSION)
        exp = await store.get_experiment_by_name("models")
        assert exp is not None
        (model,), _ = await store.search_logged_models([exp.experiment_id])
        assert (model.name, model.params, model.tags) == (
            schema5.MODEL_NAME,
            schema5.MODEL_PARAMS,
            schema5.MODEL_TAGS,
        )
        assert model.metrics is not None
        assert [(m.key, m.value, m.timestamp, m.step) for m in model.metrics] == schema5.POINTS
        (run,), _ = await store.search_runs([exp.experiment_id], "", ViewType.ALL, 10, [], None)
        assert run.info.run_name == schema5.RUN_NAME and run.data.params == {"lr": "0.1"}
        assert model.source_run_id == run.info.run_id
        rid = run.info.run_id
        assert (await store.get_run(rid)).outputs.model_outputs == []
        await store.log_model_inputs(rid, [LoggedModelInput(model.model_id)])
        await store.log_model_outputs(rid, [LoggedModelOutput(model.model_id, 1)])
        got = await store.get_run(rid)
        assert got.inputs.model_inputs == [LoggedModelInput(model.model_id)]
        assert got.outputs.model_outputs == [LoggedModelOutput(model.model_id, 1)]
    finally:
        await store.aclose()
