"""The store protocol driven directly through its coroutines, on the embedded SqliteStore and on the
PostgreSQL store (the ``store`` fixture is parametrized over both; tests that open files themselves are
about SQLite only)."""

from __future__ import annotations

import contextlib
import math
import re
import sqlite3
import struct
from typing import Any

import numpy as np
import pytest
from loops import PRODUCTION_LOOP
from postgres_db import STORE_BACKENDS, backend_uri, open_test_store

from asynctrack._names import generate_run_name
from asynctrack.entities import Param, RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.store import MetricSeries
from asynctrack.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

NAME_RE = re.compile(r"^([a-z]+)-([a-z]+)-(\d+)$")


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP  # asyncio on uvloop, in debug mode: the loop asynctrack runs (tests/loops.py)


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "store.db")


@pytest.fixture
def artifact_root(tmp_path):
    return str(tmp_path / "artifacts")


@pytest.fixture(params=STORE_BACKENDS)
async def store(request, tmp_path, artifact_root):
    with backend_uri(request.param, str(tmp_path)) as uri:
        s = await open_test_store(uri, artifact_root)
        try:
            yield s
        finally:
            await s.aclose()


@pytest.fixture
async def run_id(store):
    run = await store.create_run("0", "alice", 1000, [], None)
    return run.info.run_id


def series(key, values, timestamps=None, steps=None):
    n = len(values)
    return MetricSeries(
        key,
        np.asarray(values, np.float64),
        np.asarray(timestamps if timestamps is not None else [1000] * n, np.int64),
        np.asarray(steps if steps is not None else range(n), np.int64),
    )


def raw_sql(path, sql, *args):
    """Run one statement on the database from a plain sqlite3 connection (as another tool would)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(sql, args)
        conn.commit()


async def expect_error(code, awaitable):
    with pytest.raises(MlflowException) as ei:
        await awaitable
    assert ei.value.error_code == code
    return ei.value


# -- experiments


async def test_default_experiment_exists(store, artifact_root):
    """A new database has experiment "0" named "Default", active, with artifacts under the root."""
    exp = await store.get_experiment("0")
    assert (exp.experiment_id, exp.name, exp.lifecycle_stage) == ("0", "Default", "active")
    assert exp.artifact_location == f"{artifact_root}/0"
    assert isinstance(exp.creation_time, int)
    assert (await store.get_experiment_by_name("Default")).experiment_id == "0"


async def test_create_and_get_experiment(store, artifact_root):
    """create_experiment returns increasing string ids; the experiment reads back with tags and location."""
    first = await store.create_experiment("exp-a", tags=[("team", "ml"), ("k", "v")])
    second = await store.create_experiment("exp-b", artifact_location="/custom/place")
    assert (first, second) == ("1", "2")
    a = await store.get_experiment(first)
    assert a.name == "exp-a" and a.lifecycle_stage == "active"
    assert a.tags == {"team": "ml", "k": "v"}
    assert a.artifact_location == f"{artifact_root}/1"
    assert (await store.get_experiment(second)).artifact_location == "/custom/place"
    assert (await store.get_experiment_by_name("exp-b")).experiment_id == "2"


async def test_duplicate_experiment_name(store):
    """Creating an experiment with a taken name is RESOURCE_ALREADY_EXISTS naming it."""
    await store.create_experiment("dup")
    e = await expect_error("RESOURCE_ALREADY_EXISTS", store.create_experiment("dup"))
    assert "Experiment(name=dup) already exists" in e.message
    await expect_error("RESOURCE_ALREADY_EXISTS", store.create_experiment("Default"))


async def test_missing_experiment(store):
    """An unknown experiment id is RESOURCE_DOES_NOT_EXIST; an unknown name reads as None."""
    e = await expect_error("RESOURCE_DOES_NOT_EXIST", store.get_experiment("42"))
    assert e.message == "No Experiment with id=42 exists"
    assert await store.get_experiment_by_name("nope") is None


async def test_non_integer_experiment_id(store):
    """A non-integer experiment id is INVALID_PARAMETER_VALUE with MLflow's SQL-store message."""
    e = await expect_error("INVALID_PARAMETER_VALUE", store.get_experiment("abc"))
    assert e.message == "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."


async def test_reopen_keeps_data_and_single_default(db_path, artifact_root):
    """Reopening a database keeps experiments and runs and does not duplicate "Default"."""
    s = await SqliteStore.open(db_path, artifact_root)
    try:
        exp_id = await s.create_experiment("kept")
        run = await s.create_run(exp_id, "u", 1, [], "r1")
    finally:
        await s.aclose()
    s = await SqliteStore.open(db_path, artifact_root)
    try:
        assert (await s.get_experiment(exp_id)).name == "kept"
        assert (await s.get_run(run.info.run_id)).info.run_name == "r1"
        assert await s.create_experiment("next") == "2"
    finally:
        await s.aclose()
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM experiments WHERE name = 'Default'").fetchone()[0] == 1


# -- runs


async def test_create_run_fields(store, artifact_root):
    """create_run returns a RUNNING, active run with a 32-hex id, its start time and artifact URI."""
    run = await store.create_run("0", "alice", 1234, [RunTag("k", "v")], "named")
    info = run.info
    assert re.fullmatch(r"[0-9a-f]{32}", info.run_id)
    assert (info.experiment_id, info.user_id, info.status) == ("0", "alice", "RUNNING")
    assert (info.start_time, info.end_time, info.lifecycle_stage) == (1234, None, "active")
    assert info.artifact_uri == f"{artifact_root}/0/{info.run_id}/artifacts"
    assert info.run_name == "named"
    assert run.data.tags == {"k": "v", "mlflow.runName": "named"}
    assert run.data.metrics == {} and run.data.params == {}


async def test_generated_run_names(store):
    """Unnamed runs get "adjective-animal-N" names (N 0..1000, <= 20 chars), also as mlflow.runName."""
    names = set()
    for _ in range(20):
        run = await store.create_run("0", "u", 1, [], None)
        name = run.info.run_name
        m = NAME_RE.match(name)
        assert m is not None and len(name) <= 20 and 0 <= int(m.group(3)) <= 1000
        assert run.data.tags["mlflow.runName"] == name
        names.add(name)
    assert len(names) > 1


def test_generate_run_name_shape():
    """generate_run_name always yields "adjective-animal-N" with N in 0..1000 and at most 20 characters."""
    for _ in range(5000):
        name = generate_run_name()
        m = NAME_RE.match(name)
        assert m is not None and len(name) <= 20 and 0 <= int(m.group(3)) <= 1000


async def test_run_name_from_tag(store):
    """A mlflow.runName tag alone names the run; an equal run_name alongside it is fine."""
    run = await store.create_run("0", "u", 1, [RunTag("mlflow.runName", "from-tag")], None)
    assert run.info.run_name == "from-tag" and run.data.tags["mlflow.runName"] == "from-tag"
    same = await store.create_run("0", "u", 1, [RunTag("mlflow.runName", "x")], "x")
    assert same.info.run_name == "x"


async def test_run_name_conflicts_with_tag(store):
    """Different run_name and mlflow.runName tag values are INVALID_PARAMETER_VALUE with MLflow's message."""
    e = await expect_error(
        "INVALID_PARAMETER_VALUE",
        store.create_run("0", "u", 1, [RunTag("mlflow.runName", "b")], "a"),
    )
    assert e.message == (
        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
        "(run_name='a', mlflow.runName='b')."
    )


async def test_create_run_in_missing_experiment(store):
    """Creating a run in an unknown experiment is RESOURCE_DOES_NOT_EXIST naming the id."""
    e = await expect_error("RESOURCE_DOES_NOT_EXIST", store.create_run("77", "u", 1, [], None))
    assert "id=77" in e.message


async def test_create_run_in_deleted_experiment(store):
    """Creating a run in a deleted experiment is INVALID_PARAMETER_VALUE naming the experiment."""
    exp_id = await store.create_experiment("gone")
    await store.delete_experiment(exp_id)
    e = await expect_error("INVALID_PARAMETER_VALUE", store.create_run(exp_id, "u", 1, [], None))
    assert e.message == f"Could not create run under non-active experiment with ID {exp_id}."


async def test_update_run_info(store, run_id):
    """update_run_info sets status, end time and name (and the mlflow.runName tag)."""
    info = await store.update_run_info(run_id, "FINISHED", 5000, "renamed")
    assert (info.status, info.end_time, info.run_name) == ("FINISHED", 5000, "renamed")
    run = await store.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["mlflow.runName"] == "renamed"
    info = await store.update_run_info(run_id, None, None, None)
    assert (info.status, info.end_time, info.run_name) == ("FINISHED", 5000, "renamed")


# -- log_batch


async def test_log_batch_params_tags_metrics(store, run_id):
    """log_batch writes params, tags and metrics; get_run shows them (latest metric per key)."""
    await store.log_batch(
        run_id,
        [series("loss", [0.9, 0.5]), series("acc", [0.7])],
        [Param("lr", "0.1"), Param("layers", "3")],
        [RunTag("team", "ml")],
    )
    data = (await store.get_run(run_id)).data
    assert data.params == {"lr": "0.1", "layers": "3"}
    assert data.tags["team"] == "ml"
    assert data.metrics == {"loss": 0.5, "acc": 0.7}


async def test_tags_last_write_wins(store, run_id):
    """A tag set twice in one batch or across batches keeps the last value."""
    await store.log_batch(run_id, [], [], [RunTag("t", "a"), RunTag("t", "b")])
    assert (await store.get_run(run_id)).data.tags["t"] == "b"
    await store.log_batch(run_id, [], [], [RunTag("t", "c")])
    assert (await store.get_run(run_id)).data.tags["t"] == "c"


async def test_run_name_tag_renames_run(store, run_id):
    """Setting the mlflow.runName tag updates run_info.run_name, as in MLflow."""
    await store.log_batch(run_id, [], [], [RunTag("mlflow.runName", "new-name")])
    assert (await store.get_run(run_id)).info.run_name == "new-name"


def _bits(a):
    return np.asarray(a, np.float64).view(np.int64).tolist()


async def test_metric_series_round_trip_bit_exact(store, run_id):
    """Values (NaN with payload, +-inf, -0.0, extremes), int64 timestamps and steps read back bit-exactly."""
    payload_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_0001))[0]
    values = [1.5, float("nan"), payload_nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
    timestamps = [0, 1, 2, 3, 4, 5, 2**63 - 1, 7]
    steps = [-(2**63), -1, 0, 1, 2, 3, 4, 2**63 - 1]
    await store.log_batch(run_id, [series("m", values, timestamps, steps)], [], [])
    got = await store.get_metric_series(run_id, "m")
    assert got.key == "m" and len(got) == len(values)
    assert got.values.dtype == np.float64 and got.steps.dtype == np.int64 and got.timestamps.dtype == np.int64
    assert _bits(got.values) == _bits(values)
    assert got.timestamps.tolist() == timestamps
    assert got.steps.tolist() == steps


INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

# Shapes of step/timestamp columns: constant, evenly spaced, nearly evenly spaced, at the int64 edges.
INT_COLUMNS = {
    "single": [INT64_MAX],
    "constant": [7, 7, 7, 7],
    "constant-min": [INT64_MIN] * 3,
    "progression": [0, 1, 2, 3, 4],
    "stride-3": [10, 13, 16, 19],
    "negative-stride": [5, 3, 1, -1, -3],
    "last-differs": [0, 1, 2, 4],
    "first-differs": [1, 5, 6, 7],
    "up-to-max": [INT64_MAX - 2, INT64_MAX - 1, INT64_MAX],
    "down-to-min": [INT64_MIN + 2, INT64_MIN + 1, INT64_MIN],
    "huge-stride": [INT64_MIN, 0, INT64_MAX],
    "wraps-like-progression": [0, 2**62, INT64_MIN],
    "min-to-max": [INT64_MIN, INT64_MAX],
}


@pytest.mark.parametrize("column", list(INT_COLUMNS.values()), ids=list(INT_COLUMNS))
async def test_integer_columns_round_trip(store, run_id, column):
    """Any int64 steps and timestamps (constant, evenly spaced or not, extremes) read back exactly."""
    n = len(column)
    values = [float(i) for i in range(n)]
    await store.log_batch(run_id, [series("ts", values, column, range(n))], [], [])
    got = await store.get_metric_series(run_id, "ts")
    assert got.timestamps.tolist() == column and got.values.tolist() == values
    await store.log_batch(run_id, [series("st", values, [1] * n, column)], [], [])
    got = await store.get_metric_series(run_id, "st")
    order = sorted(range(n), key=lambda i: column[i])  # history is sorted by step (stable)
    assert got.steps.tolist() == [column[i] for i in order]
    assert got.values.tolist() == [values[i] for i in order]


async def test_metric_history_entities(store, run_id):
    """get_metric_history returns Metric entities carrying the run id, inf kept as inf."""
    await store.log_batch(run_id, [series("m", [1.0, float("inf")], [10, 20], [0, 1])], [], [])
    hist = await store.get_metric_history(run_id, "m")
    assert [(m.key, m.value, m.timestamp, m.step, m.run_id) for m in hist] == [
        ("m", 1.0, 10, 0, run_id),
        ("m", float("inf"), 20, 1, run_id),
    ]


async def test_missing_metric_key_is_empty(store, run_id):
    """A key never logged has an empty history."""
    got = await store.get_metric_series(run_id, "never")
    assert len(got) == 0 and await store.get_metric_history(run_id, "never") == []


async def test_metric_series_sorted_by_step_ties_in_logging_order(store, run_id):
    """History is sorted by step; points with equal steps keep their logging order, across batches."""
    await store.log_batch(run_id, [series("m", [1.0, 2.0, 3.0], [1, 2, 3], [3, 1, 1])], [], [])
    await store.log_batch(run_id, [series("m", [4.0, 5.0], [4, 5], [1, 0])], [], [])
    got = await store.get_metric_series(run_id, "m")
    assert got.steps.tolist() == [0, 1, 1, 1, 3]
    assert got.values.tolist() == [5.0, 2.0, 3.0, 4.0, 1.0]
    assert got.timestamps.tolist() == [5, 2, 3, 4, 1]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(1, 5, 10.0), (2, 1, 3.0), (2, 1, 4.0), (0, 99, 100.0)], 4.0),  # max step, then value
        ([(2, 1, 9.0), (2, 3, 1.0), (1, 99, 50.0)], 1.0),  # max step, then timestamp
        ([(7, 0, float("inf")), (7, 0, 3.0)], float("inf")),
        ([(9, 0, float("-inf")), (8, 0, 3.0)], float("-inf")),
    ],
    ids=["value-breaks-tie", "timestamp-breaks-tie", "inf", "-inf"],
)
async def test_latest_metric_within_batch(store, run_id, points, expected):
    """The run's latest metric is the point with the largest step, then timestamp, then value."""
    steps, stamps, values = zip(*points, strict=True)
    await store.log_batch(run_id, [series("m", values, stamps, steps)], [], [])
    assert (await store.get_run(run_id)).data.metrics["m"] == expected


async def test_latest_metric_across_batches(store, run_id):
    """Later batches replace the latest metric only when larger by (step, timestamp, value)."""

    async def latest_after(step, ts, value):
        await store.log_batch(run_id, [series("m", [value], [ts], [step])], [], [])
        return (await store.get_run(run_id)).data.metrics["m"]

    assert await latest_after(5, 10, 1.0) == 1.0
    assert await latest_after(5, 10, 0.5) == 1.0  # same step and time, smaller value
    assert await latest_after(5, 11, -7.0) == -7.0  # same step, later time
    assert await latest_after(4, 99, 50.0) == -7.0  # smaller step
    assert await latest_after(6, 0, 0.0) == 0.0  # larger step
    assert np.isnan(await latest_after(7, 0, float("nan")))


async def test_param_relogged_with_same_value(store, run_id):
    """Re-logging a param with its current value is a silent no-op."""
    await store.log_batch(run_id, [], [Param("p", "1")], [])
    await store.log_batch(run_id, [], [Param("p", "1")], [])
    assert (await store.get_run(run_id)).data.params == {"p": "1"}


async def test_param_changed_value_rejected_atomically(store, run_id):
    """Changing a param is INVALID_PARAMETER_VALUE (MLflow's message) and nothing of the batch is written."""
    await store.log_batch(run_id, [series("m", [1.0])], [Param("p", "1")], [RunTag("t", "old")])
    e = await expect_error(
        "INVALID_PARAMETER_VALUE",
        store.log_batch(
            run_id,
            [series("z", [1.0, 2.0]), series("m", [9.0], [2000], [5])],
            [Param("p", "2")],
            [RunTag("t", "new"), RunTag("t2", "x")],
        ),
    )
    assert e.message == (
        f"Changing param values is not allowed. Param with key='p' was already logged with value='1' "
        f"for run ID='{run_id}'. Attempted logging new value '2'."
    )
    data = (await store.get_run(run_id)).data
    assert data.params == {"p": "1"}
    assert data.tags["t"] == "old" and "t2" not in data.tags
    assert data.metrics == {"m": 1.0}
    assert len(await store.get_metric_series(run_id, "z")) == 0
    assert len(await store.get_metric_series(run_id, "m")) == 1


async def test_params_changed_in_batch_message(store, run_id):
    """With several params in the batch, a change gives MLflow's batch message and writes no new param."""
    await store.log_batch(run_id, [], [Param("p", "1")], [])
    e = await expect_error(
        "INVALID_PARAMETER_VALUE", store.log_batch(run_id, [], [Param("p", "3"), Param("q", "1")], [])
    )
    assert e.message == (
        "Changing param values is not allowed. Params were already logged="
        f"'[{{'key': 'p', 'old_value': '1', 'new_value': '3'}}]' for run ID='{run_id}'."
    )
    assert (await store.get_run(run_id)).data.params == {"p": "1"}


async def test_duplicate_param_keys_in_batch(store, run_id):
    """One batch giving a key two values is INVALID_PARAMETER_VALUE with MLflow's duplicate-key message."""
    e = await expect_error(
        "INVALID_PARAMETER_VALUE", store.log_batch(run_id, [], [Param("dup", "1"), Param("dup", "2")], [])
    )
    assert e.message == (
        "Duplicate parameter keys have been submitted: ['dup']. Please ensure the request contains only "
        "one param value per param key."
    )
    assert (await store.get_run(run_id)).data.params == {}


async def test_unknown_run_is_resource_does_not_exist(store):
    """Every run operation on an unknown run id is RESOURCE_DOES_NOT_EXIST "Run with id=<id> not found"."""
    missing = "f" * 32
    message = f"Run with id={missing} not found"
    for call in (
        lambda: store.log_batch(missing, [series("m", [1.0])], [], []),
        lambda: store.log_batch(missing, [], [Param("p", "1")], []),
        lambda: store.get_run(missing),
        lambda: store.get_metric_series(missing, "m"),
        lambda: store.delete_tag(missing, "t"),
        lambda: store.update_run_info(missing, "FINISHED", 1, None),
    ):
        assert (await expect_error("RESOURCE_DOES_NOT_EXIST", call())).message == message


async def test_deleted_run_rejects_writes(store, run_id):
    """Writes to a deleted run are INVALID_PARAMETER_VALUE with MLflow's message; reads still work."""
    await store.delete_run(run_id)
    message = f"The run {run_id} must be in the 'active' state. Current state is deleted."
    for call in (
        lambda: store.log_batch(run_id, [series("m", [1.0])], [], []),
        lambda: store.log_batch(run_id, [], [], [RunTag("t", "x")]),
        lambda: store.delete_tag(run_id, "mlflow.runName"),
        lambda: store.update_run_info(run_id, "FINISHED", 1, None),
    ):
        assert (await expect_error("INVALID_PARAMETER_VALUE", call())).message == message
    run = await store.get_run(run_id)
    assert run.info.lifecycle_stage == "deleted" and run.data.metrics == {}


async def test_finished_run_accepts_writes(store, run_id):
    """A FINISHED (still active) run accepts more data, as in MLflow."""
    await store.update_run_info(run_id, "FINISHED", 2000, None)
    await store.log_batch(run_id, [series("m", [3.0])], [Param("p", "1")], [])
    data = (await store.get_run(run_id)).data
    assert data.metrics == {"m": 3.0} and data.params == {"p": "1"}


async def test_delete_tag(store, run_id):
    """delete_tag removes a tag; a missing tag is RESOURCE_DOES_NOT_EXIST naming key and run."""
    await store.log_batch(run_id, [], [], [RunTag("t", "x"), RunTag("keep", "y")])
    await store.delete_tag(run_id, "t")
    tags = (await store.get_run(run_id)).data.tags
    assert "t" not in tags and tags["keep"] == "y"
    e = await expect_error("RESOURCE_DOES_NOT_EXIST", store.delete_tag(run_id, "t"))
    assert e.message == f"No tag with name: t in run with id {run_id}"


async def test_empty_metric_series_is_harmless(store, run_id):
    """An empty metric series either writes nothing or fails as MlflowException, never a raw error."""
    try:
        await store.log_batch(run_id, [series("m", [])], [Param("p", "1")], [])
    except MlflowException:
        return
    assert len(await store.get_metric_series(run_id, "m")) == 0


async def test_two_stores_share_one_file(db_path, artifact_root):
    """Two store instances on one file (two connection pairs) see each other's committed writes."""
    a = await SqliteStore.open(db_path, artifact_root)
    b = await SqliteStore.open(db_path, artifact_root)
    try:
        run = await a.create_run("0", "u", 1, [], None)
        await b.log_batch(run.info.run_id, [series("m", [1.0, 2.0])], [Param("p", "v")], [])
        assert (await a.get_run(run.info.run_id)).data.params == {"p": "v"}
        assert len(await a.get_metric_series(run.info.run_id, "m")) == 2
    finally:
        await a.aclose()
        await b.aclose()


# -- damaged databases


async def test_corrupt_file_is_mlflow_exception_naming_path(tmp_path):
    """Opening a file that is not SQLite raises MlflowException naming the path, not a sqlite3 error."""
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a database\x00" * 512)
    with pytest.raises(MlflowException) as ei:
        await SqliteStore.open(str(path), str(tmp_path / "art"))
    assert not isinstance(ei.value, sqlite3.Error)
    assert str(path) in ei.value.message
    assert "not a usable SQLite database" in ei.value.message


async def test_newer_schema_version_refused(db_path, artifact_root):
    """A database written by a newer schema version is refused with MlflowException saying so."""
    s = await SqliteStore.open(db_path, artifact_root)
    await s.aclose()
    raw_sql(db_path, "UPDATE asynctrack_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(MlflowException) as ei:
        await SqliteStore.open(db_path, artifact_root)
    assert "Upgrade asynctrack" in ei.value.message and "99" in ei.value.message


async def test_older_schema_version_refused(db_path, artifact_root):
    """A database from an older, incompatible schema is refused, naming the file and both versions."""
    s = await SqliteStore.open(db_path, artifact_root)
    await s.aclose()
    raw_sql(db_path, "UPDATE asynctrack_meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(MlflowException) as ei:
        await SqliteStore.open(db_path, artifact_root)
    assert "version 1" in ei.value.message and str(db_path) in ei.value.message
