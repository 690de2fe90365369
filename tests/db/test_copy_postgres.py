"""``asynctrack db copy`` from MLflow's schema in PostgreSQL (written by the real mlflow 3.17.2 into a
database of the test's own on the local server), read in a read-only transaction: every table's contents are
checksummed before and after, and the source's connection refuses writes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import postgres_db
import pytest
from servers import mlflow_postgres_python
from test_copy import WRITER, assert_same, mlflow_contents, read_store

from asynctrack.cli._main import main
from asynctrack.transfer import open_source
from asynctrack.transfer._mlflow_sql import MlflowPostgresSource

asyncpg = pytest.importorskip("asyncpg")

TABLES = ("experiments", "experiment_tags", "runs", "params", "tags", "metrics", "latest_metrics", "inputs")


@pytest.fixture
def database() -> Iterator[str]:
    """A new empty database of its own, dropped afterwards; skipped, as every PostgreSQL test is, when the
    server is not reachable (tests/postgres_db.py)."""
    postgres_db.require()
    with postgres_db.temporary_database() as uri:
        yield uri


def pg_query(dsn: str) -> Any:
    """A ``query(sql, args)`` over a fresh asyncpg connection (``?`` placeholders), rows as tuples."""

    def query(sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        parts = sql.split("?")
        numbered = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], start=1))

        async def run() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(dsn)
            try:
                return [tuple(r) for r in await conn.fetch(numbered, *args)]
            finally:
                await conn.close()

        return anyio.run(run)

    return query


def checksums(dsn: str) -> dict[str, str]:
    query = pg_query(dsn)
    return {
        t: query(
            "SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') "
            f"FROM {t} x"
        )[0][0]
        for t in TABLES
    }


@pytest.mark.slow  # the real mlflow writes its PostgreSQL database in a subprocess (~20 s)
def test_copy_from_mlflow_on_postgresql_reads_only(database: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(mlflow_postgres_python()), str(WRITER), database], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    before = checksums(database)
    target = tmp_path / "copy.db"
    assert main(["db", "copy", database, f"sqlite:///{target}", "--no-progress"]) == 0
    assert checksums(database) == before
    assert_same(mlflow_contents(pg_query(database)), read_store(target))

    async def try_to_write() -> None:
        source = await open_source(database)
        assert isinstance(source, MlflowPostgresSource)
        try:
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await source._query("UPDATE runs SET name = 'changed'")
        finally:
            await source.aclose()

    anyio.run(try_to_write)
    assert checksums(database) == before
