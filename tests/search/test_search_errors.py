"""Malformed filters and order_by clauses: INVALID_PARAMETER_VALUE, naming the offending token, never a
database error. Messages are MLflow's where MLflow has one for the case."""

from __future__ import annotations

import pytest
from anyio.from_thread import BlockingPortal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynctrack.entities import ViewType
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store.search import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from asynctrack.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

# (filter, fragments the message must contain)
RUN_FILTER_ERRORS = [
    # syntax: the token and its 1-based position
    ("metrics.x >> 1", ["Invalid filter 'metrics.x >> 1': unexpected '>' at position 12"]),
    ("metrics.x == 1", ["unexpected '=' at position 12"]),
    ("metrics.x <> 1", ["unexpected '>' at position 12"]),
    ("metrics.x ! 1", ["unexpected '!' at position 11"]),
    ("metrics.x", ["unexpected end of input at position 10", "expected a comparator"]),
    ("metrics.x >", ["unexpected end of input at position 12", "expected a value"]),
    ("> 1", ["unexpected '>' at position 1"]),
    ("(metrics.x > 1)", ["unexpected '(' at position 1"]),
    ("metrics.x > 1; DROP TABLE runs", ["unexpected ';' at position 14"]),
    ("metrics.x > 1 metrics.y > 2", ["unexpected 'metrics' at position 15", "expected AND"]),
    ("metrics.x>1AND metrics.y<2", ["unexpected '1AND' at position 11"]),
    ("metrics.cross-entropy-loss < 0.5", ["unexpected '-' at position 14"]),
    ("params.x = 'unterminated", ["unterminated string starting at position 12"]),
    ("params.`x = 'a'", ["unterminated backticked name starting at position 8"]),
    ('params.x = "abc', ["unterminated double-quoted name or string starting at position 12"]),
    ("params. = 'x'", ["unexpected '=' at position 9", "expected a key after 'params.'"]),
    ("params.x NOT LIKE 'a'", ["unexpected 'LIKE' at position 14", "expected IN after NOT"]),
    ("params.x IS 'a'", ["unexpected \"'a'\" at position 13", "expected NULL"]),
    ("attributes.run_id IN 'a'", ["unexpected \"'a'\" at position 22", "expected '(' to start a list"]),
    ("attributes.run_id IN ('a' 'b')", ["unexpected \"'b'\" at position 27", "expected ',' or ')'"]),
    ("attributes.run_id IN ('a',", ["unexpected end of input"]),
    ("metrics.x > -inf", ["unexpected '-' at position 13"]),
    ("metrics.x = 1 AND OR", ["'OR'", "AND only"]),
    # MLflow's messages
    ("metrics.x = 1 OR metrics.y = 2", ["Invalid clause(s) in filter string: 'OR'", "position 15"]),
    ("metrics.x > 'a'", ["Expected numeric value type for metric. Found 'a'"]),
    ("metrics.x > inf", ["Expected numeric value type for metric. Found inf"]),
    ("metrics.x LIKE 1", ["Invalid comparator 'LIKE' not one of"]),
    ("metrics.x IN (1, 2)", ["Expected numeric value type for metric. Found (1, 2)"]),
    (
        "metrics.m IS NULL",
        ["IS NULL / IS NOT NULL is only supported for tags and params, not for 'metric' 'm'"],
    ),
    ("params.model = GPT", ["not quoted", "GPT"]),
    ("params.model = `GPT`", ["not quoted", "`GPT`"]),
    ("params.model = 1", ["Expected a quoted string value for parameter (e.g. 'my-value'). Got value 1"]),
    ("params.x > 'a'", ["Invalid comparator '>' not one of"]),
    ("tags.x IN ('a')", ["Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')"]),
    ("METRICS.x > 1", ["Invalid entity type 'METRICS'"]),
    ("foo.x > 1", ["Invalid entity type 'foo'"]),
    ("attributes.lifecycle_stage = 'active'", ["Invalid attribute key 'lifecycle_stage' specified"]),
    ("experiment_id = '0'", ["Invalid attribute key 'experiment_id' specified"]),
    ("datasets.foo = 'x'", ["Invalid dataset key 'foo' specified"]),
    ("attributes.status > 'x'", ["Invalid comparator '>' not one of"]),
    (
        "attributes.start_time > 'x'",
        ["Expected numeric value type for numeric attribute: start_time. Found 'x'"],
    ),
    ("attributes.start_time LIKE 5", ["Invalid comparator 'LIKE' not one of"]),
    ("attributes.run_id = 1", ["Expected a quoted string value for attributes. Got value 1"]),
    ("attributes.status IN ('a')", ["Only ['run_id'] attributes support comparison with a list"]),
    ("attributes.run_id IN ()", ["expected a non-empty list of string values, but got empty list"]),
    ("attributes.run_id IN (1, 2)", ["but got different type in list: (1, 2)"]),
    ("attributes.run_id = ('a', 'b')", ["Invalid comparator '=' for the list ('a', 'b')"]),
    ("attributes.run_id IS NULL", ["IS NULL / IS NOT NULL is only supported for tags and params"]),
    ("params.x = '\ud800'", ["not valid Unicode"]),
]


@pytest.mark.parametrize(
    ("filter_string", "fragments"), RUN_FILTER_ERRORS, ids=[c[0] for c in RUN_FILTER_ERRORS]
)
async def test_malformed_run_filter(store: SqliteStore, filter_string: str, fragments: list[str]) -> None:
    with pytest.raises(MlflowException) as ei:
        await store.search_runs(["0"], filter_string, ViewType.ALL, 10, [], None)
    assert ei.value.error_code == INVALID_PARAMETER_VALUE
    for fragment in fragments:
        assert fragment in ei.value.message
    # the parser alone says the same
    with pytest.raises(MlflowException) as direct:
        parse_run_filter(filter_string)
    assert direct.value.message == ei.value.message


RUN_ORDER_ERRORS = [
    ("", "Invalid order_by clause ''. Could not be parsed."),
    ("metrics.m DESC ASC", "Invalid order_by clause 'metrics.m DESC ASC'. Could not be parsed."),
    ("metrics.m, metrics.n", "Invalid order_by clause 'metrics.m, metrics.n'. Could not be parsed."),
    ("metrics.m > 1", "Invalid order_by clause 'metrics.m > 1'. Could not be parsed."),
    ("metrics.m UP", "Invalid ordering key in order_by clause 'metrics.m UP'."),
    ("run name", "Invalid ordering key in order_by clause 'run name'."),
    ("foo.bar", "Invalid entity type 'foo'"),
    ("attributes.lifecycle_stage", "Invalid attribute key 'lifecycle_stage' specified"),
    ("`run name`", "Invalid attribute key 'run name' specified"),
    ("datasets.name", "Invalid identifier type 'dataset'"),
    ("metrics.`m", "unterminated backticked name starting at position 9"),
    ("metrics.m;", "unexpected ';' at position 10"),
]


@pytest.mark.parametrize(
    ("clause", "fragment"), RUN_ORDER_ERRORS, ids=[c[0] or "empty" for c in RUN_ORDER_ERRORS]
)
async def test_malformed_run_order_by(store: SqliteStore, clause: str, fragment: str) -> None:
    with pytest.raises(MlflowException) as ei:
        await store.search_runs(["0"], "", ViewType.ALL, 10, [clause], None)
    assert ei.value.error_code == INVALID_PARAMETER_VALUE
    assert fragment in ei.value.message


@pytest.mark.parametrize(
    "order_by", [["metrics.m", "metric.m DESC"], ["start_time", "created DESC"], ["tags.t", "tag.`t`"]]
)
def test_duplicate_order_by_fields(order_by: list[str]) -> None:
    with pytest.raises(MlflowException) as ei:
        parse_run_order_by(order_by)
    assert ei.value.error_code == INVALID_PARAMETER_VALUE
    assert ei.value.message == f"`order_by` contains duplicate fields: {order_by}"


EXPERIMENT_FILTER_ERRORS = [
    ("name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: 'OR'"),
    ("attr.name = 'a'", "Invalid entity type 'attr'"),
    ("metrics.x > 1", "Invalid entity type 'metrics'"),
    ("lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage' specified"),
    ("creation_time > 5.5", "Invalid value for numeric attribute 'creation_time': '5.5'"),
    ("creation_time > '5'", "Expected numeric value type for numeric attribute: creation_time. Found '5'"),
    ("creation_time LIKE 5", "Invalid comparator 'LIKE' not one of"),
    ("experiment_id = 1", "Expected a quoted string value for attributes. Got value 1"),
    ("experiment_id > '1'", "Invalid comparator for experiment_id: >"),
    ("experiment_id = 'abc'", "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
    ("experiment_id IN ('1', 'x')", "Invalid experiment ID 'x'"),
    ("name IN ('a', 'b')", "Only ['experiment_id'] attributes support comparison with a list"),
    ("name > 'a'", "Invalid comparator '>' not one of"),
    ("name IS NULL", "IS NULL / IS NOT NULL is only supported for tags, not for attribute 'name'"),
    ("tags.k IN ('a')", "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')"),
    ("name = 'a' AND", None),  # accepted, as MLflow accepts a dangling AND
    ("name == 'a'", "unexpected '=' at position 7"),
]


@pytest.mark.parametrize(
    ("filter_string", "fragment"), EXPERIMENT_FILTER_ERRORS, ids=[c[0] for c in EXPERIMENT_FILTER_ERRORS]
)
async def test_malformed_experiment_filter(
    store: SqliteStore, filter_string: str, fragment: str | None
) -> None:
    if fragment is None:
        assert parse_experiment_filter(filter_string)
        return
    with pytest.raises(MlflowException) as ei:
        await store.search_experiments(ViewType.ALL, 10, filter_string, [], None)
    assert ei.value.error_code == INVALID_PARAMETER_VALUE
    assert fragment in ei.value.message


@pytest.mark.parametrize(
    ("clause", "fragment"),
    [
        ("tags.k", "Invalid order_by entity: tag"),
        ("lifecycle_stage", "Invalid attribute key 'lifecycle_stage' specified"),
        ("name SIDEWAYS", "Invalid ordering key in order_by clause 'name SIDEWAYS'."),
        ("metrics.m", "Invalid entity type 'metrics'"),
    ],
)
async def test_malformed_experiment_order_by(store: SqliteStore, clause: str, fragment: str) -> None:
    with pytest.raises(MlflowException) as ei:
        await store.search_experiments(ViewType.ALL, 10, "", [clause], None)
    assert ei.value.error_code == INVALID_PARAMETER_VALUE
    assert fragment in ei.value.message
    with pytest.raises(MlflowException):
        parse_experiment_order_by([clause])


def test_grammar_leniency_matches_mlflow() -> None:
    """What MLflow (through sqlparse) accepts, we accept: keyword case, dangling or doubled ANDs, keys
    starting with digits or containing dots, single-quoted keys, trailing commas in lists."""
    accepted = [
        "metrics.x > 1 and metrics.y < 2 AnD params.p = 'x'",
        "AND metrics.x = 1 AND AND metrics.y = 2 AND",
        "metrics.1st > 1",
        "tags.mlflow.source.type = 'LOCAL'",
        "tags.'mlflow.runName' = 'x'",
        "attributes.run_id in ('a',)",
        "attributes.run_id NOT   IN ('a')",
        "params.m is not null",
        "`metrics`.x > 1",
        "   metrics.x>1   ",
        "created >= 5",
        "`run name` = 'x'",
        "attributes.start_time > 1.5",
        "params.`` = 'x'",
    ]
    for f in accepted:
        assert parse_run_filter(f), f
    assert parse_run_filter("") == () == parse_run_filter(None) == parse_run_filter("   ")


async def test_sqlite_limits_are_not_database_errors(store: SqliteStore) -> None:
    """Valid but extreme searches: a 1,500-clause filter runs (SQLite caps expression depth at 1,000, so
    clauses are ANDed as a balanced tree); more metric/param/tag sort keys than SQLite can join is a
    parameter error, not an INTERNAL_ERROR from the database."""
    await store.create_run("0", "u", 1, [], "a")
    long_filter = " AND ".join(f"params.p{i} IS NULL" for i in range(1500))
    runs, _ = await store.search_runs(["0"], long_filter, ViewType.ALL, 10, [], None)
    assert len(runs) == 1
    experiments, _ = await store.search_experiments(
        ViewType.ALL, 10, " AND ".join(f"tags.t{i} IS NULL" for i in range(1500)), [], None
    )
    assert [e.name for e in experiments] == ["Default"]
    runs, _ = await store.search_runs(["0"], "", ViewType.ALL, 10, [f"metrics.m{i}" for i in range(60)], None)
    assert len(runs) == 1
    with pytest.raises(MlflowException, match="at most 60 are supported") as ei:
        await store.search_runs(["0"], "", ViewType.ALL, 10, [f"params.p{i}" for i in range(61)], None)
    assert ei.value.error_code == INVALID_PARAMETER_VALUE


FRAGMENTS = [
    "metrics",
    "params",
    "tags",
    "attributes",
    "datasets",
    "run_id",
    "status",
    "created",
    "`run name`",
    ".",
    ".x",
    ".`a b`",
    '."k"',
    ".'k'",
    " ",
    "=",
    "!=",
    "<",
    ">=",
    "==",
    "!",
    "LIKE",
    "ilike",
    "IN",
    "NOT",
    "IS",
    "NULL",
    "AND",
    "OR",
    "(",
    ")",
    ",",
    "'v'",
    '"v"',
    "'",
    '"',
    "`",
    "1",
    "-1.5e3",
    ".5",
    "1AND",
    "\\",
    ";",
    "%",
    "_",
    "é",
    "\n",
    "\ud800",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(st.sampled_from(FRAGMENTS), max_size=12),
    order=st.lists(st.sampled_from(FRAGMENTS), max_size=4),
)
def test_fuzzed_input_is_a_result_or_a_parameter_error(
    portal_store: tuple[BlockingPortal, SqliteStore], pieces: list[str], order: list[str]
) -> None:
    """Token soup never escapes as anything but INVALID_PARAMETER_VALUE: not an IndexError from the
    parser, not a database error from the query."""
    portal, store = portal_store
    text, clause = "".join(pieces), "".join(order)
    for call in (
        lambda: portal.call(
            store.search_runs, ["0"], text, ViewType.ALL, 5, [clause] if clause else [], None
        ),
        lambda: portal.call(
            store.search_experiments, ViewType.ALL, 5, text, [clause] if clause else [], None
        ),
    ):
        try:
            call()
        except MlflowException as exc:
            assert exc.error_code == INVALID_PARAMETER_VALUE, exc.message
