"""The tests' reused PostgreSQL databases (``postgres_db.backend_uri``) are as good as new ones: after a test
wrote into one, the next test finds no row of it, ``asynctrack_meta`` as the store writes it and the ids
starting where a new database starts them; one whose schema a test changed is dropped, never handed out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import numpy as np
import postgres_db
import pytest

from asynctrack.entities import Param, RunTag
from asynctrack.store import MetricSeries


@pytest.fixture(autouse=True)
def _postgres() -> None:
    postgres_db.require()


async def _write_everything(uri: str, root: str) -> None:
    store = await postgres_db.open_test_store(uri, root)
    try:
        experiment_id = await store.create_experiment("written", None, [])
        run = await store.create_run(experiment_id, "u", 1, [], "r")
        await store.log_batch(
            run.info.run_id,
            [MetricSeries("m", np.array([1.0, 2.0]), np.array([1, 2], np.int64), np.array([0, 1], np.int64))],
            [Param("p", "v")],
            [RunTag("t", "v")],
        )
    finally:
        await store.aclose()


async def _sequences(uri: str) -> list[tuple[str, int | None]]:
    """Each identity sequence's last value (None before the first nextval)."""
    conn = await asyncpg.connect(uri, timeout=5)
    try:
        rows = await conn.fetch("SELECT sequencename, last_value FROM pg_sequences ORDER BY 1")
        return [(r[0], r[1]) for r in rows]
    finally:
        await conn.close()


async def _made_by_the_store(uri: str, root: str) -> None:
    store = await postgres_db.open_test_store(uri, root)
    await store.aclose()


def _rows(uri: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in postgres_db.dump(uri).splitlines())


def _exists(name: str) -> bool:
    async def probe() -> bool:
        conn = await asyncpg.connect(postgres_db.uri(postgres_db.ADMIN_DB), timeout=5)
        try:
            return bool(await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    return bool(postgres_db._run(probe))


def test_a_reused_database_holds_nothing_of_the_last_test(tmp_path: Path) -> None:
    """Rows, ``asynctrack_meta`` and the identity sequences of a reused database equal those of a new one,
    and a store opened on it then makes its first experiment with the id a new database gives."""
    root = str(tmp_path / "artifacts")
    with postgres_db.fresh_store_database() as used:
        asyncio.run(_write_everything(used, root))
        assert "'written'" in _rows(used)["experiments"]
        assert any(value is not None for _, value in asyncio.run(_sequences(used)))
    with postgres_db.fresh_store_database() as again, postgres_db.temporary_database() as new:
        assert again == used  # the same database, reset
        asyncio.run(_made_by_the_store(new, root))
        rows, new_rows = _rows(again), _rows(new)
        assert {table: content for table, content in rows.items() if content != "[]"} == {
            "asynctrack_meta": new_rows["asynctrack_meta"]
        }
        assert rows.keys() == new_rows.keys()
        assert asyncio.run(_sequences(again)) == asyncio.run(_sequences(new))
        asyncio.run(_write_everything(again, root))
        asyncio.run(_write_everything(new, root))
        assert _rows(again)["experiments"].split(",")[0] == _rows(new)["experiments"].split(",")[0]


def test_a_database_whose_schema_changed_is_dropped() -> None:
    """A test that altered a table leaves a database that no later test gets."""
    with postgres_db.fresh_store_database() as changed:
        postgres_db.execute(changed, "ALTER TABLE runs ADD COLUMN extra integer", ())
    name = changed.rsplit("/", 1)[1]
    assert not _exists(name)
    with postgres_db.fresh_store_database() as other:
        assert other != changed
