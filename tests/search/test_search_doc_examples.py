"""Every search example in MLflow's documentation, against small fixtures with known data.

Sources: the "Search Runs" guide (its 10-run script and every query in it), the older "Search" syntax pages
(accuracy/error/f1 examples, special-character names, the run-name aliases), the 2.17 module reference
(search_runs and search_experiments examples) and the "Search Experiments" guide. Each case asserts the
exact runs returned, in order. Dataset queries match nothing: this store records no dataset inputs yet.
"""

from __future__ import annotations

import math

import anyio
import pytest
from search_helpers import delete_runs, make_run, search_all

from asynctrack.entities import ViewType
from asynctrack.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

T0 = 1664067852747  # the guide's example timestamp
T1 = 1670628787527  # the older pages' example timestamp


async def guide(store: SqliteStore) -> list[str]:
    """The 10 runs of the Search Runs guide's script (None values are logged as the string "None", as
    MLflow's log_params/set_tags do), plus users, one named run, times and statuses for its attribute
    examples. Run i starts at T0 + (i - 5) s, so the default order is run 9 first."""
    experiment_id = await store.create_experiment("search-run-guide")
    model = ["GPT-2", "GPT-3", "GPT-3.5", "GPT-4"] + ["None"] * 6
    task = ["classification", "regression", "causal lm"] + ["None"] * 7
    ids = []
    for i in range(10):
        loss = round(1.0 - i / 10, 1)
        accuracy = round(i / 10, 1)
        start = T0 + (i - 5) * 1000
        ids.append(
            await make_run(
                store,
                experiment_id,
                name="my-run" if i == 7 else f"run-{i}",
                start_time=start,
                user="user1" if i < 3 else "user2",
                metrics={
                    "loss": loss,
                    "accuracy": accuracy,
                    "log-scale-loss": math.log(loss),
                    "f1 score": accuracy,
                },
                params={
                    "batch_size": "2" if i < 5 else "4",
                    "learning rate": ["0.001", "0.01"][i % 2],
                    "model": model[i],
                },
                tags={"task": task[i], "environment": "notebook" if i < 5 else "None"},
                status=None if i == 9 else "FINISHED",
                end_time=None if i == 9 else start + 500,
            )
        )
    return ids


ALL = list(range(9, -1, -1))

GUIDE_CASES = [
    # The guide's first example, and "Searching By Metrics"
    ("metrics.loss > 0.8", [1, 0]),
    ("metrics.accuracy > 0.72", [9, 8]),
    ('metrics."accuracy" > 0.72', [9, 8]),
    ("metrics.loss <= 0.15", [9]),
    ("metrics.`log-scale-loss` <= 0", ALL),
    ("metrics.`f1 score` >= 0.5", [9, 8, 7, 6, 5]),
    ("metrics.accuracy > 0.72 AND metrics.loss <= 0.15", [9]),
    ("metrics.accuracy != 0.15", ALL),
    # "Searching By Params" and the comparator list
    ('params.batch_size = "2"', [4, 3, 2, 1, 0]),
    ('params.model LIKE "GPT%"', [3, 2, 1, 0]),
    ('params.model ILIKE "gPt%"', [3, 2, 1, 0]),
    ('params.model LIKE "GPT%" AND params.batch_size = "2"', [3, 2, 1, 0]),
    ('params.model = "GPT-4o"', []),
    ('params.model ILIKE "gpt%"', [3, 2, 1, 0]),
    # "Searching By Tags": LIKE/= are case-sensitive, ILIKE is not
    ('tags."environment" = "notebook"', [4, 3, 2, 1, 0]),
    ('tags.environment = "notebook"', [4, 3, 2, 1, 0]),
    ('tags.task = "Classification"', []),
    ('tags.task ILIKE "classif%"', [0]),
    # "Searching By Dataset Information" (no dataset inputs in this store)
    ('datasets.name LIKE "custom"', []),
    ("datasets.digest IN ('s8ds293b', 'jks834s2')", []),
    ('datasets.context = "train"', []),
    ("datasets.name IN ('custom', 'also custom', 'another custom name')", []),
    # "Searching By Run's Metadata"
    ('attributes.status = "ACTIVE"', []),
    ('attributes.user_id LIKE "user1"', [2, 1, 0]),
    ('attributes.run_name = "my-run"', [7]),
    ('attributes.run_id = "a1b2c3d4"', []),
    ("attributes.run_id IN ('a1b2c3d4', 'e5f6g7h8')", []),
    (f"attributes.start_time >= {T0}", [9, 8, 7, 6, 5]),
    (f"attributes.end_time < {T0}", [4, 3, 2, 1, 0]),
    (f"attributes.created > {T0}", [9, 8, 7, 6]),
    # "Chained Queries" (metrics.batch_size does not exist: batch_size is a param)
    ("metrics.accuracy > 0.72 AND metrics.batch_size != 0", []),
    (
        "metrics.accuracy > 0.72 AND metrics.batch_size != 0 "
        "AND attributes.run_id IN ('a1b2c3d4', 'e5f6g7h8')",
        [],
    ),
    ("metrics.loss <= 0.15 AND metrics.loss >= 0.1", [9]),
    # "Non-None Queries"
    ('params.batch_size != "None"', ALL),
    ('params.model != "None"', [3, 2, 1, 0]),
]


@pytest.mark.parametrize(("filter_string", "expected"), GUIDE_CASES, ids=[c[0] for c in GUIDE_CASES])
async def test_search_runs_guide(store: SqliteStore, filter_string: str, expected: list[int]) -> None:
    ids = await guide(store)
    runs = await search_all(store, [(await store.get_run(ids[0])).info.experiment_id], filter_string)
    assert [r.info.run_id for r in runs] == [ids[i] for i in expected]


async def test_guide_examples_with_real_run_ids(store: SqliteStore) -> None:
    """The guide's run_id examples, and its multi-line "Complex Filter", with ids that exist."""
    ids = await guide(store)
    exp = [(await store.get_run(ids[0])).info.experiment_id]

    async def names(f: str) -> list[str]:
        return [r.info.run_id for r in await search_all(store, exp, f)]

    assert await names(f'attributes.run_id = "{ids[3]}"') == [ids[3]]
    assert await names(f"attributes.run_id IN ('{ids[3]}', '{ids[5]}')") == [ids[5], ids[3]]
    run_id_condition = "'" + "','".join([ids[1], ids[2]]) + "'"
    complex_filter = f"""
attributes.run_id IN ({run_id_condition})
  AND metrics.loss > 0.3
  AND metrics."f1 score" < 0.5
  AND params.model LIKE "GPT%"
"""
    assert await names(complex_filter) == [ids[2], ids[1]]


async def test_guide_ordering_examples(store: SqliteStore) -> None:
    """ "Ordering", "max_results" and "Searching All Experiments" from the guide; the concepts page's
    ``order_by=["metrics.val_loss ASC"], max_results=1`` (no run has val_loss: the default order decides)."""
    ids = await guide(store)
    exp = (await store.get_run(ids[0])).info.experiment_id
    runs = await search_all(store, [exp], order_by=["metrics.accuracy DESC"])
    assert [r.info.run_id for r in runs] == [ids[i] for i in ALL]
    top, token = await store.search_runs([exp], "", ViewType.ACTIVE_ONLY, 1, ["metrics.accuracy DESC"], None)
    assert [r.info.run_id for r in top] == [ids[9]] and token is not None
    best, _ = await store.search_runs([exp], "", ViewType.ACTIVE_ONLY, 1, ["metrics.val_loss ASC"], None)
    assert [r.info.run_id for r in best] == [ids[9]]
    everywhere = await search_all(store, ["0", exp], "params.model = 'GPT-4'", view=ViewType.ALL)
    assert [r.info.run_id for r in everywhere] == [ids[3]]
    delete_runs(store, [ids[3]])
    assert await search_all(store, [exp], "params.model = 'GPT-4'") == []
    deleted = await search_all(store, [exp], "params.model = 'GPT-4'", view=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [ids[3]]


async def legacy(store: SqliteStore) -> list[str]:
    """Runs for the older "Search" pages' examples (run i starts at T1 + (i - 1) s)."""
    experiment_id = await store.create_experiment("legacy-examples")
    specs = [
        dict(
            name="alpha-1",
            status="FINISHED",
            metrics={
                "accuracy": 0.95,
                "error": 0.04,
                "f1 score": 0.6,
                "error rate": 0.1,
                "2019-04-02 error rate": 0.2,
            },
            params={"model": "LogisticRegression", "lambda": "0.001", "alpha": "0.3", "model-type": "linear"},
            tags={"mlflow.user": "", "model": "sklearn-linear", "type": "LogisticRegression"},
        ),
        dict(
            name="Alpha-2",
            status="FAILED",
            metrics={"accuracy": 0.90, "error": 0.10, "f1 score": 0.4},
            params={"model": "LogisticRegression", "lambda": "0.01", "alpha": "0.3"},
            tags={"mlflow.user": "bob", "model": "xgboost", "type": "logistic"},
        ),
        dict(
            name="beta",
            status="FINISHED",
            metrics={"accuracy": 0.93, "error": 0.03, "f1 score": 0.55},
            params={"model": "RandomForest", "lambda": "0.001", "alpha": "0.3"},
            tags={"model": "sklearn-forest", "type": "forest"},
        ),
        dict(
            name="gamma",
            status=None,
            metrics={"accuracy": [0.5, float("nan")]},  # latest value NaN
            params={"model": "LogisticRegression", "lambda": "0.001", "alpha": "0.5"},
            tags={"mlflow.user": ""},
        ),
    ]
    ids = []
    for i, spec in enumerate(specs):
        ids.append(
            await make_run(
                store,
                experiment_id,
                name=str(spec["name"]),
                start_time=T1 + (i - 1) * 1000,
                metrics=spec["metrics"],  # type: ignore[arg-type]
                params=spec["params"],  # type: ignore[arg-type]
                tags=spec["tags"],  # type: ignore[arg-type]
                status=spec["status"],  # type: ignore[arg-type]
            )
        )
    return ids


LEGACY_CASES = [
    ("metrics.accuracy > 0.92", [2, 0]),
    ('attributes.status = "FINISHED"', [2, 0]),
    ('attributes.status = "FAILED"', [1]),
    (f"attributes.created > {T1}", [3, 2]),
    (f"attributes.Created > {T1}", [3, 2]),
    (f"attributes.start_time > {T1}", [3, 2]),
    ("metrics.`f1 score` > 0.5", [2, 0]),
    ("tags.`mlflow.user` = ''", [3, 0]),
    ("tags.`model` LIKE 'sklearn%'", [2, 0]),
    ("tags.`type` ILIKE '%Logistic%'", [1, 0]),
    ('attributes.`run_name` ILIKE "%alpha%"', [1, 0]),
    ('attributes.`run name` ILIKE "%alpha%"', [1, 0]),
    ('attributes.`Run name` ILIKE "%alpha%"', [1, 0]),
    ('attributes.`Run Name` ILIKE "%alpha%"', [1, 0]),
    ('params.alpha = "0.3" and params.lambda = "0.001" and metrics.error <= 0.05', [2, 0]),
    ('params.model = "LogisticRegression" and params.lambda = "0.001" and metrics.error <= 0.05', [0]),
    ('params."model-type" = "linear"', [0]),
    ("metrics.`error rate` < 1", [0]),
    ('metrics."2019-04-02 error rate" > 0', [0]),
    # NaN latest value: only != matches it
    ("metrics.accuracy != 0.9", [3, 2, 0]),
    ("metrics.accuracy = 0", []),
    ("metrics.accuracy < 1", [2, 1, 0]),
]


@pytest.mark.parametrize(("filter_string", "expected"), LEGACY_CASES, ids=[c[0] for c in LEGACY_CASES])
async def test_search_runs_legacy_pages(store: SqliteStore, filter_string: str, expected: list[int]) -> None:
    ids = await legacy(store)
    exp = [(await store.get_run(ids[0])).info.experiment_id]
    assert [r.info.run_id for r in await search_all(store, exp, filter_string)] == [ids[i] for i in expected]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.accuracy"], [1, 2, 0, 3]),  # NaN after every number
        (["metrics.accuracy DESC"], [0, 2, 1, 3]),  # ... in both directions
        (["metrics.error"], [2, 0, 1, 3]),  # no such metric: last
        (["metrics.error DESC"], [1, 0, 2, 3]),
        (["tags.`mlflow.user`"], [3, 0, 1, 2]),  # '' < 'bob' < missing; ties by start_time DESC
        (["tags.`mlflow.user` DESC"], [1, 3, 0, 2]),
        (["attributes.end_time"], [3, 2, 1, 0]),  # every end_time is NULL: default order
        (["params.alpha DESC", "run_name"], [3, 1, 0, 2]),
        (["status", "start_time"], [1, 0, 2, 3]),
    ],
)
async def test_order_by_missing_and_nan(store: SqliteStore, order_by: list[str], expected: list[int]) -> None:
    ids = await legacy(store)
    exp = [(await store.get_run(ids[0])).info.experiment_id]
    for page_size in (1, 3, 100):
        runs = await search_all(store, exp, order_by=order_by, page_size=page_size)
        assert [r.info.run_id for r in runs] == [ids[i] for i in expected], page_size


async def test_module_reference_examples(store: SqliteStore) -> None:
    """The mlflow module reference: search_runs with ``metrics.m DESC`` and ``tags.s.release ILIKE``, and
    the start_run example's ``tags.mlflow.parentRunId = '<id>'`` query for child runs."""
    exp = await store.create_experiment("Social NLP Experiments")
    a = await make_run(
        store, exp, name="a", start_time=1, metrics={"m": 1.55}, tags={"s.release": "1.1.0-RC"}
    )
    b = await make_run(
        store, exp, name="b", start_time=2, metrics={"m": 2.50}, tags={"s.release": "1.2.0-GA"}
    )
    assert [r.info.run_id for r in await search_all(store, [exp], order_by=["metrics.m DESC"])] == [b, a]
    assert [r.info.run_id for r in await search_all(store, [exp], "tags.s.release ILIKE '%rc%'")] == [a]
    parent = await make_run(store, exp, name="parent", start_time=3)
    children = [
        await make_run(
            store,
            exp,
            name=f"child-{i}",
            start_time=4 + i,
            params={"child": str(i)},
            tags={"mlflow.parentRunId": parent},
        )
        for i in range(2)
    ]
    found = await search_all(store, [exp], f"tags.mlflow.parentRunId = '{parent}'")
    assert [r.info.run_id for r in found] == children[::-1]
    assert [r.data.params["child"] for r in found] == ["1", "0"]


async def _experiments(store: SqliteStore, specs: list[tuple[str, dict[str, str] | None]]) -> None:
    for name, tags in specs:
        await store.create_experiment(name, tags=list((tags or {}).items()))
        await anyio.sleep(0.003)  # distinct creation times, as the examples assume


async def _names(store: SqliteStore, filter_string: str = "", order_by: list[str] | None = None) -> list[str]:
    experiments, token = await store.search_experiments(
        ViewType.ACTIVE_ONLY, 1000, filter_string, order_by or [], None
    )
    assert token is None
    return [e.name for e in experiments if e.name != "Default"]


async def test_search_experiments_module_reference(store: SqliteStore) -> None:
    """The ``mlflow.search_experiments`` example of the module reference, verbatim expectations."""
    await _experiments(store, [("a", None), ("b", None), ("ab", {"k": "v"}), ("bb", {"k": "V"})])
    assert await _names(store, "name = 'a'") == ["a"]
    assert await _names(store, "name LIKE 'a%'") == ["ab", "a"]
    assert await _names(store, "tags.k ILIKE '%v'") == ["bb", "ab"]
    assert await _names(store, "name LIKE '%b' AND tags.k = 'v'") == ["ab"]
    assert await _names(store, order_by=["name"]) == ["a", "ab", "b", "bb"]
    assert await _names(store, order_by=["experiment_id DESC"]) == ["bb", "ab", "b", "a"]


async def test_search_experiments_guide(store: SqliteStore) -> None:
    """The Search Experiments guide's examples (``attributes.`` is optional there)."""
    await _experiments(
        store, [("x", {"group": "y"}), ("x2", {"group": "X-ray"}), ("y1", {"group": "x"}), ("z", None)]
    )
    assert await _names(store, "attributes.name = 'x'") == ["x"]
    assert await _names(store, "name = 'x'") == ["x"]
    assert await _names(store, "attributes.name LIKE 'x%'") == ["x2", "x"]
    assert await _names(store, "tags.group != 'x'") == ["x2", "x"]
    assert await _names(store, "tags.group ILIKE '%x%'") == ["y1", "x2"]
    assert await _names(store, "attributes.name LIKE 'x%' AND tags.group = 'y'") == ["x"]
