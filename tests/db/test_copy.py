"""``asynctrack db copy`` on real data: MLflow's database written by the real mlflow 3.17.2 (read only:
hashed before and after), a real ``mlflow server`` read over REST, asynctrack's own files (ids kept), and
interruptions (an exception half way through a run; SIGKILL of the command) resumed to exact counts.

What the target holds is compared with what the source holds read independently: MLflow's tables through
plain sqlite3 (read-only), asynctrack stores through the store protocol."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from servers import asynctrack_server, mlflow_python, mlflow_server, running

from asynctrack.cli._main import main
from asynctrack.entities import Dataset, DatasetInput, InputTag, Param, RunTag, ViewType
from asynctrack.store import AbstractStore, MetricSeries
from asynctrack.store.rest import RestStore
from asynctrack.store.sqlite import SqliteStore
from asynctrack.transfer import CopyState, copy_store, open_source

DATA = Path(__file__).parent / "data"
WRITER = Path(__file__).parent / "mlflow_writer.py"

Contents = dict[str, Any]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _value(v: float) -> object:
    return "nan" if math.isnan(v) else v


def sqlite_query(path: Path) -> Any:
    """A ``query(sql, args)`` over MLflow's SQLite file opened read-only with plain sqlite3."""

    def query(sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    return query


def mlflow_contents(source: Path | Any) -> Contents:
    """MLflow's tables read with plain SQL (a SQLite path, or a ``query(sql, args)`` function):
    experiments and runs by id, each run's info, params, tags and every metric point as sorted
    (step, timestamp, value) tuples."""
    query = sqlite_query(source) if isinstance(source, Path) else source
    exp_tags: dict[str, dict[str, str]] = defaultdict(dict)
    for eid, k, v in query("SELECT experiment_id, key, value FROM experiment_tags"):
        exp_tags[str(eid)][k] = v
    experiments = {
        str(eid): (name, stage, loc, exp_tags[str(eid)])
        for eid, name, stage, loc in query(
            "SELECT experiment_id, name, lifecycle_stage, artifact_location FROM experiments"
        )
    }
    runs: dict[str, Any] = {}
    for rid, eid, name, user, status, start, end, stage, art in query(
        "SELECT run_uuid, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, "
        "artifact_uri FROM runs"
    ):
        params = dict(query("SELECT key, value FROM params WHERE run_uuid = ?", (rid,)))
        tags = dict(query("SELECT key, value FROM tags WHERE run_uuid = ?", (rid,)))
        metrics: dict[str, list[tuple[int, int, object]]] = defaultdict(list)
        for key, value, is_nan, ts, step in query(
            "SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ?", (rid,)
        ):
            metrics[key].append((step, ts, "nan" if is_nan else value))
        datasets = []
        for uuid, *dataset in query(
            "SELECT i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, "
            "d.dataset_schema, d.dataset_profile FROM inputs i "
            "JOIN datasets d ON d.dataset_uuid = i.source_id "
            "WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id = ?",
            (rid,),
        ):
            input_tags = sorted(query("SELECT name, value FROM input_tags WHERE input_uuid = ?", (uuid,)))
            datasets.append((tuple(dataset), input_tags))
        runs[rid] = (
            (str(eid), name, user, status, start, end, stage, art),
            params,
            tags,
            {k: sorted(v, key=repr) for k, v in metrics.items()},
            sorted(datasets),
        )
    return {"experiments": experiments, "runs": runs}


async def store_contents(store: AbstractStore) -> Contents:
    """The same shape read from an asynctrack store through the protocol."""
    exps, _ = await store.search_experiments(ViewType.ALL, 1000, "", [], None)
    experiments = {
        e.experiment_id: (e.name, e.lifecycle_stage, e.artifact_location, dict(e.tags)) for e in exps
    }
    runs: dict[str, Any] = {}
    for e in exps:
        found, _ = await store.search_runs([e.experiment_id], "", ViewType.ALL, 1000, [], None)
        for run in found:
            i = run.info
            metrics = {}
            for key in run.data.metrics:
                s = await store.get_metric_series(i.run_id, key)
                points = zip(s.steps.tolist(), s.timestamps.tolist(), s.values.tolist(), strict=True)
                metrics[key] = sorted(((st, ts, _value(v)) for st, ts, v in points), key=repr)
            runs[i.run_id] = (
                (
                    i.experiment_id,
                    i.run_name,
                    i.user_id,
                    i.status,
                    i.start_time,
                    i.end_time,
                    i.lifecycle_stage,
                    i.artifact_uri,
                ),
                dict(run.data.params),
                dict(run.data.tags),
                metrics,
                sorted(_dataset_row(d) for d in run.inputs.dataset_inputs),
            )
    return {"experiments": experiments, "runs": runs}


def _dataset_row(given: DatasetInput) -> tuple[tuple[Any, ...], list[tuple[str, str]]]:
    d = given.dataset
    return (
        (d.name, d.digest, d.source_type, d.source, d.schema, d.profile),
        sorted((t.key, t.value) for t in given.tags),
    )


def read_store(path: Path) -> Contents:
    async def read() -> Contents:
        store = await SqliteStore.open(str(path), str(path.parent / "artifacts"), upgrade=False)
        try:
            return await store_contents(store)
        finally:
            await store.aclose()

    return anyio.run(read)


def assert_same(source: Contents, target: Contents, *, default_location_differs: bool = True) -> None:
    assert set(target["experiments"]) == set(source["experiments"])
    for eid, (name, stage, loc, tags) in source["experiments"].items():
        t_name, t_stage, t_loc, t_tags = target["experiments"][eid]
        assert (t_name, t_stage, t_tags) == (name, stage, tags)
        if not (default_location_differs and eid == "0"):  # the target's Default keeps its own location
            assert t_loc == loc
    assert set(target["runs"]) == set(source["runs"])  # run ids kept
    for rid, run in source["runs"].items():
        assert target["runs"][rid] == run, rid


@pytest.mark.slow  # mlflow_db: the real mlflow writes it in a subprocess (~15 s)
def test_copy_from_mlflow_database_leaves_it_unmodified(
    mlflow_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digest(mlflow_db)
    siblings = sorted(p.name for p in mlflow_db.parent.iterdir())
    target = tmp_path / "copy.db"
    assert main(["db", "copy", f"sqlite:///{mlflow_db}", f"sqlite:///{target}"]) == 0
    out = capsys.readouterr().out
    assert digest(mlflow_db) == before
    assert sorted(p.name for p in mlflow_db.parent.iterdir()) == siblings  # no journal, WAL or state left
    source = mlflow_contents(mlflow_db)
    assert_same(source, read_store(target))
    # the verification table counts both sides
    points = sum(len(p) for run in source["runs"].values() for p in run[3].values())
    assert points == 5700
    assert "points" in out and "5,700" in out and "DIFFERS" not in out
    assert sum(len(run[4]) for run in source["runs"].values()) == 1  # the writer's one dataset input
    assert "inputs" in out and "not copied" not in out
    # a second run finds everything complete and copies nothing again
    assert main(["db", "copy", f"sqlite:///{mlflow_db}", f"sqlite:///{target}", "--json"]) == 0
    assert '"copied_runs": 0' in capsys.readouterr().out
    assert_same(source, read_store(target))
    assert digest(mlflow_db) == before


@pytest.mark.slow  # mlflow_db: the real mlflow writes it in a subprocess (~15 s)
def test_an_mlflow_database_is_never_a_target(mlflow_db: Path, tmp_path: Path) -> None:
    before = digest(mlflow_db)
    source = tmp_path / "s.db"
    source.write_bytes((DATA / "schema4.db").read_bytes())
    assert main(["db", "copy", f"sqlite:///{source}", f"sqlite:///{mlflow_db}"]) == 1
    assert digest(mlflow_db) == before


def test_copy_between_asynctrack_files_keeps_ids(tmp_path: Path) -> None:
    source = tmp_path / "s.db"
    source.write_bytes((DATA / "schema4.db").read_bytes())
    assert main(["db", "upgrade", "--no-backup", f"sqlite:///{source}"]) == 0  # a copy reads current schemas
    target = tmp_path / "t.db"
    assert main(["db", "copy", str(source), f"sqlite:///{target}", "--no-progress"]) == 0
    assert_same(read_store(source), read_store(target))


class Interrupt(Exception):
    pass


class StopInSecondRun:
    """A progress listener that stops the copy at its first write of the second run (after one batch)."""

    def __init__(self) -> None:
        self.runs_done = 0

    def started(self, runs: int, skipped: int) -> None:
        pass

    def written(self, points: int) -> None:
        if self.runs_done == 1:
            raise Interrupt

    def run_done(self) -> None:
        self.runs_done += 1


async def make_source(path: Path, runs: int, points: int, keys: int = 2) -> None:
    store = await SqliteStore.open(str(path), str(path.parent / "artifacts"))
    try:
        eid = await store.create_experiment("big", tags=[("k", "v")])
        for r in range(runs):
            run = await store.create_run(eid, "u", 1_700_000_000_000 + r, [RunTag("t", str(r))], f"run{r}")
            steps = np.arange(points, dtype=np.int64)
            series = [
                MetricSeries(f"m{k}", np.sin(steps * (k + 1) + r), 1_700_000_000_000 + steps, steps)
                for k in range(keys)
            ]
            await store.log_batch(run.info.run_id, series, [Param("p", str(r))], [])
            await store.log_inputs(run.info.run_id, source_datasets(r))
    finally:
        await store.aclose()


def source_datasets(r: int) -> list[DatasetInput]:
    """Run ``r``'s dataset inputs in ``make_source``: a training set shared by every other run, and an
    evaluation set with a schema and a profile on the even runs."""
    train = Dataset("train", f"d{r % 2}", "local", f'{{"uri": "/data/train{r % 2}"}}')
    out = [DatasetInput(train, [InputTag("mlflow.data.context", "training")])]
    if r % 2 == 0:
        schema, profile = '{"mlflow_colspec": [{"type": "double"}]}', f'{{"num_rows": {r}}}'
        evaluation = Dataset("eval", f"e{r}", "http", '{"url": "https://x/eval"}', schema, profile)
        out.append(DatasetInput(evaluation, [InputTag("mlflow.data.context", "eval"), InputTag("k", "v")]))
    return out


@pytest.mark.slow
@pytest.mark.anyio
async def test_interrupted_copy_resumes_to_exact_counts(tmp_path: Path) -> None:
    source_path, target_path = tmp_path / "s.db", tmp_path / "t.db"
    await make_source(source_path, runs=3, points=120_000)  # 240,000 points a run: three batches of calls
    state_path = str(tmp_path / "copy.state")

    async def copy(progress: Any) -> Any:
        source = await open_source(str(source_path))
        target = await SqliteStore.open(str(target_path), str(tmp_path / "a"))
        state = await anyio.to_thread.run_sync(CopyState, state_path, "s")  # reads its file
        try:
            return await copy_store(source, target, state, progress)
        finally:
            await anyio.to_thread.run_sync(state.close)
            await target.aclose()
            await source.aclose()

    with pytest.raises(Interrupt):
        await copy(StopInSecondRun())
    conn = sqlite3.connect(target_path)
    points_after_interrupt = conn.execute("SELECT sum(n) FROM metric_chunks").fetchone()[0]
    conn.close()
    assert 240_000 < points_after_interrupt < 480_000  # one run whole, the second one in part
    report = await copy(None)
    assert (report.copied_runs, report.skipped_runs) == (2, 1)
    assert report.matches
    assert (report.target.runs, report.target.points, report.target.params) == (3, 720_000, 3)
    # the interrupted run's inputs were logged before it stopped and again on resume: still once each
    assert report.target.inputs == report.source.inputs == 5
    target = await SqliteStore.open(str(target_path), str(tmp_path / "a"))
    try:
        assert_same(await anyio.to_thread.run_sync(read_store, source_path), await store_contents(target))
        await assert_found_by_dataset(target)
    finally:
        await target.aclose()


async def assert_found_by_dataset(store: AbstractStore) -> None:
    """The copied inputs answer dataset filters: ``eval`` on runs 0 and 2, digest ``d1`` on run 1."""
    exp = await store.get_experiment_by_name("big")
    assert exp is not None

    async def names(where: str) -> list[str | None]:
        runs, _ = await store.search_runs([exp.experiment_id], where, ViewType.ALL, 100, [], None)
        return sorted(r.info.run_name for r in runs)

    assert await names("datasets.name = 'eval'") == ["run0", "run2"]
    assert await names("datasets.digest = 'd1'") == ["run1"]
    assert await names("datasets.context = 'training'") == ["run0", "run1", "run2"]


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b'"counts"')  # complete runs (a started one has no counts)
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_killed_copy_command_resumes_to_exact_counts(tmp_path: Path) -> None:
    source_path, target_path = tmp_path / "s.db", tmp_path / "t.db"
    runs, points = 40, 100_000
    anyio.run(make_source, source_path, runs, points)
    state = tmp_path / "copy.state"
    argv = [
        sys.executable,
        "-m",
        "asynctrack",
        "db",
        "copy",
        str(source_path),
        f"sqlite:///{target_path}",
        "--state",
        str(state),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _count_lines(state) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = _count_lines(state)
    assert 3 <= done_before < runs, "the copy was not stopped half way"
    again = subprocess.run(argv + ["--json"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert '"matches": true' in again.stdout
    assert f'"skipped_runs": {done_before}' in again.stdout
    conn = sqlite3.connect(target_path)
    assert conn.execute("SELECT sum(n) FROM metric_chunks").fetchone()[0] == runs * points * 2
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == runs
    conn.close()


@pytest.mark.slow
def test_copy_from_a_real_mlflow_server_over_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = mlflow_server(tmp_path)
    target = tmp_path / "copy.db"
    with running(server):
        done = subprocess.run(
            [str(mlflow_python()), str(WRITER), server.url], capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-4000:]
        assert main(["db", "copy", server.url, f"sqlite:///{target}"]) == 0
    out = capsys.readouterr().out
    assert "5,700" in out and "DIFFERS" not in out
    assert_same(mlflow_contents(tmp_path / "mlflow.db"), read_store(target))


@pytest.mark.slow
def test_copy_into_a_server_gets_new_ids_and_resumes_into_the_same_runs(tmp_path: Path) -> None:
    """A target that cannot keep ids (an asynctrack server over REST): runs get new ids, recorded in the
    state file when created, so a copy interrupted half way through a run finishes that same run, exactly
    (the keys of its writes are applied once by the server)."""
    source_path = tmp_path / "s.db"
    anyio.run(make_source, source_path, 3, 3_000)  # 6,000 points a run: several REST batches of 1,000
    server = asynctrack_server(tmp_path)
    state_path = str(tmp_path / "copy.state")

    async def copy(progress: Any) -> Any:
        source = await open_source(str(source_path))
        target = await RestStore.open(server.url)
        state = await anyio.to_thread.run_sync(CopyState, state_path, "s")  # reads its file
        try:
            return await copy_store(source, target, state, progress)
        finally:
            await anyio.to_thread.run_sync(state.close)
            await target.aclose()
            await source.aclose()

    with running(server):
        with pytest.raises(Interrupt):
            anyio.run(copy, StopInSecondRun())
        report = anyio.run(copy, None)
        assert (report.copied_runs, report.skipped_runs) == (2, 1)
        assert report.matches, (report.source, report.target)
        assert (report.target.runs, report.target.points) == (3, 18_000)

        source_ids = set(read_store(source_path)["runs"])

        async def check() -> None:
            target = await RestStore.open(server.url)
            try:
                exp = await target.get_experiment_by_name("big")
                assert exp is not None
                runs, _ = await target.search_runs([exp.experiment_id], "", ViewType.ALL, 100, [], None)
                assert len(runs) == 3  # the interrupted run was finished, not created again
                assert not source_ids & {r.info.run_id for r in runs}  # new ids
                for run in runs:
                    for key in ("m0", "m1"):
                        series = await target.get_metric_series(run.info.run_id, key)
                        np.testing.assert_array_equal(series.steps, np.arange(3_000))
            finally:
                await target.aclose()

        anyio.run(check)


def test_copy_names_the_registry_and_logged_models_it_leaves_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "s.db"
    anyio.run(make_source, source, 1, 10)

    async def register() -> None:
        store = await SqliteStore.open(str(source), str(tmp_path / "artifacts"))
        try:
            exp = await store.get_experiment_by_name("big")
            assert exp is not None
            await store.create_registered_model("clf")
            await store.create_registered_model("reg")
            for _ in range(3):
                await store.create_model_version("clf", "s3://b/m")
            await store.create_logged_model(exp.experiment_id, "m")
        finally:
            await store.aclose()

    target = tmp_path / "t.db"
    assert main(["db", "copy", str(source), f"sqlite:///{target}", "--no-progress"]) == 0
    assert "not copied" not in capsys.readouterr().out  # nothing of the kind yet: no note
    anyio.run(register)
    again = tmp_path / "t2.db"
    assert main(["db", "copy", str(source), f"sqlite:///{again}", "--no-progress"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 registered model(s) with 3 version(s) were not copied" in out
    assert "1 logged model(s) were not copied" in out
