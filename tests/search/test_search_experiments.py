"""search_experiments: MLflow's filters and orders, NULL times, view types, and keyset paging."""

from __future__ import annotations

import pytest
from search_helpers import raw_sql

from asynctrack.entities import Experiment, ViewType
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


async def _setup(store: SqliteStore) -> dict[str, str]:
    """Five experiments (plus Default, id 0) with chosen times: b has no creation time."""
    ids = {}
    times = {"a": 300, "b": None, "c": 100, "d": 300, "e": 200}
    for name, created in times.items():
        tags = (
            [("k", name.upper()), ("group", "vowel" if name in "ae" else "consonant")] if name != "c" else []
        )
        ids[name] = await store.create_experiment(name, tags=tags)
        raw_sql(
            store,
            "UPDATE experiments SET creation_time = ?, last_update_time = ? WHERE experiment_id = ?",
            created,
            1000 - (created or 0),
            int(ids[name]),
        )
    raw_sql(store, "UPDATE experiments SET creation_time = 50, last_update_time = 50 WHERE experiment_id = 0")
    return ids


async def _all(
    store: SqliteStore,
    filter_string: str = "",
    order_by: list[str] | None = None,
    view: int = ViewType.ACTIVE_ONLY,
    page_size: int = 1000,
) -> list[Experiment]:
    out: list[Experiment] = []
    token: str | None = None
    while True:
        page, token = await store.search_experiments(view, page_size, filter_string, order_by or [], token)
        out.extend(page)
        if token is None:
            return out
        assert page


def _names(experiments: list[Experiment]) -> list[str]:
    return [e.name for e in experiments]


ORDER_CASES = [
    # default: creation_time DESC (NULL last), experiment_id ASC
    ([], ["a", "d", "e", "c", "Default", "b"]),
    (
        ["creation_time"],
        ["b", "Default", "c", "e", "d", "a"],
    ),  # NULL first ascending; ties: experiment_id DESC
    (["creation_time DESC"], ["d", "a", "e", "c", "Default", "b"]),
    (["creation_time DESC", "experiment_id"], ["a", "d", "e", "c", "Default", "b"]),
    (["name"], ["Default", "a", "b", "c", "d", "e"]),
    (["attribute.name DESC"], ["e", "d", "c", "b", "a", "Default"]),
    (["experiment_id DESC"], ["e", "d", "c", "b", "a", "Default"]),
    (["last_update_time"], ["Default", "d", "a", "e", "c", "b"]),
]


@pytest.mark.parametrize(
    ("order_by", "expected"), ORDER_CASES, ids=[" ".join(c[0]) or "default" for c in ORDER_CASES]
)
async def test_orders_and_paging(store: SqliteStore, order_by: list[str], expected: list[str]) -> None:
    await _setup(store)
    for page_size in (1, 2, 4, 6, 100):
        assert _names(await _all(store, order_by=order_by, page_size=page_size)) == expected, page_size


FILTER_CASES = [
    ("name = 'a'", ["a"]),
    ("name != 'a'", ["d", "e", "c", "Default", "b"]),
    ("name LIKE 'D%'", ["Default"]),
    ("name ILIKE 'd%'", ["d", "Default"]),
    ("creation_time >= 200", ["a", "d", "e"]),
    ("creation_time < 200", ["c", "Default"]),  # NULL matches no comparison
    ("creation_time != 300", ["e", "c", "Default"]),
    ("last_update_time = 700", ["a", "d"]),
    ("experiment_id = '0'", ["Default"]),
    ("tags.k = 'A'", ["a"]),
    ("tags.k != 'A'", ["d", "e", "b"]),  # no tag: no match
    ("tags.k IS NULL", ["c", "Default"]),
    ("tags.k IS NOT NULL", ["a", "d", "e", "b"]),
    ("tags.group = 'vowel' AND creation_time > 250", ["a"]),
    ("tags.group LIKE 'con%' AND name != 'b'", ["d"]),
    ("tag.`group` ILIKE '%OWEL'", ["a", "e"]),
]


@pytest.mark.parametrize(("filter_string", "expected"), FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
async def test_filters(store: SqliteStore, filter_string: str, expected: list[str]) -> None:
    await _setup(store)
    assert _names(await _all(store, filter_string, page_size=2)) == expected


async def test_experiment_id_lists_and_tags_in_results(store: SqliteStore) -> None:
    ids = await _setup(store)
    found = await _all(store, f"experiment_id IN ('{ids['a']}', '{ids['c']}', '999')")
    assert _names(found) == ["a", "c"]
    assert found[0].tags == {"k": "A", "group": "vowel"} and found[1].tags == {}
    assert found[0] == await store.get_experiment(ids["a"])
    assert _names(await _all(store, f"experiment_id NOT IN ('{ids['a']}', '0')")) == ["d", "e", "c", "b"]
    assert _names(await _all(store, f"experiment_id != '{ids['a']}' AND tags.group = 'vowel'")) == ["e"]


async def test_view_types(store: SqliteStore) -> None:
    ids = await _setup(store)
    raw_sql(
        store,
        "UPDATE experiments SET lifecycle_stage = 'deleted' WHERE experiment_id IN (?, ?)",
        int(ids["a"]),
        int(ids["e"]),
    )
    assert _names(await _all(store)) == ["d", "c", "Default", "b"]
    assert _names(await _all(store, view=ViewType.DELETED_ONLY)) == ["a", "e"]
    assert _names(await _all(store, view=ViewType.ALL)) == ["a", "d", "e", "c", "Default", "b"]
    with pytest.raises(MlflowException) as ei:
        await store.search_experiments(0, 10, "", [], None)
    assert ei.value.error_code == INVALID_PARAMETER_VALUE


async def test_paging_while_experiments_are_created(store: SqliteStore) -> None:
    await _setup(store)
    before = {e.name for e in await _all(store)}
    seen: list[str] = []
    token: str | None = None
    n = 0
    while True:
        page, token = await store.search_experiments(ViewType.ACTIVE_ONLY, 2, "", ["name"], token)
        seen.extend(e.name for e in page)
        if token is None:
            break
        for name in (f"0-new-{n}", f"zz-new-{n}", f"b-new-{n}"):  # before, after and at the cursor
            await store.create_experiment(name)
        n += 1
    old = [s for s in seen if s in before]
    assert sorted(old) == sorted(before) and len(old) == len(set(old))
    assert seen == sorted(seen)


async def test_tokens_belong_to_their_search(store: SqliteStore) -> None:
    await _setup(store)
    _, token = await store.search_experiments(ViewType.ALL, 2, "", ["name"], None)
    assert token is not None
    with pytest.raises(MlflowException, match="different search") as ei:
        await store.search_experiments(ViewType.ALL, 2, "", ["name DESC"], token)
    assert ei.value.error_code == INVALID_PARAMETER_VALUE
    with pytest.raises(MlflowException, match="different search"):
        await store.search_runs(["0"], "", ViewType.ALL, 2, [], token)
    with pytest.raises(MlflowException, match="Invalid page token"):
        await store.search_experiments(ViewType.ALL, 2, "", ["name"], "garbage!")
