"""The chart summaries' storage: the upgrade of a real schema-3 database, merging of synchronous one-point
chunks, the chunk size cap, and a one-step spike in a million points at every zoom."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from bucket_reference import reference_check
from make_schema3_fixture import batches as fixture_batches

from asynctrack.store import MetricSeries
from asynctrack.store.sqlite import SqliteStore
from asynctrack.store.sqlite._schema import SCHEMA_VERSION
from asynctrack.store.sqlite._summaries import CHUNK_CAP, MERGE_AT, SMALL

pytestmark = pytest.mark.anyio

FIXTURE = Path(__file__).parent / "data" / "schema3.db"


async def test_schema_3_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE, path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM asynctrack_meta").fetchone() == ("3",)
        old_chunks = conn.execute("SELECT count(*) FROM metric_chunks").fetchone()[0]
    store = await SqliteStore.open(str(path), str(tmp_path / "a"))
    try:
        runs, _ = await store.search_runs(["1"], "", 1, 10, ["attributes.run_name ASC"], None)
        assert [r.info.run_name for r in runs] == ["run0", "run1"]
        for r, run in enumerate(runs):
            assert run.data.params == {"lr": "0.1"}
            for k, key in enumerate(["loss", "acc"]):
                written = [
                    MetricSeries(key, v, t, s) for s, v, t in fixture_batches(10 * r + k)
                ]  # what the old code wrote
                series = await store.get_metric_series(run.info.run_id, key)
                steps = np.concatenate([b.steps for b in written])
                order = np.argsort(steps, kind="stable")
                np.testing.assert_array_equal(series.steps, steps[order])
                np.testing.assert_array_equal(
                    series.values, np.concatenate([b.values for b in written])[order]
                )
                for x_kind, n in [("step", 50), ("wall", 7), ("step", 5000), ("relative", 300)]:
                    got = await store.metric_buckets(run.info.run_id, key, x_kind, None, None, n)
                    reference_check(got, written, x_kind, None, None, n)
                assert got.cursor == str(len(steps))
            # the upgraded key keeps taking writes, summarised as new ones
            one = MetricSeries("loss", np.array([7.0]), np.array([1], np.int64), np.array([99_999], np.int64))
            await store.log_batch(run.info.run_id, [one], [], [])
            assert (await store.metric_buckets(run.info.run_id, "loss")).x_last == 99_999
    finally:
        await store.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM asynctrack_meta").fetchone() == (str(SCHEMA_VERSION),)
        chunks = conn.execute("SELECT count(*) FROM metric_chunks").fetchone()[0]
        assert chunks < old_chunks  # the runs of small chunks were merged
        # Every upgraded chunk has its summary; the one-point write after it (one per run) is a small
        # chunk at its key's end, written without one (readers summarise it from its point).
        assert (
            conn.execute(
                "SELECT count(*) FROM metric_chunks c JOIN metric_summaries s USING (chunk_id) "
                "WHERE s.n = c.n AND s.run_key = c.run_key AND s.key = c.key"
            ).fetchone()[0]
            == chunks - 2
        )
        assert conn.execute(
            "SELECT c.n, c.min_step FROM metric_chunks c LEFT JOIN metric_summaries s USING (chunk_id) "
            "WHERE s.chunk_id IS NULL"
        ).fetchall() == [(1, 99_999), (1, 99_999)]


@pytest.mark.slow  # thousands of one-point writes (~9 s)
async def test_one_point_writes_are_merged(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "s.db"), str(tmp_path / "a"))
    try:
        run_id = (await store.create_run("0", "u", 0, [], "r")).info.run_id
        n = 10 * SMALL * MERGE_AT + 17
        for i in range(n):
            point = MetricSeries("m", np.array([float(i)]), np.array([i], np.int64), np.array([i], np.int64))
            await store.log_batch(run_id, [point], [], [])
        series = await store.get_metric_series(run_id, "m")
        np.testing.assert_array_equal(series.steps, np.arange(n))
        np.testing.assert_array_equal(series.values, np.arange(n, dtype=float))
        update = await store.metric_updates(run_id, "m", str(n - 5))
        np.testing.assert_array_equal(update.series.steps, np.arange(n - 5, n))
    finally:
        await store.aclose()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        sizes = [r[0] for r in conn.execute("SELECT n FROM metric_chunks ORDER BY chunk_id")]
    # two merge levels: 10 chunks of SMALL * MERGE_AT points, then fewer than 2 * MERGE_AT small ones
    assert sizes[:10] == [SMALL * MERGE_AT] * 10, sizes
    assert len(sizes) <= 10 + 2 * MERGE_AT, sizes


async def test_a_training_loops_small_pieces_go_without_summaries_and_read_back(tmp_path: Path) -> None:
    """A worker's chunk of a training loop: a few points of each of several keys in one batch. Its small
    pieces are written without summaries (as a lone one is), stay the last few of their key until merged,
    and every read (history, buckets at several zooms) sees exactly what was written."""
    store = await SqliteStore.open(str(tmp_path / "s.db"), str(tmp_path / "a"))
    # Keys outside ASCII and outside the BMP too: the tails' counts come back as JSON (one row for all keys).
    keys = ["loss", "acc", "lr", "\U0001d49cccuracy/é", "val: loss-1.0"]
    written: dict[str, list[MetricSeries]] = {k: [] for k in keys}
    rng = np.random.default_rng(3)
    try:
        run_id = (await store.create_run("0", "u", 0, [], "r")).info.run_id
        step = 0
        for cycle in range(2 * MERGE_AT + 5):
            n = SMALL + 3 if cycle == MERGE_AT // 2 else 13  # one cycle of larger pieces among the small ones
            steps = np.arange(step, step + n, dtype=np.int64)
            step += n
            batch = [MetricSeries(k, rng.normal(size=n), 1_700_000_000_000 + steps, steps) for k in keys]
            for series in batch:
                written[series.key].append(series)
            await store.log_batch(run_id, batch, [], [])
        for key in keys:
            got = await store.get_metric_series(run_id, key)
            np.testing.assert_array_equal(got.steps, np.concatenate([w.steps for w in written[key]]))
            np.testing.assert_array_equal(got.values, np.concatenate([w.values for w in written[key]]))
            for x_kind, buckets in [("step", 20), ("wall", 7), ("step", 5000)]:
                reference_check(
                    await store.metric_buckets(run_id, key, x_kind, None, None, buckets),
                    written[key],
                    x_kind,
                    None,
                    None,
                    buckets,
                )
    finally:
        await store.aclose()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        unsummarised = conn.execute(
            "SELECT c.key, c.n FROM metric_chunks c LEFT JOIN metric_summaries s USING (chunk_id) "
            "WHERE s.chunk_id IS NULL"
        ).fetchall()
        summarised_sizes = {
            r[0]
            for r in conn.execute("SELECT c.n FROM metric_chunks c JOIN metric_summaries s USING (chunk_id)")
        }
    assert unsummarised, "small pieces of a multi-key batch are written without summaries"
    assert all(n < SMALL for _, n in unsummarised), unsummarised
    for key in keys:  # only a key's last few chunks: merging bounds them
        assert 0 < sum(1 for k, _ in unsummarised if k == key) < MERGE_AT
    assert SMALL + 3 in summarised_sizes  # a larger piece in a multi-key batch keeps its summary


async def test_each_summary_takes_its_own_chunks_id_in_a_mixed_batch(tmp_path: Path) -> None:
    """SQLite numbers a batch's chunks (after those of other runs and batches), and the summaries take their
    ids from the last one: in a batch mixing pieces with a summary (SMALL points or more) and without, each
    summary must describe its own chunk."""
    store = await SqliteStore.open(str(tmp_path / "s.db"), str(tmp_path / "a"))
    try:
        other = (await store.create_run("0", "u", 0, [], "other")).info.run_id
        run_id = (await store.create_run("0", "u", 0, [], "r")).info.run_id
        step = 0
        for cycle in range(4):
            n_other = 3 + cycle
            await store.log_batch(other, [_series("x", 0, n_other), _series("y", 0, n_other)], [], [])
            sizes = [SMALL + 2 * i if (i + cycle) % 2 == 0 else 2 + i for i in range(7)]
            await store.log_batch(run_id, [_series(f"k{i}", step, n) for i, n in enumerate(sizes)], [], [])
            step += max(sizes)
    finally:
        await store.aclose()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        pairs = conn.execute(
            "SELECT s.run_key = c.run_key AND s.key = c.key AND s.n = c.n AND s.min_step = c.min_step "
            "AND s.max_step = c.max_step FROM metric_summaries s LEFT JOIN metric_chunks c USING (chunk_id)"
        ).fetchall()
        large, unsummarised = conn.execute(
            "SELECT count(*), count(*) - count(s.chunk_id) FROM metric_chunks c "
            "LEFT JOIN metric_summaries s USING (chunk_id) WHERE c.n >= ?",
            (SMALL,),
        ).fetchone()
    assert large == 4 + 3 + 4 + 3 and unsummarised == 0  # every large piece has a summary ...
    assert len(pairs) >= large and all(ok for (ok,) in pairs), pairs  # ... and every summary its own chunk


def _series(key: str, start: int, n: int) -> MetricSeries:
    steps = np.arange(start, start + n, dtype=np.int64)
    return MetricSeries(key, steps * 0.5, 1_700_000_000_000 + steps, steps)


async def test_long_series_are_cut_into_capped_chunks(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "s.db"), str(tmp_path / "a"))
    try:
        run_id = (await store.create_run("0", "u", 0, [], "r")).info.run_id
        n = 2 * CHUNK_CAP + 5
        s = MetricSeries("m", np.arange(n, dtype=float), np.zeros(n, np.int64), np.arange(n, dtype=np.int64))
        await store.log_batch(run_id, [s], [], [])
        assert len(await store.get_metric_series(run_id, "m")) == n
    finally:
        await store.aclose()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert [r[0] for r in conn.execute("SELECT n FROM metric_chunks ORDER BY chunk_id")] == [
            CHUNK_CAP,
            CHUNK_CAP,
            5,
        ]


@pytest.mark.slow
async def test_spike_in_a_million_points_is_in_max_at_every_zoom(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "s.db"), str(tmp_path / "a"))
    try:
        run_id = (await store.create_run("0", "u", 0, [], "r")).info.run_id
        n = 1_000_000
        spike = 612_345
        values = np.random.default_rng(1).normal(size=n)
        values[spike] = 1e9
        values[spike + 1] = np.nan  # a NaN next to it hides nothing
        for lo in range(0, n, 10_000):  # written as the pipeline would, in 10,000-point batches
            part = slice(lo, lo + 10_000)
            steps = np.arange(n, dtype=np.int64)[part]
            await store.log_batch(run_id, [MetricSeries("m", values[part], steps * 10, steps)], [], [])
        for buckets in (1, 2, 100, 1000, 5000):
            full = await store.metric_buckets(run_id, "m", "step", None, None, buckets)
            assert full.count == n and not full.raw
            assert np.nanmax(full.max) == 1e9
            assert int(full.nan.sum()) == 1
            i = int(np.nanargmax(full.max))
            assert full.x[i - 1] < spike <= full.x[i] if i else spike <= full.x[0]
        # zoom in on ranges around the spike: always there, until the range is raw points
        for width in (500_000, 50_000, 5_000, 500):
            zoom = await store.metric_buckets(
                run_id, "m", "wall", (spike - width // 3) * 10, (spike + width) * 10, 1000
            )
            assert np.nanmax(zoom.max) == 1e9
            assert zoom.raw == (width + width // 3 + 1 <= 1000)
    finally:
        await store.aclose()
