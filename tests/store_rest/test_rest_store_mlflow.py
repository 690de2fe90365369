"""RestStore against the official ``mlflow server`` (3.17.2 on SQLite): every store method, values read back
exactly, MLflow's error codes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asynctrack.entities import Param, RunStatus, RunTag, ViewType
from asynctrack.exceptions import MlflowException
from asynctrack.store import MetricSeries
from asynctrack.store.rest import RestStore

pytestmark = pytest.mark.anyio

MAX_DOUBLE = 1.7976931348623157e308  # what MLflow's SQL store keeps for +inf (and - for -inf)


def series(key, values, timestamps=None, steps=None):
    n = len(values)
    return MetricSeries(
        key,
        np.asarray(values, np.float64),
        np.asarray(timestamps if timestamps is not None else [1000] * n, np.int64),
        np.asarray(steps if steps is not None else range(n), np.int64),
    )


async def expect_error(code, awaitable):
    with pytest.raises(MlflowException) as ei:
        await awaitable
    assert ei.value.error_code == code, ei.value.message
    return ei.value


@pytest.fixture
async def exp_id(store, unique):
    return await store.create_experiment(f"exp-{unique}")


@pytest.fixture
async def run_id(store, exp_id):
    run = await store.create_run(exp_id, "alice", 1000, [], None)
    return run.info.run_id


# -- experiments


async def test_experiment_lifecycle_round_trip(store, unique):
    """Create (with tags), get by id and name, rename, tag, untag, delete and restore: MLflow keeps all."""
    name = f"life-{unique}"
    eid = await store.create_experiment(name, tags=[("team", "vision"), ("empty", "")])
    exp = await store.get_experiment(eid)
    assert (exp.experiment_id, exp.name, exp.lifecycle_stage) == (eid, name, "active")
    assert exp.tags == {"team": "vision", "empty": ""}
    assert exp.artifact_location.endswith(f"/{eid}")
    assert exp.creation_time and exp.last_update_time
    assert (await store.get_experiment_by_name(name)).experiment_id == eid

    await store.rename_experiment(eid, name + "-renamed")
    assert (await store.get_experiment(eid)).name == name + "-renamed"
    assert await store.get_experiment_by_name(name) is None

    await store.set_experiment_tag(eid, "stage", "prod")
    await store.delete_experiment_tag(eid, "team")
    assert (await store.get_experiment(eid)).tags == {"empty": "", "stage": "prod"}

    await store.delete_experiment(eid)
    assert (await store.get_experiment(eid)).lifecycle_stage == "deleted"
    await store.restore_experiment(eid)
    assert (await store.get_experiment(eid)).lifecycle_stage == "active"


async def test_experiment_errors_carry_mlflow_codes(store, unique):
    """Unknown ids are RESOURCE_DOES_NOT_EXIST, a taken name RESOURCE_ALREADY_EXISTS, an unknown name None."""
    err = await expect_error("RESOURCE_DOES_NOT_EXIST", store.get_experiment("987654321"))
    assert "987654321" in err.message
    await expect_error("RESOURCE_DOES_NOT_EXIST", store.delete_experiment("987654321"))
    await expect_error("RESOURCE_DOES_NOT_EXIST", store.set_experiment_tag("987654321", "k", "v"))
    assert await store.get_experiment_by_name(f"nope-{unique}") is None
    await store.create_experiment(f"taken-{unique}")
    await expect_error("RESOURCE_ALREADY_EXISTS", store.create_experiment(f"taken-{unique}"))


# -- runs


async def test_create_and_get_run(store, exp_id):
    """create_run keeps user, start time, name and tags; get_run returns the same run."""
    run = await store.create_run(exp_id, "alice", 1234, [RunTag("team", "a")], "my-run")
    info = run.info
    assert (info.experiment_id, info.user_id, info.start_time, info.run_name) == (
        exp_id,
        "alice",
        1234,
        "my-run",
    )
    assert (info.status, info.lifecycle_stage, info.end_time) == ("RUNNING", "active", None)
    assert run.data.tags["team"] == "a" and run.data.tags["mlflow.runName"] == "my-run"
    again = await store.get_run(info.run_id)
    assert again.info == info
    assert again.data.tags == run.data.tags


async def test_update_delete_restore_run(store, run_id):
    """update_run_info sets status, end time and name; delete and restore flip the lifecycle stage."""
    info = await store.update_run_info(run_id, "FINISHED", 5000, "renamed")
    assert (info.status, info.end_time, info.run_name) == ("FINISHED", 5000, "renamed")
    assert RunStatus.is_terminated((await store.get_run(run_id)).info.status)
    info = await store.update_run_info(run_id, None, None, "again")
    assert (info.status, info.end_time, info.run_name) == ("FINISHED", 5000, "again")
    await store.delete_run(run_id)
    assert (await store.get_run(run_id)).info.lifecycle_stage == "deleted"
    await store.restore_run(run_id)
    assert (await store.get_run(run_id)).info.lifecycle_stage == "active"


async def test_unknown_run_is_resource_does_not_exist(store):
    """Every run operation on an unknown id fails with MLflow's RESOURCE_DOES_NOT_EXIST."""
    missing = "f" * 32
    await expect_error("RESOURCE_DOES_NOT_EXIST", store.get_run(missing))
    await expect_error("RESOURCE_DOES_NOT_EXIST", store.update_run_info(missing, "FINISHED", 1, None))
    await expect_error("RESOURCE_DOES_NOT_EXIST", store.log_batch(missing, [series("m", [1.0])], [], []))
    await expect_error("RESOURCE_DOES_NOT_EXIST", store.delete_run(missing))
    # MLflow's server answers an unknown run's history with an empty list; the store looks the run up.
    await expect_error("RESOURCE_DOES_NOT_EXIST", store.get_metric_series(missing, "m"))


# -- log_batch


async def test_log_batch_values_read_back_exactly(store, run_id):
    """Doubles survive the JSON round trip bit for bit; NaN stays NaN; MLflow's server clamps +-inf to
    +-max double and turns -0.0 into 0.0 (its SQL store does); int64 steps and timestamps survive."""
    values = [
        0.1,
        1 / 3,
        -0.0,
        5e-324,
        1e308,
        -2.5e-310,
        float("nan"),
        float("inf"),
        float("-inf"),
        123456789.125,
    ]
    n = len(values)
    stamps = [2**62 + i for i in range(n)]
    steps = [-(2**62), -1, 0, 1, 2, 3, 4, 5, 6, 2**62]
    calls = []
    await store.log_batch(
        run_id,
        [series("m", values, stamps, steps)],
        [Param("p", "v" * 500)],
        [RunTag("t", 'é ✓ "quoted" \\ \n')],
        on_durable=lambda: calls.append(1),
    )
    assert calls == [1]
    got = await store.get_metric_series(run_id, "m")
    # MLflow's SQLite column also loses the sign of -0.0 (SQLite stores integral reals as integers).
    expected = [0.1, 1 / 3, 0.0, *values[3:7], MAX_DOUBLE, -MAX_DOUBLE, values[9]]
    assert got.steps.tolist() == steps
    assert got.timestamps.tolist() == stamps
    for a, b in zip(got.values.tolist(), expected, strict=True):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    run = await store.get_run(run_id)
    assert run.data.params == {"p": "v" * 500}
    assert run.data.tags["t"] == 'é ✓ "quoted" \\ \n'
    latest = {m.key: m for m in run.data.metric_objects()}
    assert latest["m"].step == 2**62 and latest["m"].value == 123456789.125


async def test_param_relogged_with_another_value_fails(store, run_id):
    """Same value again is fine; another value is INVALID_PARAMETER_VALUE and the first value stays."""
    await store.log_batch(run_id, [], [Param("lr", "0.1")], [])
    await store.log_batch(run_id, [], [Param("lr", "0.1")], [])
    err = await expect_error("INVALID_PARAMETER_VALUE", store.log_batch(run_id, [], [Param("lr", "0.2")], []))
    assert "lr" in err.message
    assert (await store.get_run(run_id)).data.params == {"lr": "0.1"}


async def test_tags_last_write_wins_and_delete_tag(store, run_id):
    await store.log_batch(run_id, [], [], [RunTag("a", "1"), RunTag("b", "2")])
    await store.log_batch(run_id, [], [], [RunTag("a", "3")])
    await store.delete_tag(run_id, "b")
    tags = (await store.get_run(run_id)).data.tags
    assert tags["a"] == "3" and "b" not in tags
    await expect_error("RESOURCE_DOES_NOT_EXIST", store.delete_tag(run_id, "b"))


async def test_batch_over_mlflow_limits_is_sent_in_parts(store, run_id):
    """A 2,500-point array and 150 params (over MLflow's 1,000 / 100 per request) all land, in order."""
    n = 2500
    values = np.random.default_rng(1).standard_normal(n)
    params = [Param(f"p{i}", str(i)) for i in range(150)]
    await store.log_batch(run_id, [series("big", values, range(n), range(n))], params, [RunTag("t", "x")])
    got = await store.get_metric_series(run_id, "big")
    assert np.array_equal(got.values, values) and got.steps.tolist() == list(range(n))
    run = await store.get_run(run_id)
    assert len(run.data.params) == 150 and run.data.tags["t"] == "x"


async def test_deleted_run_rejects_writes(store, run_id):
    await store.delete_run(run_id)
    await expect_error("INVALID_PARAMETER_VALUE", store.log_batch(run_id, [series("m", [1.0])], [], []))


# -- history


async def test_history_pages_through_thousands_of_points(mlflow_url, run_id):
    """3,500 points read back in pages of 1,000 (MLflow's page tokens), every point, in step order."""
    store = await RestStore.open(mlflow_url, history_page_size=1000)
    try:
        n = 3500
        rng = np.random.default_rng(7)
        values = rng.standard_normal(n)
        steps = rng.permutation(n)  # logged out of step order
        stamps = 1_700_000_000_000 + np.arange(n)
        for lo in range(0, n, 1000):
            part = slice(lo, lo + 1000)
            await store.log_batch(run_id, [series("h", values[part], stamps[part], steps[part])], [], [])
        got = await store.get_metric_series(run_id, "h")
        order = np.argsort(steps)
        assert got.steps.tolist() == list(range(n))
        assert np.array_equal(got.values, values[order])
        assert np.array_equal(got.timestamps, stamps[order])
        history = await store.get_metric_history(run_id, "h")
        assert len(history) == n and history[0].run_id == run_id and history[0].value == values[order][0]
        assert len((await store.get_metric_series(run_id, "never-logged")).values) == 0
    finally:
        await store.aclose()


async def test_equal_steps_keep_timestamp_order(store, run_id):
    await store.log_batch(run_id, [series("s", [3.0, 1.0, 2.0], [30, 10, 20], [5, 5, 5])], [], [])
    got = await store.get_metric_series(run_id, "s")
    assert got.values.tolist() == [1.0, 2.0, 3.0] and got.timestamps.tolist() == [10, 20, 30]


# -- search


@pytest.fixture
async def searchable(store, exp_id):
    """Five runs with metrics, params and tags; the last two finished; one deleted."""
    ids = []
    for i in range(5):
        run = await store.create_run(
            exp_id, "bob", 1000 + i, [RunTag("group", "a" if i % 2 else "b")], f"r{i}"
        )
        rid = run.info.run_id
        await store.log_batch(rid, [series("acc", [i / 10], [1], [0])], [Param("layers", str(i))], [])
        if i >= 3:
            await store.update_run_info(rid, "FINISHED", 2000 + i, None)
        ids.append(rid)
    deleted = await store.create_run(exp_id, "bob", 999, [], "gone")
    await store.delete_run(deleted.info.run_id)
    return exp_id, ids, deleted.info.run_id


async def test_search_runs_filters_and_order(store, searchable):
    exp_id, ids, deleted = searchable
    runs, token = await store.search_runs([exp_id], "metrics.acc >= 0.2", ViewType.ACTIVE_ONLY, 100, [], None)
    assert token is None
    # MLflow's default order: start_time DESC
    assert [r.info.run_id for r in runs] == [ids[4], ids[3], ids[2]]
    runs, _ = await store.search_runs(
        [exp_id], "tags.group = 'a'", ViewType.ACTIVE_ONLY, 100, ["metrics.acc ASC"], None
    )
    assert [r.info.run_id for r in runs] == [ids[1], ids[3]]
    runs, _ = await store.search_runs(
        [exp_id],
        "attributes.status = 'FINISHED' and params.layers != '3'",
        ViewType.ACTIVE_ONLY,
        100,
        [],
        None,
    )
    assert [r.info.run_id for r in runs] == [ids[4]]
    assert runs[0].data.metrics == {"acc": 0.4} and runs[0].data.params == {"layers": "4"}
    runs, _ = await store.search_runs([exp_id], "", ViewType.DELETED_ONLY, 100, [], None)
    assert [r.info.run_id for r in runs] == [deleted]
    runs, _ = await store.search_runs([exp_id], "", ViewType.ALL, 100, ["attributes.run_name DESC"], None)
    assert [r.info.run_name for r in runs] == ["r4", "r3", "r2", "r1", "r0", "gone"]
    await expect_error(
        "INVALID_PARAMETER_VALUE",
        store.search_runs([exp_id], "metrics.acc >>> 1", ViewType.ALL, 10, [], None),
    )


async def test_search_runs_pages_with_tokens(store, searchable):
    exp_id, ids, _ = searchable
    seen, token, pages = [], None, 0
    while True:
        runs, token = await store.search_runs(
            [exp_id], "", ViewType.ACTIVE_ONLY, 2, ["start_time ASC"], token
        )
        seen += [r.info.run_id for r in runs]
        pages += 1
        if token is None:
            break
    assert seen == ids and pages == 3


async def test_search_experiments_filter_order_paging_view(store, unique):
    names = [f"se-{unique}-{i}" for i in range(3)]
    ids = [await store.create_experiment(n, tags=[("kind", "x" if i else "y")]) for i, n in enumerate(names)]
    await store.delete_experiment(ids[0])
    found, token = await store.search_experiments(
        ViewType.ACTIVE_ONLY, 1, f"name LIKE 'se-{unique}-%'", ["name DESC"], None
    )
    assert [e.name for e in found] == [names[2]] and token
    found, token = await store.search_experiments(
        ViewType.ACTIVE_ONLY, 1, f"name LIKE 'se-{unique}-%'", ["name DESC"], token
    )
    assert [e.name for e in found] == [names[1]] and token is None
    found, _ = await store.search_experiments(
        ViewType.ALL, 10, f"name LIKE 'se-{unique}-%' AND tags.kind = 'y'", [], None
    )
    assert [e.experiment_id for e in found] == [ids[0]] and found[0].lifecycle_stage == "deleted"
    found, _ = await store.search_experiments(
        ViewType.DELETED_ONLY, 10, f"name LIKE 'se-{unique}-%'", [], None
    )
    assert [e.experiment_id for e in found] == [ids[0]]
