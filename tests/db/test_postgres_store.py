"""``db copy`` and ``db upgrade`` with asynctrack's PostgreSQL store (a database of the test's own on the
local server): SQLite -> PostgreSQL -> SQLite keeping ids and every point, MLflow's database into
PostgreSQL, an interrupted copy into PostgreSQL resumed exactly (dataset inputs included, then copied back
to SQLite), and the schema checks (newer refused unwritten naming both versions, a missing migration named,
a failing step rolled back whole)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from postgres_db import execute, require, temporary_database
from test_copy import (
    DATA,
    Interrupt,
    StopInSecondRun,
    assert_found_by_dataset,
    assert_same,
    make_source,
    mlflow_contents,
    read_store,
    store_contents,
)

from asynctrack.cli._main import main
from asynctrack.exceptions import MlflowException
from asynctrack.store._migrations import Migration, SchemaTooNew, SchemaTooOld
from asynctrack.store.postgres import SCHEMA_VERSION, PostgresStore
from asynctrack.transfer import CopyState, copy_store, open_source

asyncpg = pytest.importorskip("asyncpg")


@pytest.fixture
def pg() -> Iterator[str]:
    require()
    with temporary_database() as uri:
        yield uri


def read_pg(uri: str) -> Any:
    async def read() -> Any:
        store = await PostgresStore.open(uri, "/unused")
        try:
            return await store_contents(store)
        finally:
            await store.aclose()

    return anyio.run(read)


def test_sqlite_to_postgresql_and_back_keeps_ids_and_points(pg: str, tmp_path: Path) -> None:
    source = tmp_path / "s.db"
    shutil.copy(DATA / "schema4.db", source)
    assert main(["db", "upgrade", "--no-backup", f"sqlite:///{source}"]) == 0  # a copy reads current schemas
    assert main(["db", "copy", str(source), pg, "--no-progress", "--state", str(tmp_path / "a.state")]) == 0
    original = read_store(source)
    in_pg = read_pg(pg)
    assert_same(original, in_pg)
    back = tmp_path / "back.db"
    assert main(["db", "copy", pg, f"sqlite:///{back}", "--no-progress"]) == 0
    assert_same(original, read_store(back))

    async def new_experiment_gets_a_fresh_id() -> str:
        store = await PostgresStore.open(pg, "/unused")
        try:
            return await store.create_experiment("after the copy")
        finally:
            await store.aclose()

    # explicit ids moved the identity sequence past them: the next experiment does not collide
    assert int(anyio.run(new_experiment_gets_a_fresh_id)) > max(int(e) for e in original["experiments"])


@pytest.mark.slow  # mlflow_db: the real mlflow writes it in a subprocess (~15 s)
def test_mlflow_database_into_postgresql(mlflow_db: Path, pg: str, tmp_path: Path) -> None:
    assert main(["db", "copy", f"sqlite:///{mlflow_db}", pg, "--state", str(tmp_path / "s")]) == 0
    assert_same(mlflow_contents(mlflow_db), read_pg(pg))


@pytest.mark.slow  # interrupts and resumes a copy many times (~5 s)
def test_interrupted_copy_into_postgresql_resumes_exactly(pg: str, tmp_path: Path) -> None:
    source_path = tmp_path / "s.db"
    anyio.run(make_source, source_path, 3, 120_000)

    async def copy(progress: Any) -> Any:
        source = await open_source(str(source_path))
        target = await PostgresStore.open(pg, str(tmp_path / "a"))
        state = await anyio.to_thread.run_sync(CopyState, str(tmp_path / "copy.state"), "s")
        try:
            return await copy_store(source, target, state, progress)
        finally:
            await anyio.to_thread.run_sync(state.close)
            await target.aclose()
            await source.aclose()

    with pytest.raises(Interrupt):
        anyio.run(copy, StopInSecondRun())
    report = anyio.run(copy, None)
    assert (report.copied_runs, report.skipped_runs) == (2, 1)
    assert report.matches
    assert (report.target.runs, report.target.points) == (3, 720_000)
    assert report.target.inputs == report.source.inputs == 5  # the resumed run's inputs not twice
    assert_same(read_store(source_path), read_pg(pg))

    async def filter_datasets() -> None:
        store = await PostgresStore.open(pg, "/unused")
        try:
            await assert_found_by_dataset(store)
        finally:
            await store.aclose()

    anyio.run(filter_datasets)
    back = tmp_path / "back.db"  # and PostgreSQL -> SQLite, inputs included
    assert main(["db", "copy", pg, f"sqlite:///{back}", "--no-progress"]) == 0
    assert_same(read_store(source_path), read_store(back))


def _set_version(uri: str, version: int) -> None:
    execute(uri, "UPDATE asynctrack_meta SET value = ? WHERE key = 'schema_version'", (str(version),))


def test_postgresql_schema_versions(pg: str, capsys: pytest.CaptureFixture[str]) -> None:
    anyio.run(lambda: _open_close(pg))
    assert main(["db", "upgrade", pg]) == 0
    assert f"schema version {SCHEMA_VERSION}, current; nothing to do" in capsys.readouterr().out
    _set_version(pg, SCHEMA_VERSION + 1)
    with pytest.raises(
        SchemaTooNew, match=f"version {SCHEMA_VERSION + 1}, newer than version {SCHEMA_VERSION}"
    ):
        anyio.run(lambda: _open_close(pg))
    assert main(["db", "upgrade", pg]) == 1
    _set_version(pg, 0)
    with pytest.raises(MlflowException, match="no migration from version 0"):
        anyio.run(lambda: _open_close(pg))
    _set_version(pg, SCHEMA_VERSION)


def test_postgresql_version_1_gets_the_registry_by_db_upgrade(
    pg: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database of schema version 1 (before the model registry) is refused on open, naming the upgrade;
    ``asynctrack db upgrade`` adds the registry's tables, after which the registry works."""
    anyio.run(lambda: _open_close(pg))
    for table in (
        "registered_model_aliases",
        "model_version_tags",
        "model_versions",
        "registered_model_tags",
        "registered_models",
    ):
        execute(pg, f"DROP TABLE {table}", ())
    assert "1 -> 2: add the model registry" in _refused_then_upgraded(pg, 1, capsys)

    async def register() -> tuple[str, str]:
        store = await PostgresStore.open(pg, "/unused")
        try:
            await store.create_registered_model("m")
            mv = await store.create_model_version("m", "s3://b/m")
            return mv.name, mv.version
        finally:
            await store.aclose()

    assert anyio.run(register) == ("m", "1")


def _refused_then_upgraded(pg: str, version: int, capsys: pytest.CaptureFixture[str]) -> str:
    """Mark the database as schema ``version``: opening it is refused, naming the upgrade; then upgrade it
    with the command. Returns what the command printed."""
    _set_version(pg, version)
    with pytest.raises(SchemaTooOld, match=f"has asynctrack schema version {version}; .* db upgrade"):
        anyio.run(lambda: _open_close(pg))
    assert main(["db", "upgrade", pg]) == 0
    return capsys.readouterr().out


async def _open_close(uri: str) -> None:
    store = await PostgresStore.open(uri, "/unused")
    await store.aclose()


def test_postgresql_steps_run_in_one_transaction(pg: str) -> None:
    from asynctrack.store.postgres._migrations import apply_plan

    anyio.run(lambda: _open_close(pg))

    async def half_then_fail(conn: Any) -> None:
        await conn.execute("CREATE TABLE future (x integer)")
        await conn.execute("DELETE FROM experiments")
        raise RuntimeError("step failed")

    async def add_table(conn: Any) -> None:
        await conn.execute("CREATE TABLE future (x integer)")

    async def upgrade(step: Any) -> Any:
        steps = {SCHEMA_VERSION: Migration(SCHEMA_VERSION, "test step", step)}
        conn = await asyncpg.connect(pg)
        try:
            async with conn.transaction():
                return await apply_plan(conn, "test", SCHEMA_VERSION + 1, steps)
        finally:
            await conn.close()

    async def state() -> tuple[Any, ...]:
        conn = await asyncpg.connect(pg)
        try:
            return (
                await conn.fetchval("SELECT value FROM asynctrack_meta WHERE key = 'schema_version'"),
                await conn.fetchval("SELECT count(*) FROM experiments"),
                await conn.fetchval("SELECT to_regclass('future') IS NOT NULL"),
            )
        finally:
            await conn.close()

    with pytest.raises(RuntimeError, match="step failed"):
        anyio.run(upgrade, half_then_fail)
    assert anyio.run(state) == (str(SCHEMA_VERSION), 1, False)  # rolled back whole (DDL too)
    found, done = anyio.run(upgrade, add_table)
    assert (found, done) == (SCHEMA_VERSION, [f"{SCHEMA_VERSION} -> {SCHEMA_VERSION + 1}: test step"])
    assert anyio.run(state) == (str(SCHEMA_VERSION + 1), 1, True)


def test_postgresql_version_2_gets_covering_value_indexes_by_db_upgrade(
    pg: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database of schema version 2 (its params' and tags' value indexes without the run) is refused on
    open; ``asynctrack db upgrade`` rebuilds both indexes to cover the run."""
    anyio.run(lambda: _open_close(pg))
    for table in ("params", "tags"):
        execute(pg, f"DROP INDEX {table}_by_value", ())
        execute(pg, f"CREATE INDEX {table}_by_value ON {table} (key, value)", ())
    assert "2 -> 3: rebuild the params' and tags' value indexes" in _refused_then_upgraded(pg, 2, capsys)

    async def definitions() -> list[str]:
        conn = await asyncpg.connect(pg)
        try:
            rows = await conn.fetch(
                "SELECT indexdef FROM pg_indexes WHERE indexname IN ('params_by_value', 'tags_by_value') "
                "ORDER BY indexname"
            )
            return [r[0] for r in rows]
        finally:
            await conn.close()

    defs = anyio.run(definitions)
    assert len(defs) == 2 and all(d.endswith("(key, value) INCLUDE (run_key)") for d in defs), defs
    anyio.run(lambda: _open_close(pg))  # current again
