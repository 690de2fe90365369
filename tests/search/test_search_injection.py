"""SQL injection through values, keys, LIKE patterns, lists, order_by keys and forged page tokens: every
one is a bound parameter, so it behaves as data (finding exactly the runs that hold that text) and the
database is byte-for-byte the same afterwards."""

from __future__ import annotations

import base64
import json

import pytest
from search_helpers import dump, make_run, search_all

from asynctrack.entities import ViewType
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

EVIL_KEY = "x'); DROP TABLE runs; --"
EVIL_VALUE = "'; DELETE FROM params; --"
EVIL_DQ_KEY = 'k" OR 1=1 --'


async def test_injection_attempts_are_plain_data(store: SqliteStore) -> None:
    exp = await store.create_experiment("e", tags=[(EVIL_KEY, EVIL_VALUE)])
    evil = await make_run(
        store,
        exp,
        name="'; DROP TABLE tags; --",
        start_time=1,
        metrics={EVIL_KEY: 1.0},
        params={EVIL_KEY: EVIL_VALUE, EVIL_DQ_KEY: "1"},
        tags={EVIL_KEY: EVIL_VALUE},
    )
    plain = await make_run(store, exp, name="plain", start_time=2, metrics={"m": 1.0}, params={"p": "v"})
    before = dump(store)

    finds_evil = [
        f'params.`{EVIL_KEY}` = "{EVIL_VALUE}"',
        f'tags.`{EVIL_KEY}` LIKE "%DELETE%"',
        f'tags.`{EVIL_KEY}` ILIKE "%delete from%"',
        f"metrics.`{EVIL_KEY}` = 1",
        f"params.`{EVIL_DQ_KEY}` = '1'",
        f"params.`{EVIL_KEY}` IS NOT NULL",
        'attributes.run_name = "\'; DROP TABLE tags; --"',
        f"attributes.run_id IN ('{evil}', \"') OR 1=1 --\")",
    ]
    for f in finds_evil:
        assert [r.info.run_id for r in await search_all(store, [exp], f)] == [evil], f
    finds_nothing = [
        "params.p = \"v' OR '1'='1\"",
        'params.p = \'" OR "1"="1\'',
        'params.p LIKE "%\' OR 1=1 --"',
        'attributes.run_id = "x\' OR 1=1 --"',
        'tags.`a` = "b`; DROP TABLE runs; --"',
        "attributes.user_id ILIKE \"%'; UPDATE runs SET status='FAILED'; --\"",
    ]
    for f in finds_nothing:
        assert await search_all(store, [exp], f) == [], f
    # Unquoted SQL is not a filter: a parse error, never a database error.
    for f in [
        "params.p = 'v' OR 1=1",
        "params.p = 'v'; DROP TABLE runs",
        "params.p = v UNION SELECT * FROM runs",
    ]:
        with pytest.raises(MlflowException) as ei:
            await search_all(store, [exp], f)
        assert ei.value.error_code == INVALID_PARAMETER_VALUE
    # Keys in order_by are bound too.
    ordered = await search_all(store, [exp], order_by=[f"params.`{EVIL_KEY}` DESC", f"metrics.`{EVIL_KEY}`"])
    assert [r.info.run_id for r in ordered] == [evil, plain]
    # Experiment search.
    for f in [
        f'tags.`{EVIL_KEY}` = "{EVIL_VALUE}"',
        'name LIKE "%\' OR 1=1 --"',
        'name = "e\'; DROP TABLE experiments; --"',
    ]:
        await store.search_experiments(ViewType.ALL, 10, f, [], None)
    found, _ = await store.search_experiments(
        ViewType.ALL, 10, f'tags.`{EVIL_KEY}` = "{EVIL_VALUE}"', [], None
    )
    assert [e.experiment_id for e in found] == [exp]

    assert dump(store) == before


async def test_forged_page_token_values_are_bound(store: SqliteStore) -> None:
    """A token is data we issued, but it comes back from the client: forged values cannot reach the SQL."""
    exp = await store.create_experiment("e")
    for i in range(3):
        await make_run(store, exp, name=f"r{i}", start_time=i, params={"p": f"v{i}"})
    _, token = await store.search_runs([exp], "", ViewType.ALL, 1, ["params.p", "run_name"], None)
    assert token is not None
    body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    before = dump(store)
    for payload in ["'; DROP TABLE runs; --", "v0' OR '1'='1", 'v0" OR 1=1 --']:
        values = [payload if isinstance(v, str) else v for v in body["k"]]
        forged = base64.urlsafe_b64encode(json.dumps({**body, "k": values}).encode()).decode()
        await store.search_runs([exp], "", ViewType.ALL, 1, ["params.p", "run_name"], forged)
    assert dump(store) == before


async def test_like_wildcards_are_only_percent_and_underscore(store: SqliteStore) -> None:
    """LIKE runs as GLOB under the hood; GLOB's own wildcards (* ? [...]) must stay literal characters."""
    exp = await store.create_experiment("e")
    star = await make_run(store, exp, name="star", start_time=3, params={"p": "a*b?[c]"})
    abc = await make_run(store, exp, name="abc", start_time=2, params={"p": "abc"})
    klass = await make_run(store, exp, name="class", start_time=1, params={"p": "a[b]"})
    cases = {
        "params.p LIKE 'a*%'": [star],
        "params.p LIKE 'a*'": [],
        "params.p LIKE 'a?%'": [],
        "params.p LIKE '%[c]'": [star],
        "params.p LIKE 'a[b]'": [klass],
        "params.p LIKE 'a_c'": [abc],
        "params.p LIKE 'a%'": [star, abc, klass],
        "params.p ILIKE 'A*B?[C]'": [star],
        "params.p LIKE 'A*B?[C]'": [],
        "params.p LIKE '%\\%'": [],
        "params.p = 'a*b?[c]'": [star],
    }
    for f, expected in cases.items():
        assert [r.info.run_id for r in await search_all(store, [exp], f)] == expected, f


async def test_overlong_like_pattern_is_a_parameter_error(store: SqliteStore) -> None:
    pattern = "%" + "a" * 60_000 + "%"
    with pytest.raises(MlflowException) as ei:
        await store.search_runs(["0"], f"params.p LIKE '{pattern}'", ViewType.ALL, 10, [], None)
    assert ei.value.error_code == INVALID_PARAMETER_VALUE
    assert "LIKE pattern too long" in ei.value.message
