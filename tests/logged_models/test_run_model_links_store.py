"""A run's logged-model inputs and outputs at the store level, on the embedded SQLite store and on
PostgreSQL: ``run.inputs.model_inputs`` and ``run.outputs.model_outputs`` as MLflow 3.17.2's SQL store
keeps them (an input once, an output once, the run active, the model id not looked up)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from postgres_db import backend_uri, open_test_store

from asynctrack.entities import LoggedModelInput, LoggedModelOutput, Param, RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.store._logged_model_protocol import LoggedModelStore

pytestmark = pytest.mark.anyio


def lms(store: Any) -> LoggedModelStore:
    assert isinstance(store, LoggedModelStore)
    return store


async def test_inputs_and_outputs_are_returned_by_get_run_in_logging_order(store: Any) -> None:
    """Inputs are kept once each (logging one again is a no-op, as MLflow's merge), outputs with their
    step; both in the order they were logged; another run sees none of them."""
    s = lms(store)
    a, b, c = [await s.create_logged_model("0", name=n) for n in ("a", "b", "c")]
    run = await store.create_run("0", "u", 1, [], None)
    other = await store.create_run("0", "u", 2, [], None)
    rid = run.info.run_id
    await s.log_model_inputs(rid, [LoggedModelInput(c.model_id), LoggedModelInput(a.model_id)])
    await s.log_model_inputs(rid, [LoggedModelInput(a.model_id)])
    await s.log_model_outputs(rid, [LoggedModelOutput(b.model_id, 7), LoggedModelOutput(a.model_id, 0)])
    got = await store.get_run(rid)
    assert got.inputs.model_inputs == [LoggedModelInput(c.model_id), LoggedModelInput(a.model_id)]
    assert got.outputs.model_outputs == [LoggedModelOutput(b.model_id, 7), LoggedModelOutput(a.model_id, 0)]
    assert got.inputs.dataset_inputs == []
    fresh = await store.get_run(other.info.run_id)
    assert fresh.inputs.model_inputs == [] and fresh.outputs.model_outputs == []


async def test_search_runs_returns_outputs_but_not_model_inputs(store: Any) -> None:
    """MLflow's search_runs attaches each run's model outputs and leaves model inputs out."""
    s = lms(store)
    m = await s.create_logged_model("0", name="m")
    run = await store.create_run("0", "u", 1, [], None)
    rid = run.info.run_id
    await s.log_model_inputs(rid, [LoggedModelInput(m.model_id)])
    await s.log_model_outputs(rid, [LoggedModelOutput(m.model_id, 3)])
    await store.log_batch(rid, [], [Param("p", "1")], [RunTag("t", "x")])
    runs, _ = await store.search_runs(["0"], "", 1, 10, [], None)
    (found,) = [r for r in runs if r.info.run_id == rid]
    assert found.outputs.model_outputs == [LoggedModelOutput(m.model_id, 3)]
    assert found.inputs.model_inputs == []


async def test_an_output_is_recorded_once_per_run(store: Any) -> None:
    """A second output of the same model for a run is BAD_REQUEST (MLflow's primary key), whatever the
    step, and nothing of the failed call is kept."""
    s = lms(store)
    m, n = await s.create_logged_model("0", name="m"), await s.create_logged_model("0", name="n")
    run = await store.create_run("0", "u", 1, [], None)
    rid = run.info.run_id
    await s.log_model_outputs(rid, [LoggedModelOutput(m.model_id, 1)])
    with pytest.raises(MlflowException, match="already an output") as e:
        await s.log_model_outputs(rid, [LoggedModelOutput(n.model_id, 2), LoggedModelOutput(m.model_id, 5)])
    assert e.value.error_code == "BAD_REQUEST"
    assert (await store.get_run(rid)).outputs.model_outputs == [LoggedModelOutput(m.model_id, 1)]
    other = await store.create_run("0", "u", 2, [], None)
    await s.log_model_outputs(other.info.run_id, [LoggedModelOutput(m.model_id, 1)])  # another run may


async def test_links_need_an_existing_active_run_but_not_an_existing_model(store: Any) -> None:
    """MLflow's rules: a missing run is RESOURCE_DOES_NOT_EXIST, a deleted one INVALID_PARAMETER_VALUE;
    a model id is stored as given (MLflow's store does not look it up)."""
    s = lms(store)
    for call, item in (
        (s.log_model_inputs, LoggedModelInput("m-0")),
        (s.log_model_outputs, LoggedModelOutput("m-0", 0)),
    ):
        with pytest.raises(MlflowException, match="Run with id=0123456789abcdef.* not found") as e:
            await call("0123456789abcdef0123456789abcdef", [item])  # type: ignore[operator]
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    run = await store.create_run("0", "u", 1, [], None)
    rid = run.info.run_id
    await s.log_model_inputs(rid, [LoggedModelInput("m-unknown")])
    await s.log_model_outputs(rid, [LoggedModelOutput("m-unknown", 2)])
    got = await store.get_run(rid)
    assert got.inputs.model_inputs == [LoggedModelInput("m-unknown")]
    assert got.outputs.model_outputs == [LoggedModelOutput("m-unknown", 2)]
    await store.delete_run(rid)
    for call, item in (
        (s.log_model_inputs, LoggedModelInput("m-1")),
        (s.log_model_outputs, LoggedModelOutput("m-1", 0)),
    ):
        with pytest.raises(MlflowException, match="must be in the 'active' state") as e:
            await call(rid, [item])  # type: ignore[operator]
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"


async def test_hostile_model_ids_are_data(store: Any) -> None:
    """Ids with quotes, SQL and non-ASCII text are kept byte for byte and match nothing else."""
    s = lms(store)
    run = await store.create_run("0", "u", 1, [], None)
    rid = run.info.run_id
    ids = ["m-'; DROP TABLE runs; --", 'm-"x"', "m-é😀", "m-%_*?["]
    await s.log_model_inputs(rid, [LoggedModelInput(i) for i in ids])
    await s.log_model_outputs(rid, [LoggedModelOutput(i, n) for n, i in enumerate(ids)])
    got = await store.get_run(rid)
    assert [m.model_id for m in got.inputs.model_inputs] == ids
    assert [(m.model_id, m.step) for m in got.outputs.model_outputs] == [(i, n) for n, i in enumerate(ids)]


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_postgres_database_from_before_the_link_tables_gets_them_on_open(
    backend: str, tmp_path: Any
) -> None:
    """PostgreSQL is never migrated on open, but tables added since its schema version are created where
    missing (as the dataset and logged-model tables): a database without the link tables, its runs and
    models intact, takes links after the next open."""
    with backend_uri(backend, str(tmp_path)) as uri:
        s = await open_test_store(uri, str(tmp_path / "artifacts"))
        try:
            run = await s.create_run("0", "u", 1, [], None)
            model = await lms(s).create_logged_model("0", name="m")
        finally:
            await s.aclose()
        conn = await asyncpg.connect(uri.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute("DROP TABLE run_model_inputs; DROP TABLE run_model_outputs")
        finally:
            await conn.close()
        s = await open_test_store(uri, str(tmp_path / "artifacts"))
        try:
            rid = run.info.run_id
            await lms(s).log_model_outputs(rid, [LoggedModelOutput(model.model_id, 1)])
            got = await s.get_run(rid)
            assert got.outputs.model_outputs == [LoggedModelOutput(model.model_id, 1)]
            assert (await lms(s).get_logged_model(model.model_id)).name == "m"
        finally:
            await s.aclose()
