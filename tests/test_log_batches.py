"""``log_batches``: many writes in one transaction, each failing alone, and idempotency keys, on the
embedded store and on PostgreSQL; and the small-series write path agreeing with the numpy path."""

from __future__ import annotations

import math
import sqlite3
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loops import PRODUCTION_LOOP
from postgres_db import STORE_BACKENDS, backend_uri, open_test_store

from asynctrack.entities import Param, RunTag
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from asynctrack.store import BatchWrite, MetricSeries
from asynctrack.store.sqlite import SqliteStore
from asynctrack.store.sqlite._columns import decode_ints, decode_small, encode_ints, encode_small
from asynctrack.store.sqlite._schema import SCHEMA_VERSION
from asynctrack.store.sqlite._writes import _latest_point, _latest_small

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP  # asyncio on uvloop, in debug mode: the loop asynctrack runs (tests/loops.py)


def _series(key: str, steps: list[int], value: float = 1.0) -> MetricSeries:
    s = np.asarray(steps, np.int64)
    return MetricSeries(key, s.astype(np.float64) * value, s + 1000, s)


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_one_bad_write_fails_alone(tmp_path: Path, backend: str) -> None:
    with backend_uri(backend, str(tmp_path)) as uri:
        await _one_bad_write_fails_alone(await open_test_store(uri, str(tmp_path / "a")))


async def _one_bad_write_fails_alone(store: Any) -> None:
    try:
        a = (await store.create_run("0", "u", 1, [], "a")).info.run_id
        b = (await store.create_run("0", "u", 1, [], "b")).info.run_id
        await store.log_batch(a, [], [Param("p", "1")], [])
        durable: list[int] = []
        outcomes = await store.log_batches(
            [
                BatchWrite(a, [_series("m", [0, 1, 2])], [Param("q", "x")], [RunTag("t", "1")]),
                BatchWrite(a, [_series("m", [3])], [Param("p", "2")]),  # re-logs p with another value
                BatchWrite("nope", [_series("m", [0])]),
                BatchWrite(b, [_series("m", list(range(40)))], [], [RunTag("t", "b")]),
            ],
            on_durable=lambda: durable.append(1),
        )
        assert outcomes[0] is None and outcomes[3] is None
        assert outcomes[1] is not None and outcomes[1].error_code == INVALID_PARAMETER_VALUE
        assert outcomes[2] is not None and outcomes[2].error_code == RESOURCE_DOES_NOT_EXIST
        assert durable == [1]
        run_a = await store.get_run(a)
        assert run_a.data.params == {"p": "1", "q": "x"}  # the failed write left nothing behind
        assert [m.step for m in await store.get_metric_history(a, "m")] == [0, 1, 2]
        assert run_a.data.tags["t"] == "1"
        assert len(await store.get_metric_history(b, "m")) == 40
    finally:
        await store.aclose()


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_on_durable_runs_only_when_a_write_was_written(tmp_path: Path, backend: str) -> None:
    """``on_durable`` runs once the call's successful writes are durable, and not at all when every write
    failed: for one write it means that write is in the store, which the pipeline relies on to complete
    a chunk from the store's thread right after the commit."""
    with backend_uri(backend, str(tmp_path)) as uri:
        store = await open_test_store(uri, str(tmp_path / "a"))
        try:
            run = (await store.create_run("0", "u", 1, [], "a")).info.run_id
            calls: list[str] = []
            good = BatchWrite(run, [_series("m", [0, 1])], [Param("p", "1")], key="k:1")
            assert await store.log_batches([good], lambda: calls.append("one good")) == [None]
            bad = BatchWrite(run, [_series("m", [5])], [Param("p", "2")])  # p re-logged with another value
            missing = BatchWrite("0" * 32, [_series("m", [0])])
            (outcome,) = await store.log_batches([bad], lambda: calls.append("one bad"))
            assert outcome is not None and outcome.error_code == INVALID_PARAMETER_VALUE
            outcomes = await store.log_batches([bad, missing], lambda: calls.append("all bad"))
            assert [o.error_code for o in outcomes if o is not None] == [
                INVALID_PARAMETER_VALUE,
                RESOURCE_DOES_NOT_EXIST,
            ]
            again = BatchWrite(run, [_series("m", [2])], [], key="k:2")
            outcomes = await store.log_batches([bad, again], lambda: calls.append("one of two"))
            assert outcomes[0] is not None and outcomes[1] is None
            assert calls == ["one good", "one of two"]
            assert [m.step for m in await store.get_metric_history(run, "m")] == [0, 1, 2]
        finally:
            await store.aclose()


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_keys_make_writes_idempotent(tmp_path: Path, backend: str) -> None:
    with backend_uri(backend, str(tmp_path)) as uri:
        await _keys_make_writes_idempotent(await open_test_store(uri, str(tmp_path / "a")))
    if backend == "sqlite":
        with sqlite3.connect(uri[len("sqlite:///") :]) as conn:
            assert {r[0] for r in conn.execute("SELECT key FROM applied_batches")} == {
                "journal-1:7",
                "journal-1:8",
            }


async def _keys_make_writes_idempotent(store: Any) -> None:
    try:
        run = (await store.create_run("0", "u", 1, [], "a")).info.run_id
        w = BatchWrite(run, [_series("m", [0, 1])], [Param("p", "1")], [], key="journal-1:7")
        assert await store.log_batches([w]) == [None]
        assert await store.log_batches([w, w]) == [None, None]  # replayed: applied once
        assert len(await store.get_metric_history(run, "m")) == 2
        # a failed write does not consume its key: once fixed, it applies
        bad = BatchWrite(run, [_series("m", [5])], [Param("p", "2")], key="journal-1:8")
        (outcome,) = await store.log_batches([bad])
        assert outcome is not None
        good = BatchWrite(run, [_series("m", [5])], [], key="journal-1:8")
        assert await store.log_batches([good]) == [None]
        assert [m.step for m in await store.get_metric_history(run, "m")] == [0, 1, 5]
        # nor does a write to a missing run (its key goes back with it): sent again, it fails again
        missing = BatchWrite("0" * 32, [_series("m", [0])], key="journal-1:9")
        (alone,) = await store.log_batches([missing])  # alone in its transaction, as with others
        assert alone is not None and alone.error_code == RESOURCE_DOES_NOT_EXIST
        for _ in range(2):
            outcome, _ = await store.log_batches([missing, w])
            assert outcome is not None and outcome.error_code == RESOURCE_DOES_NOT_EXIST
    finally:
        await store.aclose()


async def test_a_remembered_run_is_checked_again_in_every_write(tmp_path: Path) -> None:
    """The store remembers the keys of runs it wrote to and folds the run check into the idempotency
    key's statement: a run deleted, restored or removed by another connection since is still seen."""
    path = str(tmp_path / "db.sqlite")
    store = await SqliteStore.open(path, str(tmp_path / "a"))
    try:
        run = (await store.create_run("0", "u", 1, [], "a")).info.run_id
        assert await store.log_batches([BatchWrite(run, [_series("m", [0])], key="k0")]) == [None]
        assert await store.log_batches([BatchWrite(run, [_series("m", [1])], key="k1")]) == [None]
        with sqlite3.connect(path) as other:  # another process deletes the run
            other.execute("UPDATE runs SET lifecycle_stage = 'deleted' WHERE run_id = ?", (run,))
        (refused,) = await store.log_batches([BatchWrite(run, [_series("m", [2])], key="k2")])
        assert refused is not None and refused.error_code == INVALID_PARAMETER_VALUE
        assert "must be in the 'active' state" in refused.message
        # a key applied before is still skipped as applied, whatever its run's state now
        assert await store.log_batches([BatchWrite(run, [_series("m", [1])], key="k1")]) == [None]
        await store.restore_run(run)
        assert await store.log_batches([BatchWrite(run, [_series("m", [2])], key="k2")]) == [None]
        assert [m.step for m in await store.get_metric_history(run, "m")] == [0, 1, 2]
        # the run's row removed and its key given to a newer run: the old id must not write into it
        with sqlite3.connect(path) as other:
            (run_key,) = other.execute("SELECT run_key FROM runs WHERE run_id = ?", (run,)).fetchone()
            other.execute("DELETE FROM runs WHERE run_id = ?", (run,))
            other.execute(
                "INSERT INTO runs (run_key, run_id, experiment_id, name, user_id, status, start_time, "
                "lifecycle_stage, artifact_uri) VALUES (?, ?, 0, 'b', 'u', 'RUNNING', 1, 'active', '')",
                (run_key, "b" * 32),
            )
        (gone,) = await store.log_batches([BatchWrite(run, [_series("n", [3])], key="k3")])
        assert gone is not None and gone.error_code == RESOURCE_DOES_NOT_EXIST
        assert await store.get_metric_history("b" * 32, "n") == []
        # and a batch of several writes takes the same check
        outcomes = await store.log_batches(
            [
                BatchWrite("b" * 32, [_series("n", [0])], key="k4"),
                BatchWrite(run, [_series("n", [4])], key="k5"),
            ]
        )
        assert outcomes[0] is None
        assert outcomes[1] is not None and outcomes[1].error_code == RESOURCE_DOES_NOT_EXIST
        assert [m.step for m in await store.get_metric_history("b" * 32, "n")] == [0]
    finally:
        await store.aclose()


async def test_version_2_database_gains_the_keys_table(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    store = await SqliteStore.open(path, str(tmp_path / "a"))
    await store.aclose()
    with sqlite3.connect(path) as conn:  # make it look like a database from before the table existed
        conn.execute("DROP TABLE applied_batches")
        conn.execute("UPDATE asynctrack_meta SET value = '2' WHERE key = 'schema_version'")
    store = await SqliteStore.open(path, str(tmp_path / "a"))
    try:
        run = (await store.create_run("0", "u", 1, [], "a")).info.run_id
        assert await store.log_batches([BatchWrite(run, [_series("m", [0])], key="k")]) == [None]
    finally:
        await store.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM asynctrack_meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),  # upgraded through 3 to today's version
        )


ints = st.integers(-(2**63), 2**63 - 1)
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1.0]))


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(
    steps=st.lists(st.integers(-5, 5) | ints, min_size=1, max_size=16),
    data=st.data(),
)
def test_small_path_matches_numpy_path(steps: list[int], data: st.DataObject) -> None:
    n = len(steps)
    stamps = data.draw(st.lists(st.integers(0, 3) | ints, min_size=n, max_size=n))
    values = data.draw(st.lists(floats, min_size=n, max_size=n))
    arr = MetricSeries(
        "k", np.asarray(values, np.float64), np.asarray(stamps, np.int64), np.asarray(steps, np.int64)
    )
    for column, arr_column in ((steps, arr.steps), (stamps, arr.timestamps)):
        assert decode_ints(encode_small(column), n).tolist() == column
        assert decode_small(encode_small(column), n) == column
        if all(abs(x) < 2**61 for x in column):  # no int64 wrap-around: both paths choose the same form
            assert encode_small(column) == encode_ints(arr_column)
    small = _latest_small(values, stamps, steps)
    big = _latest_point(arr)
    assert small[1:] == big[1:]
    assert small[0] == big[0] or (math.isnan(small[0]) and math.isnan(big[0]))
    assert (
        np.asarray(values, "<f8").tobytes() == np.frombuffer(struct.pack(f"<{n}d", *values), "<f8").tobytes()
    )
