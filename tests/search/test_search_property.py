"""Property test: the store's search equals an independent, plain-Python model of MLflow's semantics.

Hypothesis generates runs (metrics with NaN, +-inf, -0.0 and missing values, histories whose last point is
the latest; params; tags; statuses; names; end times; deletions; two experiments), then a filter as a list
of *structured* clauses and an order_by list. The expected answer is computed from those structures by the
evaluator below, which shares no code with the production parser or compiler; the filter string the store
receives is rendered from the same structures with random spellings (prefix aliases, key quoting, value
quotes, keyword case, whitespace), so the parser is exercised too. The store's answer is read in pages of
1-4 runs, which also checks keyset paging across ties.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_helpers import delete_runs, make_run, search_all

from asynctrack.entities import Run, ViewType
from asynctrack.store.sqlite import SqliteStore

METRIC_KEYS = ["m", "w x"]
PARAM_KEYS = ["p", "q"]
TAG_KEYS = ["t", "s.k"]
METRIC_VALUES = [-1.5, 0.0, -0.0, 1.0, 2.5, math.inf, -math.inf, math.nan, math.nan]
FILTER_NUMBERS = [-1e308, -1.5, -0.0, 0.0, 1.0, 2.5, 1e308]
TEXT = st.text(alphabet="aAb_%é'\"", max_size=2)
STATUSES = ["FINISHED", "FAILED", "KILLED", "SCHEDULED"]
STRING_OPS = ["=", "!=", "LIKE", "ILIKE"]
NUMERIC_OPS = ["=", "!=", "<", "<=", ">", ">="]


@dataclass
class RunSpec:
    experiment: int
    name: str
    start_time: int
    user: str
    status: str | None
    end_time: int | None
    metrics: dict[str, list[float]]
    params: dict[str, str]
    tags: dict[str, str]
    deleted: bool


@dataclass
class Model:
    """What the reference evaluator knows about a run."""

    run_id: str
    spec: RunSpec
    status: str
    artifact_uri: str
    latest: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Clause:
    entity: str  # metric, param, tag, attribute
    key: str  # canonical key; attributes: run_id, run_name, status, user_id, start_time, end_time
    op: str
    value: Any
    spelling: str = ""  # how an attribute is written (created, `run name`...), else ""


def _usually(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Present three times out of four: sparse data would leave most searches trivially empty."""
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda present: values if present else st.none()
    )


def _present(keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({k: _usually(values) for k in keys}).map(
        lambda d: {k: v for k, v in d.items() if v is not None}
    )


run_specs = st.builds(
    RunSpec,
    experiment=st.sampled_from([0, 0, 0, 1]),
    name=st.sampled_from(["a", "b", "B", "a_b", "é", "x%y"]),
    start_time=st.integers(1, 3),
    user=st.sampled_from(["u", "U", "v"]),
    status=st.none() | st.sampled_from(STATUSES),
    end_time=st.none() | st.sampled_from([5, 7]),
    metrics=_present(METRIC_KEYS, st.lists(st.sampled_from(METRIC_VALUES), min_size=1, max_size=2)),
    params=_present(PARAM_KEYS, TEXT),
    tags=_present(TAG_KEYS, TEXT),
    deleted=st.sampled_from([False, False, False, False, True]),
)


# -- the reference evaluator


def _ascii_lower(s: str) -> str:
    return s.translate({c: c + 32 for c in range(ord("A"), ord("Z") + 1)})


def _like(value: str, pattern: str, fold: bool) -> bool:
    if fold:  # SQLite's lower(): ASCII letters only
        value, pattern = _ascii_lower(value), _ascii_lower(pattern)
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _compare(lhs: Any, op: str, rhs: Any) -> bool:
    if op == "LIKE":
        return _like(lhs, rhs, fold=False)
    if op == "ILIKE":
        return _like(lhs, rhs, fold=True)
    return {
        "=": lhs == rhs,
        "!=": lhs != rhs,
        "<": lhs < rhs,
        "<=": lhs <= rhs,
        ">": lhs > rhs,
        ">=": lhs >= rhs,
    }[op]


def _attribute(m: Model, key: str) -> Any:
    s = m.spec
    return {
        "run_id": m.run_id,
        "run_name": s.name,
        "status": m.status,
        "user_id": s.user,
        "start_time": s.start_time,
        "end_time": s.end_time,
        "artifact_uri": m.artifact_uri,
    }[key]


def matches(m: Model, c: Clause) -> bool:
    if c.entity == "metric":
        v = m.latest.get(c.key)
        if v is None:
            return False
        if math.isnan(v):
            return c.op == "!="
        return _compare(v, c.op, c.value)
    if c.entity in ("param", "tag"):
        data = m.spec.params if c.entity == "param" else {**m.spec.tags, "mlflow.runName": m.spec.name}
        v = data.get(c.key)
        if c.op == "IS NULL":
            return v is None
        if c.op == "IS NOT NULL":
            return v is not None
        return v is not None and _compare(v, c.op, c.value)
    v = _attribute(m, c.key)
    if c.op == "IN":
        return v in c.value
    if c.op == "NOT IN":
        return v not in c.value
    return v is not None and _compare(v, c.op, c.value)


def _rank_value(m: Model, entity: str, key: str) -> tuple[int, Any]:
    if entity == "metric":
        v = m.latest.get(key)
        if v is None:
            return 2, None
        return (1, None) if math.isnan(v) else (0, v)
    if entity == "param":
        v = m.spec.params.get(key)
    elif entity == "tag":
        v = {**m.spec.tags, "mlflow.runName": m.spec.name}.get(key)
    else:
        v = _attribute(m, key)
    return (1, None) if v is None else (0, v)


def expected_order(models: list[Model], keys: list[tuple[str, str, bool]]) -> list[Model]:
    """MLflow's order: each key by (rank ascending, value in its direction); then start_time DESC unless
    sorted by it, then run_id."""
    full = list(keys)
    if not any(e == "attribute" and k == "start_time" for e, k, _ in keys):
        full.append(("attribute", "start_time", False))
    full.append(("attribute", "run_id", True))

    def cmp(a: Model, b: Model) -> int:
        for entity, key, ascending in full:
            (ra, va), (rb, vb) = _rank_value(a, entity, key), _rank_value(b, entity, key)
            if ra != rb:
                return -1 if ra < rb else 1
            if ra == 0 and va != vb:
                c = -1 if va < vb else 1
                return c if ascending else -c
        return 0

    return sorted(models, key=cmp_to_key(cmp))


# -- rendering the structures as filter strings, with random spellings

PREFIXES = {
    "metric": ["metrics", "metric"],
    "param": ["params", "param", "parameter", "parameters"],
    "tag": ["tags", "tag"],
    "attribute": ["attributes", "attribute", "attr", "run", ""],
}
BARE = re.compile(r"[A-Za-z_]\w*(\.\w+)*")


@st.composite
def render_key(draw: st.DrawFn, key: str, allow_single: bool) -> str:
    quotes = ["`{}`", '"{}"'] + (["'{}'"] if allow_single else [])
    if BARE.fullmatch(key):
        quotes.append("{}")
    return draw(st.sampled_from(quotes)).format(key)


@st.composite
def render_string(draw: st.DrawFn, value: str) -> str:
    """A string literal in single or double quotes (one the value does not contain: MLflow has no escapes)."""
    quote = draw(st.sampled_from([q for q in "'\"" if q not in value]))
    return f"{quote}{value}{quote}"


def _word(draw: st.DrawFn, word: str) -> str:
    return draw(st.sampled_from([word, word.lower(), word.title()]))


@st.composite
def render_clause(draw: st.DrawFn, c: Clause) -> str:
    if c.entity == "attribute":
        prefix = draw(st.sampled_from(PREFIXES["attribute"]))
        name = c.spelling or c.key
        key = draw(render_key(name, allow_single=bool(prefix)))
        if not prefix and key.startswith("'"):
            key = f"`{name}`"
        lhs = f"{prefix}.{key}" if prefix else key
    else:
        lhs = f"{draw(st.sampled_from(PREFIXES[c.entity]))}.{draw(render_key(c.key, allow_single=True))}"
    op = c.op if c.op in NUMERIC_OPS else _word(draw, c.op)
    if c.op in ("IS NULL", "IS NOT NULL"):
        return f"{lhs} {op}"
    if c.op in ("IN", "NOT IN"):
        items = [draw(render_string(v)) for v in c.value]
        trailing = draw(st.sampled_from(["", ","]))
        return f"{lhs} {op} ({', '.join(items)}{trailing})"
    if isinstance(c.value, str):
        rhs = draw(render_string(c.value))
    else:
        rhs = repr(c.value) if isinstance(c.value, float) else str(c.value)
    space = draw(st.sampled_from([" ", "  ", "\n"]))
    return f"{lhs}{space}{op}{space}{rhs}"


# -- clause strategies (values may refer to the runs just created)


def _variants(value: str) -> list[str]:
    """Patterns and near-misses of a stored value: case swapped, wildcards, prefixes."""
    out = [value, value.swapcase(), value + "%", "%" + value, value[:1] + "%", "_" * len(value), "%"]
    if value:
        out += [value[:-1] + "_", value.swapcase()[:1] + "%"]
    return out


def clauses(models: list[Model]) -> st.SearchStrategy[Clause]:
    ids = [m.run_id for m in models]
    stored = sorted({v for m in models for v in [*m.spec.params.values(), *m.spec.tags.values()]})
    strings = sorted({v for s in stored for v in _variants(s)} | {"a", "A", "%a%"})
    string_value = st.sampled_from([v for v in strings if not ("'" in v and '"' in v)])
    numbers = sorted({v for m in models for v in m.latest.values() if math.isfinite(v)} | set(FILTER_NUMBERS))
    nan_keys = sorted({k for m in models for k, v in m.latest.items() if math.isnan(v)})
    metric = st.builds(
        Clause,
        st.just("metric"),
        st.sampled_from([*METRIC_KEYS, *nan_keys, *nan_keys, "zz"]),
        st.sampled_from(NUMERIC_OPS),
        st.sampled_from(numbers),
    )
    key_value = st.builds(
        Clause,
        st.sampled_from(["param", "tag"]),
        st.sampled_from([*PARAM_KEYS, *TAG_KEYS, "zz"]),
        st.sampled_from([*STRING_OPS, "IS NULL", "IS NOT NULL"]),
        string_value,
    )
    names = sorted({v for m in models for v in _variants(m.spec.name)} | {"É"})
    run_name = st.builds(
        Clause,
        st.just("attribute"),
        st.just("run_name"),
        st.sampled_from(STRING_OPS),
        st.sampled_from(names),
        st.sampled_from(["run_name", "run name", "Run Name", "Run name"]),
    )
    attribute_strings = st.builds(
        Clause,
        st.just("attribute"),
        st.sampled_from(["status", "user_id"]),
        st.sampled_from(STRING_OPS),
        st.sampled_from(["u", "U", "v", "%", "F%", "finished", "FINISHED", "RUNNING", "_ILLED"]),
    )
    times = st.builds(
        Clause,
        st.just("attribute"),
        st.sampled_from(["start_time", "end_time"]),
        st.sampled_from(NUMERIC_OPS),
        st.sampled_from([0, 1, 2, 3, 5, 6, 7, 2.5]),
    ).map(lambda c: Clause(c.entity, c.key, c.op, c.value, "created" if c.key == "start_time" else ""))
    some_ids = st.lists(st.sampled_from([*ids, "0" * 32]), min_size=1, max_size=3).map(tuple)
    run_id = st.builds(
        Clause, st.just("attribute"), st.just("run_id"), st.sampled_from(["IN", "NOT IN"]), some_ids
    )
    run_id_eq = st.builds(
        Clause,
        st.just("attribute"),
        st.just("run_id"),
        st.sampled_from(STRING_OPS),
        st.sampled_from(ids).map(lambda i: i[:3] + "%") | st.sampled_from(ids),
    )
    artifact = st.builds(
        Clause,
        st.just("attribute"),
        st.just("artifact_uri"),
        st.just("LIKE"),
        st.sampled_from(ids).map(lambda i: f"%{i}%"),
    )
    attributes = st.one_of(run_name, attribute_strings, times, run_id, run_id_eq, artifact)
    return st.one_of(metric, key_value, attributes)  # each family a third of the clauses


# First keys with few distinct values leave ties for the later keys (where metric/param/tag keys are
# compiled differently from a leading one).
QUERIES_PER_EXAMPLE = 6

FIRST_KEYS = [
    ("attribute", "status"),
    ("attribute", "user_id"),
    ("param", "p"),
    ("tag", "t"),
    ("metric", "m"),
]
ORDER_CHOICES = [
    *(("metric", k) for k in [*METRIC_KEYS, "zz"]),
    *(("param", k) for k in PARAM_KEYS),
    *(("tag", k) for k in [*TAG_KEYS, "mlflow.runName"]),
    *(("attribute", k) for k in ["start_time", "end_time", "run_name", "status", "user_id", "run_id"]),
]


@st.composite
def order_by(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str, bool]]]:
    first = draw(st.lists(st.sampled_from(FIRST_KEYS) | st.sampled_from(ORDER_CHOICES), max_size=1))
    later_metric = st.sampled_from([("metric", k) for k in [*METRIC_KEYS, "zz"]])
    rest = draw(st.lists(later_metric | st.sampled_from(ORDER_CHOICES), max_size=2))
    chosen = list(dict.fromkeys([*first, *rest]))  # MLflow rejects duplicate keys
    rendered, keys = [], []
    for entity, key in chosen:
        direction = draw(st.sampled_from(["", " ASC", " asc", " DESC", " desc"]))
        ascending = "desc" not in direction.lower()
        if entity == "attribute":
            prefix = draw(st.sampled_from(["attributes.", "attribute.", "run.", ""]))
            name = "created" if key == "start_time" and draw(st.booleans()) else key
            rendered.append(f"{prefix}{name}{direction}")
        else:
            rendered.append(
                f"{draw(st.sampled_from(PREFIXES[entity]))}.{draw(render_key(key, True))}{direction}"
            )
        keys.append((entity, key, ascending))
    return rendered, keys


# -- the test


async def _create(store: SqliteStore, specs: list[RunSpec]) -> tuple[list[str], list[Model]]:
    tag = uuid.uuid4().hex[:8]
    experiments = [await store.create_experiment(f"prop-{tag}-{i}") for i in range(2)]
    models = []
    for s in specs:
        run_id = await make_run(
            store,
            experiments[s.experiment],
            name=s.name,
            start_time=s.start_time,
            user=s.user,
            metrics=s.metrics,
            params=s.params,
            tags=s.tags,
            status=s.status,
            end_time=s.end_time,
        )
        info = (await store.get_run(run_id)).info
        latest = {k: v[-1] for k, v in s.metrics.items()}
        models.append(Model(run_id, s, info.status, info.artifact_uri or "", latest))
    return experiments, models


def _plain(run: Run) -> dict[str, Any]:
    """A run as a dict in which NaN equals NaN."""
    d = run.to_dictionary()
    d["data"]["metrics"] = {k: ("nan" if math.isnan(v) else v) for k, v in d["data"]["metrics"].items()}
    return d


@pytest.mark.slow  # 100 generated experiments against the reference per store (~20-45 s)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(specs=st.lists(run_specs, min_size=3, max_size=12), data=st.data())
def test_search_runs_matches_reference(
    portal_store: tuple[BlockingPortal, SqliteStore], specs: list[RunSpec], data: st.DataObject
) -> None:
    """Creating runs costs far more than searching them, so each example checks several searches."""
    portal, store = portal_store
    experiments, models = portal.call(_create, store, specs)
    delete_runs(store, [m.run_id for m in models if m.spec.deleted])
    for query in range(QUERIES_PER_EXAMPLE):
        n_clauses = data.draw(st.sampled_from([0, 1, 1, 1, 2]), label="number of clauses")
        filters = data.draw(
            st.lists(clauses(models), min_size=n_clauses, max_size=n_clauses), label="clauses"
        )
        rendered = [data.draw(render_clause(c)) for c in filters]
        joiner = data.draw(st.sampled_from([" AND ", " and ", "\nAND\t"]))
        filter_string = joiner.join(rendered)
        order_strings, order_keys = data.draw(order_by(), label="order_by")
        view = data.draw(
            st.sampled_from([ViewType.ACTIVE_ONLY, ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL])
        )
        searched = data.draw(st.sampled_from([[0], [0], [0, 1], [1]]))
        page_size = data.draw(st.integers(1, 4), label="page_size")

        in_view = {
            ViewType.ACTIVE_ONLY: lambda m: not m.spec.deleted,
            ViewType.DELETED_ONLY: lambda m: m.spec.deleted,
            ViewType.ALL: lambda m: True,
        }[view]
        candidates = [
            m
            for m in models
            if m.spec.experiment in searched and in_view(m) and all(matches(m, c) for c in filters)
        ]
        expected = [m.run_id for m in expected_order(candidates, order_keys)]
        runs = portal.call(
            search_all,
            store,
            [experiments[i] for i in searched],
            filter_string,
            order_strings,
            view,
            page_size,
        )
        assert [r.info.run_id for r in runs] == expected, (filter_string, order_strings, view, page_size)
        if query == 0:
            for run in runs:  # a search result is the run get_run returns
                assert _plain(run) == _plain(portal.call(store.get_run, run.info.run_id))
