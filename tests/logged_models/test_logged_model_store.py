"""MLflow 3's logged models at the store level, on the embedded SQLite store and on PostgreSQL: the same
answers, MLflow 3.17.2's fields, rules and error codes."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import anyio
import pytest

from asynctrack.entities import LoggedModelStatus, Metric
from asynctrack.exceptions import MlflowException
from asynctrack.store._logged_model_protocol import LoggedModelStore

pytestmark = pytest.mark.anyio


def lms(store: Any) -> LoggedModelStore:
    assert isinstance(store, LoggedModelStore)
    return store


async def test_create_sets_mlflow_fields_and_artifact_location(store: Any) -> None:
    """A new model is PENDING, has an ``m-<32 hex>`` id and lives under the experiment's models/ folder."""
    s = lms(store)
    exp = await store.get_experiment("0")
    before = time.time_ns() // 1_000_000
    m = await s.create_logged_model(
        "0",
        name="clf",
        source_run_id=None,
        tags=[("t", "1")],
        params=[("alpha", "0.1")],
        model_type="Classifier",
    )
    assert re.fullmatch(r"m-[0-9a-f]{32}", m.model_id)
    assert m.experiment_id == "0" and m.name == "clf" and m.model_type == "Classifier"
    assert m.status is LoggedModelStatus.PENDING
    assert m.artifact_location == f"{exp.artifact_location}/models/{m.model_id}/artifacts"
    assert m.creation_timestamp == m.last_updated_timestamp >= before
    assert m.tags == {"t": "1"} and m.params == {"alpha": "0.1"} and m.metrics is None
    assert m.model_uri == f"models:/{m.model_id}"
    assert await s.get_logged_model(m.model_id) == m


async def test_create_without_a_name_gets_a_generated_one(store: Any) -> None:
    m = await lms(store).create_logged_model("0")
    assert m.name and "-" in m.name


@pytest.mark.parametrize("name", ["", "a/b", "a:b", "a.b", "50%", 'q"', "q'"])
async def test_bad_names_are_refused_with_mlflows_message(store: Any, name: str) -> None:
    with pytest.raises(MlflowException, match=r"Invalid model name") as e:
        await lms(store).create_logged_model("0", name=name)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


async def test_create_in_missing_or_deleted_experiment(store: Any) -> None:
    s = lms(store)
    with pytest.raises(MlflowException, match="No Experiment with id=999 exists") as e:
        await s.create_logged_model("999")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    exp = await store.create_experiment("gone")
    await store.delete_experiment(exp)
    with pytest.raises(MlflowException, match="must be in the 'active' state") as e:
        await s.create_logged_model(exp)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


async def test_missing_model_is_resource_does_not_exist_everywhere(store: Any) -> None:
    s = lms(store)
    calls = [
        s.get_logged_model("m-missing"),
        s.finalize_logged_model("m-missing", LoggedModelStatus.READY),
        s.set_logged_model_tags("m-missing", [("a", "b")]),
        s.delete_logged_model_tag("m-missing", "a"),
        s.log_logged_model_params("m-missing", [("a", "b")]),
        s.delete_logged_model("m-missing"),
    ]
    for call in calls:
        with pytest.raises(MlflowException, match=r"Logged model with ID 'm-missing' not found\.") as e:
            await call
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


async def test_finalize_tags_params_and_delete(store: Any) -> None:
    s = lms(store)
    m = await s.create_logged_model("0", name="m")
    done = await s.finalize_logged_model(m.model_id, LoggedModelStatus.READY)
    assert done.status is LoggedModelStatus.READY and done.last_updated_timestamp >= m.last_updated_timestamp
    await s.set_logged_model_tags(m.model_id, [("a", "1"), ("b", "2")])
    await s.set_logged_model_tags(m.model_id, [("a", "3")])
    await s.log_logged_model_params(m.model_id, [("p", "x")])
    got = await s.get_logged_model(m.model_id)
    assert got.tags == {"a": "3", "b": "2"} and got.params == {"p": "x"}
    await s.delete_logged_model_tag(m.model_id, "a")
    with pytest.raises(MlflowException, match=r"No tag with key 'a' found for model with ID") as e:
        await s.delete_logged_model_tag(m.model_id, "a")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        await s.log_logged_model_params(m.model_id, [("p", "y")])
    assert e.value.error_code == "BAD_REQUEST"  # MLflow's SQL store: an integrity error
    assert (await s.get_logged_model(m.model_id)).params == {"p": "x"}
    await s.delete_logged_model(m.model_id)
    with pytest.raises(MlflowException, match="not found"):
        await s.get_logged_model(m.model_id)
    assert (await s.get_logged_model(m.model_id, allow_deleted=True)).model_id == m.model_id
    assert (await s.search_logged_models(["0"]))[0] == []


async def test_metrics_link_to_the_model_and_the_run(store: Any) -> None:
    """``log_metric(..., model_id=...)``: the point is in the run's history and in the model's metrics,
    each point once (MLflow's key: model, name, timestamp, step, run)."""
    s = lms(store)
    m = await s.create_logged_model("0", name="m")
    run = await store.create_run("0", "u", 1, [], None)
    rid = run.info.run_id
    pts = [
        Metric("acc", 0.5, 10, 1, m.model_id, None, None, rid),
        Metric("acc", 0.75, 20, 2, m.model_id, "eval", "d1", rid),
        Metric("nan", math.nan, 30, 0, m.model_id, None, None, rid),
    ]
    await s.log_model_metrics(rid, pts)
    await s.log_model_metrics(rid, pts[:1])
    got = await s.get_logged_model(m.model_id)
    assert got.metrics is not None and len(got.metrics) == 3
    acc = [x for x in got.metrics if x.key == "acc"]
    assert [(x.value, x.step, x.dataset_name, x.dataset_digest, x.run_id, x.model_id) for x in acc] == [
        (0.5, 1, None, None, rid, m.model_id),
        (0.75, 2, "eval", "d1", rid, m.model_id),
    ]
    assert math.isnan(next(x for x in got.metrics if x.key == "nan").value)
    history = await store.get_metric_history(rid, "acc")
    assert sorted(x.value for x in history) == [0.5, 0.5, 0.75]  # the run keeps every point logged
    with pytest.raises(MlflowException, match="not found") as e:
        await s.log_model_metrics(rid, [Metric("x", 1.0, 1, 0, "m-nope", None, None, rid)])
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


async def _models(store: Any) -> dict[str, str]:
    """Three models in experiment 0 with metrics, params and tags; returns name -> id."""
    s = lms(store)
    run = await store.create_run("0", "u", 1, [], None)
    rid = run.info.run_id
    ids = {}
    for i, (name, acc, lr, kind) in enumerate(
        [("a", 0.9, "0.1", "x"), ("b", 0.5, "0.2", "y"), ("c", None, "0.1", "x")]
    ):
        m = await s.create_logged_model(
            "0", name=name, params=[("lr", lr)], tags=[("kind", kind)], model_type="Agent" if i else "LLM"
        )
        ids[name] = m.model_id
        if acc is not None:
            await s.log_model_metrics(rid, [Metric("acc", acc, 100 + i, 0, m.model_id, "test", "dg", rid)])
        await _next_millisecond(m.creation_timestamp)  # the tests order by creation time: no ties
    return ids


async def _next_millisecond(ms: int) -> None:
    """Return once the clock (milliseconds, as the stores stamp models) has passed ``ms`` (a margin of a
    millisecond for the loop's clock, which is not the wall clock)."""
    delay = (ms + 2) / 1000 - time.time()
    if delay > 0:
        await anyio.sleep(delay)
    assert time.time_ns() // 1_000_000 > ms


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc > 0.6", {"a"}),
        ("metrics.acc >= 0.5", {"a", "b"}),
        ("metrics.acc != 0.9", {"b"}),
        ("params.lr = '0.1'", {"a", "c"}),
        ("params.lr != '0.1'", {"b"}),
        ("tags.kind IN ('y')", {"b"}),
        ("tags.kind NOT IN ('y')", {"a", "c"}),
        ("name LIKE 'A%'", set()),
        ("name ILIKE 'A%'", {"a"}),
        ("name = 'b'", {"b"}),
        ("attributes.model_type = 'Agent'", {"b", "c"}),
        ("model_type = 'LLM' AND params.lr = '0.1'", {"a"}),
        ("creation_time > 0", {"a", "b", "c"}),
        ("creation_timestamp > 0 AND last_updated_timestamp > 0", {"a", "b", "c"}),
        ("experiment_id = '0'", {"a", "b", "c"}),
        ("status = '1'", {"a", "b", "c"}),
        ("status = 'READY'", set()),
        ("", {"a", "b", "c"}),
    ],
)
async def test_filters(store: Any, filter_string: str, expected: set[str]) -> None:
    ids = await _models(store)
    names = {v: k for k, v in ids.items()}
    found, token = await lms(store).search_logged_models(["0"], filter_string or None)
    assert {names[m.model_id] for m in found} == expected and token is None


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("foo.x = 1", r"Invalid entity type: 'foo'"),
        ("metrics.acc LIKE '1'", r"Invalid comparison operator for metrics.acc: 'LIKE'"),
        ("params.lr > '1'", r"Invalid comparison operator for params.lr: '>'"),
        ("creation_time LIKE '1'", r"Invalid comparison operator"),
        ("nope = 'x'", r"Invalid attribute key 'nope'"),
        ("metrics.acc > 'abc'", r"Expected a number for metrics.acc"),
        ("metrics.acc > 1 OR metrics.acc < 0", r"OR"),
        ("params.lr IS NULL", r"Invalid filter string"),
        ("name IN (1, 2)", r"Expected a non-empty list of quoted strings"),
    ],
)
async def test_bad_filters_are_invalid_parameter_value(store: Any, filter_string: str, message: str) -> None:
    with pytest.raises(MlflowException, match=message) as e:
        await lms(store).search_logged_models(["0"], filter_string)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


async def test_order_by_paging_and_datasets(store: Any) -> None:
    s = lms(store)
    ids = await _models(store)
    names = {v: k for k, v in ids.items()}

    async def order(ob: list[dict[str, Any]], **kw: Any) -> list[str]:
        found, _ = await s.search_logged_models(["0"], order_by=ob, **kw)
        return [names[m.model_id] for m in found]

    assert await order([]) == ["c", "b", "a"]  # newest first
    assert await order([{"field_name": "creation_time", "ascending": True}]) == ["a", "b", "c"]
    assert await order([{"field_name": "metrics.acc", "ascending": True}]) == ["b", "a", "c"]  # NULLs last
    assert await order([{"field_name": "metrics.acc", "ascending": False}]) == ["a", "b", "c"]
    assert await order([{"field_name": "metrics.acc", "dataset_name": "other"}]) == ["c", "b", "a"]
    assert await order([{"field_name": "name", "ascending": False}]) == ["c", "b", "a"]
    assert await order([], datasets=[{"dataset_name": "test"}]) == ["b", "a"]
    assert await order([], datasets=[{"dataset_name": "test", "dataset_digest": "zz"}]) == []
    for bad in ("nope", "params.lr", "tags.kind"):
        with pytest.raises(MlflowException, match="Invalid order by field name") as e:
            await order([{"field_name": bad}])
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="`dataset_name` in the `datasets` clause must be specified"):
        await order([], datasets=[{"dataset_digest": "x"}])

    seen = []
    token = None
    for _ in range(3):
        page, token = await s.search_logged_models(["0"], max_results=1, page_token=token)
        seen += [names[m.model_id] for m in page]
        if token is None:
            break
    assert seen == ["c", "b", "a"] and token is None
    _, token = await s.search_logged_models(["0"], max_results=1)
    assert token is not None
    with pytest.raises(MlflowException, match="Filter string in the page token does not match") as e:
        await s.search_logged_models(["0"], "name = 'a'", max_results=1, page_token=token)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="Experiment IDs in the page token do not match"):
        await s.search_logged_models(["1"], max_results=1, page_token=token)
    with pytest.raises(MlflowException, match="Invalid page token") as e:
        await s.search_logged_models(["0"], page_token="not base64 json")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


async def test_search_is_per_experiment_and_hostile_text_is_data(store: Any) -> None:
    s = lms(store)
    other = await store.create_experiment("other")
    m = await s.create_logged_model(other, name="x", tags=[("k'); DROP TABLE logged_models; --", "v")])
    assert (await s.search_logged_models(["0"]))[0] == []
    assert [x.model_id for x in (await s.search_logged_models([other, "0", "nope"]))[0]] == [m.model_id]
    found, _ = await s.search_logged_models([other], "tags.`k'); DROP TABLE logged_models; --` = 'v'")
    assert [x.model_id for x in found] == [m.model_id]
