"""Keyset pagination, page tokens, max_results, view types and experiment ids of search_runs."""

from __future__ import annotations

import base64
import json
import math

import pytest
from search_helpers import delete_runs, make_run, search_all

from asynctrack.entities import ViewType
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store.search import SEARCH_MAX_RESULTS_THRESHOLD
from asynctrack.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

ORDERS = [
    [],
    ["metrics.x DESC"],
    ["metrics.x"],
    ["params.g", "metrics.x DESC"],
    ["tags.t DESC", "start_time"],
    ["attributes.end_time"],
    ["run_name DESC", "metrics.x"],
]


async def _population(store: SqliteStore, exp: str, n: int, start: int = 0) -> list[str]:
    """Runs with many ties (start times, names, values), NaN and missing metrics, NULL end times."""
    values = [1.0, math.nan, 2.0, -1.0, math.inf]
    ids = []
    for i in range(start, start + n):
        metrics = {} if i % 7 == 3 else {"x": values[i % len(values)]}
        ids.append(
            await make_run(
                store,
                exp,
                name=f"r{i % 4}",
                start_time=100 + (i % 5),
                metrics=metrics,
                params={"g": "same"},
                tags={} if i % 3 == 0 else {"t": f"v{i % 2}"},
                end_time=None if i % 2 else 1000 + i % 3,
            )
        )
    return ids


@pytest.mark.parametrize("order_by", ORDERS, ids=[" ".join(o) or "default" for o in ORDERS])
async def test_pages_concatenate_to_the_whole_result(store: SqliteStore, order_by: list[str]) -> None:
    exp = await store.create_experiment("e")
    ids = await _population(store, exp, 23)
    whole = [r.info.run_id for r in await search_all(store, [exp], order_by=order_by)]
    assert sorted(whole) == sorted(ids)
    for page_size in (1, 2, 5, 22, 23):
        paged = [
            r.info.run_id for r in await search_all(store, [exp], order_by=order_by, page_size=page_size)
        ]
        assert paged == whole, page_size
    # exactly max_results runs: no token
    runs, token = await store.search_runs([exp], "", ViewType.ACTIVE_ONLY, 23, order_by, None)
    assert len(runs) == 23 and token is None


@pytest.mark.parametrize("order_by", ORDERS, ids=[" ".join(o) or "default" for o in ORDERS])
async def test_runs_created_between_pages_do_not_disturb_paging(
    store: SqliteStore, order_by: list[str]
) -> None:
    """Every run that existed when paging began is returned exactly once, whatever is inserted (before,
    after or tied with the cursor) or deleted between pages. Offset tokens would repeat or skip runs."""
    exp = await store.create_experiment("e")
    before = await _population(store, exp, 20)
    seen: list[str] = []
    token: str | None = None
    created = 0
    deleted: set[str] = set()
    while True:
        runs, token = await store.search_runs([exp], "", ViewType.ACTIVE_ONLY, 3, order_by, token)
        seen.extend(r.info.run_id for r in runs)
        if token is None:
            break
        created += 4
        await _population(store, exp, 4, start=1000 + created)  # same start times, names, values: ties
        unseen = [r for r in before if r not in seen and r not in deleted]
        if len(unseen) > 6:
            delete_runs(store, unseen[:1])
            deleted.add(unseen[0])
    old = [r for r in seen if r in before]
    assert len(old) == len(set(old)), "a pre-existing run was returned twice"
    assert set(old) == set(before) - deleted, "a pre-existing run was skipped"
    assert len(seen) == len(set(seen))


async def test_non_leading_metric_sorts_nan_then_missing_last(store: SqliteStore) -> None:
    """Under a tie on the first key, a metric key still puts NaN after numbers and missing last."""
    exp = await store.create_experiment("e")
    spec = [1.0, math.nan, None, -1.0, math.inf, math.nan, None]
    ids = [
        await make_run(
            store,
            exp,
            name="n",
            start_time=10 + i,
            params={"g": "same"},
            metrics={} if v is None else {"x": v},
        )
        for i, v in enumerate(spec)
    ]
    for first in (["params.g"], ["status"], ["tags.`mlflow.runName`", "user_id"]):
        for page_size in (1, 3, 100):
            asc = await search_all(store, [exp], order_by=[*first, "metrics.x"], page_size=page_size)
            assert [r.info.run_id for r in asc] == [ids[i] for i in (3, 0, 4, 5, 1, 6, 2)]
            desc = await search_all(store, [exp], order_by=[*first, "metrics.x DESC"], page_size=page_size)
            assert [r.info.run_id for r in desc] == [ids[i] for i in (4, 0, 3, 5, 1, 6, 2)]


async def test_missing_param_and_tag_sort_last_in_both_directions(store: SqliteStore) -> None:
    exp = await store.create_experiment("e")
    ids = [
        await make_run(store, exp, name="n", start_time=10 + i, params=p, tags=p)
        for i, p in enumerate([{"k": "b"}, {}, {"k": "a"}, {"k": "B"}])
    ]
    for first in ([], ["status"]):
        for entity in ("params", "tags"):
            asc = await search_all(store, [exp], order_by=[*first, f"{entity}.k"], page_size=1)
            assert [r.info.run_id for r in asc] == [ids[3], ids[2], ids[0], ids[1]]
            desc = await search_all(store, [exp], order_by=[*first, f"{entity}.k DESC"], page_size=2)
            assert [r.info.run_id for r in desc] == [ids[0], ids[2], ids[3], ids[1]]


async def test_null_attributes_sort_last_in_both_directions(store: SqliteStore) -> None:
    """MLflow's SQL store sorts a NULL attribute (end_time of an unfinished run) after every value, both
    ascending and descending (it orders by ``value IS NULL`` first)."""
    exp = await store.create_experiment("e")
    ends = [30, None, 10, None, 20]
    ids = [await make_run(store, exp, name="n", start_time=i, end_time=e) for i, e in enumerate(ends)]
    for page_size in (1, 2, 100):
        asc = await search_all(store, [exp], order_by=["attributes.end_time"], page_size=page_size)
        assert [r.info.run_id for r in asc] == [ids[i] for i in (2, 4, 0, 3, 1)]
        desc = await search_all(store, [exp], order_by=["end_time DESC"], page_size=page_size)
        assert [r.info.run_id for r in desc] == [ids[i] for i in (0, 4, 2, 3, 1)]


async def test_is_null_and_is_not_null(store: SqliteStore) -> None:
    exp = await store.create_experiment("e")
    with_p = await make_run(store, exp, name="a", start_time=2, params={"p": "1"}, tags={"t": ""})
    without = await make_run(store, exp, name="b", start_time=1)
    for entity in ("params.p", "param.`p`", "tags.t", 'tag."t"'):
        assert [r.info.run_id for r in await search_all(store, [exp], f"{entity} IS NULL")] == [without]
        assert [r.info.run_id for r in await search_all(store, [exp], f"{entity} is not null")] == [with_p]
    assert len(await search_all(store, [exp], "params.zz IS NULL AND tags.zz IS NULL")) == 2
    assert await search_all(store, [exp], "params.zz IS NOT NULL") == []


async def test_run_name_filters_use_the_run_name_tag(store: SqliteStore) -> None:
    """As in MLflow, ``attributes.run_name`` clauses test the ``mlflow.runName`` tag; ordering by run_name
    uses the run's name column, which keeps the name if the tag is deleted."""
    exp = await store.create_experiment("e")
    a = await make_run(store, exp, name="alpha", start_time=1)
    b = await make_run(store, exp, name="beta", start_time=2)
    assert [r.info.run_id for r in await search_all(store, [exp], "run_name = 'alpha'")] == [a]
    await store.delete_tag(a, "mlflow.runName")
    assert await search_all(store, [exp], "run_name = 'alpha'") == []
    assert [r.info.run_id for r in await search_all(store, [exp], "attributes.run_name LIKE '%'")] == [b]
    ordered = await search_all(store, [exp], order_by=["run_name DESC"])
    assert [(r.info.run_id, r.info.run_name) for r in ordered] == [(b, "beta"), (a, "alpha")]


async def test_search_results_equal_get_run(store: SqliteStore) -> None:
    exp = await store.create_experiment("e")
    ids = await _population(store, exp, 6)
    for run in await search_all(store, [exp], page_size=4):
        expected = (await store.get_run(run.info.run_id)).to_dictionary()
        got = run.to_dictionary()
        for d in (expected, got):
            d["data"]["metrics"] = {k: repr(v) for k, v in d["data"]["metrics"].items()}
        assert got == expected
    assert len(ids) == 6


async def test_view_types(store: SqliteStore) -> None:
    exp = await store.create_experiment("e")
    ids = [await make_run(store, exp, name=f"r{i}", start_time=i) for i in range(4)]
    delete_runs(store, [ids[1], ids[2]])
    active = await search_all(store, [exp], view=ViewType.ACTIVE_ONLY)
    deleted = await search_all(store, [exp], view=ViewType.DELETED_ONLY)
    everything = await search_all(store, [exp], view=ViewType.ALL)
    assert [r.info.run_id for r in active] == [ids[3], ids[0]]
    assert [r.info.run_id for r in deleted] == [ids[2], ids[1]]
    assert [r.info.lifecycle_stage for r in deleted] == ["deleted", "deleted"]
    assert [r.info.run_id for r in everything] == ids[::-1]
    with pytest.raises(MlflowException) as ei:
        await store.search_runs([exp], "", 7, 10, [], None)
    assert ei.value.error_code == INVALID_PARAMETER_VALUE


async def test_experiment_ids(store: SqliteStore) -> None:
    a = await store.create_experiment("a")
    b = await store.create_experiment("b")
    ra = await make_run(store, a, name="ra", start_time=1)
    rb = await make_run(store, b, name="rb", start_time=2)
    assert [r.info.run_id for r in await search_all(store, [a, b])] == [rb, ra]
    assert [r.info.run_id for r in await search_all(store, [b])] == [rb]
    assert [r.info.experiment_id for r in await search_all(store, [a])] == [a]
    assert await store.search_runs([], "", ViewType.ALL, 10, [], None) == ([], None)
    assert await search_all(store, ["12345"]) == []
    for bad in ("x", "1.5", "99999999999999999999999"):
        with pytest.raises(MlflowException, match="Experiment ID must be a valid integer") as ei:
            await store.search_runs([bad], "", ViewType.ALL, 10, [], None)
        assert ei.value.error_code == INVALID_PARAMETER_VALUE


@pytest.mark.parametrize(
    ("max_results", "message"),
    [
        (0, "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer"),
        (-5, "Invalid value -5 for parameter 'max_results' supplied. It must be a positive integer"),
        (50001, "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000"),
    ],
)
async def test_max_results_bounds(store: SqliteStore, max_results: int, message: str) -> None:
    for call in (
        store.search_runs(["0"], "", ViewType.ALL, max_results, [], None),
        store.search_experiments(ViewType.ALL, max_results, "", [], None),
    ):
        with pytest.raises(MlflowException) as ei:
            await call
        assert ei.value.error_code == INVALID_PARAMETER_VALUE
        assert ei.value.message == message


async def test_max_results_at_the_threshold(store: SqliteStore) -> None:
    await make_run(store, "0", name="r", start_time=1)
    runs, token = await store.search_runs(["0"], "", ViewType.ALL, SEARCH_MAX_RESULTS_THRESHOLD, [], None)
    assert len(runs) == 1 and token is None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


async def test_malformed_and_foreign_page_tokens(store: SqliteStore) -> None:
    exp = await store.create_experiment("e")
    await _population(store, exp, 5)
    _, token = await store.search_runs([exp], "", ViewType.ALL, 2, ["metrics.x"], None)
    assert token is not None
    body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))

    def forged(**changes: object) -> str:
        return _b64(json.dumps({**body, **changes}).encode())

    bad_tokens = {
        "not base64": "!!!",
        "not JSON": _b64(b"\xff\x00garbage"),
        "MLflow offset token": base64.b64encode(json.dumps({"offset": 2}).encode()).decode(),
        "JSON list": _b64(b"[1, 2]"),
        "wrong version": forged(v=99),
        "wrong arity": forged(k=body["k"][:-1]),
        "bool value": forged(k=[True, *body["k"][1:]]),
        "huge int": forged(k=[2**70, *body["k"][1:]]),
        "bad rank": forged(k=[7, *body["k"][1:]]),
        "lone surrogate": _b64(json.dumps({**body, "k": ["\ud800", *body["k"][1:]]}).encode()),
        "NaN value": _b64(json.dumps({**body, "k": [*body["k"][:-1], math.nan]}).encode()),
    }
    for name, bad in bad_tokens.items():
        with pytest.raises(MlflowException) as ei:
            await store.search_runs([exp], "", ViewType.ALL, 2, ["metrics.x"], bad)
        assert ei.value.error_code == INVALID_PARAMETER_VALUE, name
        assert "page token" in ei.value.message, name

    # A token only continues the search that issued it.
    for other in (
        dict(filter_string="metrics.x > 0", order_by=["metrics.x"]),
        dict(filter_string="", order_by=["metrics.x DESC"]),
        dict(filter_string="", order_by=[]),
    ):
        with pytest.raises(MlflowException, match="different search") as ei:
            await store.search_runs([exp], other["filter_string"], ViewType.ALL, 2, other["order_by"], token)
        assert ei.value.error_code == INVALID_PARAMETER_VALUE
    with pytest.raises(MlflowException, match="different search"):
        await store.search_runs([exp], "", ViewType.ACTIVE_ONLY, 2, ["metrics.x"], token)
    # Equivalent spellings of the same search share tokens; so do different page sizes.
    runs, _ = await store.search_runs([exp], "", ViewType.ALL, 3, ["metric.`x` asc"], token)
    assert len(runs) == 3
