"""search_runs and search_experiments for the embedded store: the search AST compiled to SQL.

Every value and every metric/param/tag *key* is a bound parameter; SQL text is built only from our own
fragments. A run search is one query (or, when the first sort key is a metric, param or tag, one query per
rank of that key; see :class:`_RunSearch`) of this shape::

    SELECT r.<run columns>, <sort components>
    FROM runs AS r                                   -- or: <key's table> AS o0 JOIN runs AS r (lead key)
    LEFT JOIN latest_metrics|params|tags AS oN       -- one per other metric/param/tag sort key, on its PK
           ON oN.run_key = r.run_key AND oN.key = :k
    WHERE r.experiment_id IN (...) AND r.lifecycle_stage IN (...)
      AND r.run_key IN (SELECT f.run_key FROM latest_metrics|params|tags AS f   -- one per filter clause
                        WHERE f.key = :k AND <f.value comparison>)
      AND <keyset: (components) after (the token's values)>
    ORDER BY <components> LIMIT :max_results + 1

then three bulk reads (latest metrics, params, tags) for the page's runs only, in the same read
transaction. The one extra row tells whether there is a next page; the token holds the sort components of
the page's last row (see ``asynctrack/store/search/_token.py`` for why keyset paging and not offsets).

MLflow's SQL-store semantics reproduced here:

- a metric clause compares the run's *latest* value; a NaN latest value (stored as 0 with ``is_nan = 1``)
  matches only ``!=``; a run without the metric/param/tag matches no clause on it, ``!=`` included;
- ``LIKE`` is case-sensitive (MLflow sets ``PRAGMA case_sensitive_like`` on SQLite; we translate the
  pattern to ``GLOB`` instead of changing the connection), ``ILIKE`` compares ``lower()`` of both sides
  (ASCII case folding, as SQLite's ``lower``); ``%`` and ``_`` are the only wildcards, there is no escape;
- ``run_name`` clauses test the ``mlflow.runName`` tag (MLflow's choice: the column may be empty for old
  runs); ``run_name`` sorting uses the column;
- sort components: a metric key sorts as (rank: 0 number / 1 NaN / 2 missing, ASC; value); params, tags
  and run attributes sort NULL last in both directions; experiments sort NULL as the smallest value;
- ``datasets.*`` clauses match nothing: this store records no dataset inputs yet.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from asynctrack._int64 import INT64_RANGE as _INT64
from asynctrack._system_tags import MLFLOW_DATASET_CONTEXT as DATASET_CONTEXT_TAG
from asynctrack._system_tags import MLFLOW_RUN_NAME as _RUN_NAME_TAG
from asynctrack.entities import (
    Experiment,
    LifecycleStage,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    ViewType,
)
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store._experiment_ids import experiment_key
from asynctrack.store.search import (
    Comparison,
    Entity,
    Op,
    SortKey,
    TokenValue,
    decode_page_token,
    encode_page_token,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
    validate_max_results,
)
from asynctrack.store.sqlite._datasets import inputs_of_runs
from asynctrack.store.sqlite._model_links import outputs_of_runs

__all__ = ["SEARCH_DDL", "experiment_keys", "search_experiments", "search_runs", "snapshot"]

# Indexes search needs (to be applied with the schema). ``(key, [is_nan,] value)`` lets a filter on a key
# read only that key's matching entries, and a leading metric/param/tag sort read runs in sort order and
# stop after one page; ``runs_for_search`` covers the default order (start_time DESC, run_id) per
# experiment and lifecycle stage without reading run rows (it makes ``runs_by_experiment`` redundant).
SEARCH_DDL = """
CREATE INDEX IF NOT EXISTS runs_for_search ON runs (experiment_id, lifecycle_stage, start_time, run_id);
CREATE INDEX IF NOT EXISTS latest_metrics_by_value ON latest_metrics (key, is_nan, value);
CREATE INDEX IF NOT EXISTS params_by_value ON params (key, value);
CREATE INDEX IF NOT EXISTS tags_by_value ON tags (key, value);
"""

_MAX_JOINED_KEYS = 60

# attribute -> (column, nullable)
_RUN_COLUMNS = {
    "run_id": ("r.run_id", False),
    "run_name": ("r.name", True),
    "status": ("r.status", False),
    "start_time": ("r.start_time", True),
    "end_time": ("r.end_time", True),
    "artifact_uri": ("r.artifact_uri", True),
    "user_id": ("r.user_id", True),
}
_EXPERIMENT_COLUMNS = {
    "name": ("e.name", False),
    "experiment_id": ("e.experiment_id", False),
    "creation_time": ("e.creation_time", True),
    "last_update_time": ("e.last_update_time", True),
}
_KEY_VALUE_TABLES = {Entity.METRIC: "latest_metrics", Entity.PARAM: "params", Entity.TAG: "tags"}
_COMPARE = {Op.EQ: "=", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}
_GLOB = {"*": "[*]", "?": "[?]", "[": "[[]", "%": "*", "_": "?"}
_RUN_SELECT = (
    "r.run_key, r.run_id, r.experiment_id, r.user_id, r.status, r.start_time, r.end_time, "
    "r.lifecycle_stage, r.artifact_uri, r.name"
)
_EXPERIMENT_SELECT = (
    "e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time"
)


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _conjunction(terms: Sequence[str]) -> str:
    """``terms`` ANDed as a balanced tree. SQLite caps expression depth at 1,000 and a flat chain of N ANDs
    is N deep, so a long (valid) filter would otherwise fail in the database; its WHERE analysis splits
    nested ANDs just the same, so index use is unaffected."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return f"({_conjunction(terms[:middle])} AND {_conjunction(terms[middle:])})"


@dataclass(frozen=True, slots=True)
class _Component:
    """One column of the total sort: an SQL expression, its direction, and where its NULLs go."""

    expr: str
    ascending: bool
    nullable: bool
    nulls_first: bool

    def order_sql(self) -> str:
        direction = "ASC" if self.ascending else "DESC"
        # Spell out NULLS FIRST/LAST only where it differs from SQLite's default (NULL is smallest), so
        # the default orders can still be served by an index.
        if self.nullable and self.nulls_first != self.ascending:
            return f"{self.expr} {direction} NULLS {'FIRST' if self.nulls_first else 'LAST'}"
        return f"{self.expr} {direction}"


class _Query:
    """SQL fragments and their named parameters (``:p0``, ``:p1``...)."""

    def __init__(self, like_limit: int) -> None:
        self.params: dict[str, object] = {}
        self.joins: list[str] = []
        self.where: list[str] = []
        self._like_limit = like_limit

    def bind(self, value: object) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def bind_number(self, value: float | int) -> str:
        # The parser keeps ints in 64 bits; guard anyway, as a too-large int fails at bind time.
        if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
            value = float(value)
        return self.bind(value)

    def string_predicate(self, column: str, op: Op, value: object) -> str:
        """``column <op> value`` for the string comparators (value a str)."""
        assert isinstance(value, str)
        if op is Op.LIKE:
            return f"{column} GLOB {self.bind(self._pattern(''.join(_GLOB.get(c, c) for c in value)))}"
        if op is Op.ILIKE:
            return f"lower({column}) LIKE lower({self.bind(self._pattern(value))})"
        return f"{column} {_COMPARE[op]} {self.bind(value)}"

    def _pattern(self, pattern: str) -> str:
        if len(pattern.encode("utf-8")) > self._like_limit:
            raise _invalid(f"LIKE pattern too long: at most {self._like_limit} bytes are supported")
        return pattern

    def keyset(self, components: Sequence[_Component], after: Sequence[TokenValue]) -> None:
        """Keep only rows sorting strictly after the row whose components were ``after``."""
        terms: list[str] = []
        equal: list[str] = []
        for c, v in zip(components, after, strict=True):
            if v is None:
                # Nothing sorts after NULL when NULLs go last; every non-NULL does when they go first.
                if c.nulls_first:
                    terms.append(" AND ".join([*equal, f"{c.expr} IS NOT NULL"]))
                equal.append(f"{c.expr} IS NULL")
                continue
            p = self.bind(v)
            beyond = f"{c.expr} {'>' if c.ascending else '<'} {p}"
            if c.nullable and not c.nulls_first:
                beyond = f"({beyond} OR {c.expr} IS NULL)"
            terms.append(" AND ".join([*equal, beyond]))
            equal.append(f"{c.expr} = {p}")
        self.where.append("(" + " OR ".join(f"({t})" for t in terms) + ")" if terms else "0")


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction, so the page and the data loaded for it come from the same snapshot."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _stages(view_type: int) -> list[str]:
    if view_type not in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
        raise _invalid(
            f"Invalid view type '{view_type}': expected ViewType.ACTIVE_ONLY (1), DELETED_ONLY (2) or ALL (3)"
        )
    return LifecycleStage.view_type_to_stages(view_type)


def experiment_keys(experiment_ids: Sequence[str]) -> list[int]:
    """Experiment ids as the integers the tables hold; INVALID_PARAMETER_VALUE naming a bad one."""
    return [experiment_key(experiment_id) for experiment_id in experiment_ids]


def _like_limit(conn: sqlite3.Connection) -> int:
    return conn.getlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH)


# -- runs


def _key_value_clause(q: _Query, c: Comparison, table: str, key: str) -> str:
    """A clause on a metric, param or tag: membership in the set of runs whose row matches.

    ``IN (subquery)`` reads only the ``(key, value)`` index range of the key, which measured several
    times faster than a correlated ``EXISTS`` seek per run once more than a few runs are scanned.
    """
    rows = f"SELECT f.run_key FROM {table} AS f WHERE f.key = {q.bind(key)}"
    if c.op is Op.IS_NULL:
        return f"r.run_key NOT IN ({rows})"
    if c.op is Op.IS_NOT_NULL:
        return f"r.run_key IN ({rows})"
    if table == "latest_metrics":
        assert isinstance(c.value, float)
        value = f"f.value {_COMPARE[c.op]} {q.bind(c.value)}"
        # NaN is stored as 0 with is_nan = 1: it differs from every number and equals none.
        cond = f"(f.is_nan = 1 OR {value})" if c.op is Op.NE else f"f.is_nan = 0 AND {value}"
    else:
        cond = q.string_predicate("f.value", c.op, c.value)
    return f"r.run_key IN ({rows} AND {cond})"


def _run_clause(q: _Query, c: Comparison) -> str:
    if c.entity in _KEY_VALUE_TABLES:
        return _key_value_clause(q, c, _KEY_VALUE_TABLES[c.entity], c.key)
    if c.entity is Entity.DATASET:
        return _dataset_clause(q, c)
    if c.key == "run_name":
        return _key_value_clause(q, c, "tags", _RUN_NAME_TAG)
    column = _RUN_COLUMNS[c.key][0]
    if c.op in (Op.IN, Op.NOT_IN):
        assert isinstance(c.value, tuple)
        negate = "NOT " if c.op is Op.NOT_IN else ""
        return f"{column} {negate}IN (SELECT value FROM json_each({q.bind(json.dumps(list(c.value)))}))"
    if isinstance(c.value, str):
        return q.string_predicate(column, c.op, c.value)
    assert isinstance(c.value, int | float)
    return f"{column} {_COMPARE[c.op]} {q.bind_number(c.value)}"


def _dataset_clause(q: _Query, c: Comparison) -> str:
    """MLflow's ``datasets.name|digest|context <op> value``: the run has some dataset input for which the
    comparison holds (``!=`` and ``NOT IN`` included: some input differs)."""
    if c.key == "context":
        column = "t.value"
        source = (
            "run_inputs AS i JOIN input_tags AS t ON t.input_key = i.input_key "
            f"AND t.key = {q.bind(DATASET_CONTEXT_TAG)}"
        )
    else:
        column = f"d.{'name' if c.key == 'name' else 'digest'}"
        source = "run_inputs AS i JOIN datasets AS d ON d.dataset_key = i.dataset_key"
    if c.op in (Op.IN, Op.NOT_IN):
        assert isinstance(c.value, tuple)
        negate = "NOT " if c.op is Op.NOT_IN else ""
        cond = f"{column} {negate}IN (SELECT value FROM json_each({q.bind(json.dumps(list(c.value)))}))"
    else:
        cond = q.string_predicate(column, c.op, c.value)
    return f"EXISTS (SELECT 1 FROM {source} WHERE i.run_key = r.run_key AND {cond})"


def _run_components(q: _Query, keys: Sequence[SortKey]) -> list[_Component]:
    """Sort components of ``keys``, LEFT JOINing each metric/param/tag key's row on its primary key."""
    components: list[_Component] = []
    for i, k in enumerate(keys, start=1):
        if k.entity is Entity.ATTRIBUTE:
            column, nullable = _RUN_COLUMNS[k.key]
            components.append(_Component(column, k.ascending, nullable, k.nulls_first))
            continue
        alias = f"o{i}"
        table = _KEY_VALUE_TABLES[k.entity]
        q.joins.append(
            f"LEFT JOIN {table} AS {alias} ON {alias}.run_key = r.run_key AND {alias}.key = {q.bind(k.key)}"
        )
        if k.entity is Entity.METRIC:
            rank = f"CASE WHEN {alias}.run_key IS NULL THEN 2 WHEN {alias}.is_nan = 1 THEN 1 ELSE 0 END"
            value = f"CASE WHEN {alias}.is_nan = 0 THEN {alias}.value ELSE 0.0 END"
            components.append(_Component(rank, True, False, False))
            components.append(_Component(value, k.ascending, False, False))
        else:
            components.append(_Component(f"{alias}.value", k.ascending, True, k.nulls_first))
    return components


class _RunSearch:
    """A run search compiled for SQLite.

    When the first sort key is a metric, param or tag, the search runs as *segments*, one per rank of that
    key (metrics: 0 has a number, 1 is NaN, 2 has no such metric; params/tags: 0 has a value, 1 has none),
    queried in rank order until the page is full. The value segment reads the key's ``(key, is_nan,
    value)`` index in sort order and stops after one page, instead of joining and sorting every run: for
    "filter on a metric, order by a metric, 100 results" over 10,000 runs the query takes about 2 ms
    instead of about 20. Every row still carries the full component tuple (rank, value, rest...), so page
    tokens are the same whichever way a page was read.
    """

    def __init__(
        self,
        clauses: Sequence[Comparison],
        keys: Sequence[SortKey],
        ids: Sequence[int],
        stages: Sequence[str],
        like_limit: int,
    ) -> None:
        self._clauses = clauses
        self._ids = ids
        self._stages = stages
        self._like_limit = like_limit
        first = keys[0]
        self._lead = first if first.entity in _KEY_VALUE_TABLES else None
        self._rest = keys[1:] if self._lead is not None else keys
        if self._lead is None:
            self.segments: tuple[int | None, ...] = (None,)
        else:
            self.segments = (0, 1, 2) if self._lead.entity is Entity.METRIC else (0, 1)
        joined = sum(k.entity in _KEY_VALUE_TABLES for k in keys)
        if joined > _MAX_JOINED_KEYS:  # one join each; SQLite allows 64 tables in a join
            raise _invalid(
                f"order_by has {joined} metric, param and tag keys; at most {_MAX_JOINED_KEYS} are supported"
            )
        lead_width = 0 if self._lead is None else 2
        self.arity = lead_width + sum(2 if k.entity is Entity.METRIC else 1 for k in self._rest)

    def schedule(
        self, after: Sequence[TokenValue] | None
    ) -> list[tuple[int | None, Sequence[TokenValue] | None]]:
        """The segments to read, each with the token values it resumes after (None: from its start)."""
        if self._lead is None:
            return [(None, after)]
        if after is None:
            return [(s, None) for s in self.segments]
        rank = after[0]
        if not isinstance(rank, int) or isinstance(rank, bool) or rank not in self.segments:
            raise _invalid(f"Invalid page token, parsed value={list(after)!r}")
        # The value segment resumes after (value, rest...); the others have a constant value: (rest...).
        resume = after[1:] if rank == 0 else after[2:]
        return [(s, resume if s == rank else None) for s in self.segments if s is not None and s >= rank]

    def can_skip(self, conn: sqlite3.Connection, segment: int | None) -> bool:
        """True if the segment is certainly empty: the NaN segment of a key that has no NaN value."""
        if self._lead is None or self._lead.entity is not Entity.METRIC or segment != 1:
            return False
        probe = "SELECT EXISTS (SELECT 1 FROM latest_metrics WHERE key = ? AND is_nan = 1)"
        return not conn.execute(probe, (self._lead.key,)).fetchone()[0]

    def sql(
        self, segment: int | None, after: Sequence[TokenValue] | None, limit: int | None
    ) -> tuple[str, dict[str, object]]:
        """The query for one segment (``None``: the whole search), resuming after ``after``."""
        q = _Query(self._like_limit)
        source = "runs AS r"
        missing = ""
        lead_select: list[str] = []
        lead_order: list[_Component] = []
        if self._lead is not None:
            lead = self._lead
            metric = lead.entity is Entity.METRIC
            table = _KEY_VALUE_TABLES[lead.entity]
            key = q.bind(lead.key)
            if segment == (2 if metric else 1):
                present = f"SELECT o0.run_key FROM {table} AS o0 WHERE o0.key = {key}"
                present += "" if metric else " AND o0.value IS NOT NULL"
                # With filter clauses a correlated check runs only for the runs they let through (measured
                # ~2.5x faster on selective filters); without, one set of every run having the key is cheaper.
                if self._clauses:
                    missing = f"NOT EXISTS ({present} AND o0.run_key = r.run_key)"
                else:
                    missing = f"r.run_key NOT IN ({present})"
                lead_select = [str(segment), "0.0" if metric else "NULL"]
            else:
                source = f"{table} AS o0 JOIN runs AS r ON r.run_key = o0.run_key"
                q.where.append(f"o0.key = {key}")
                q.where.append(f"o0.is_nan = {segment}" if metric else "o0.value IS NOT NULL")
                lead_select = ["0", "o0.value"] if segment == 0 else ["1", "0.0"]
                if segment == 0:
                    lead_order = [_Component("o0.value", lead.ascending, False, False)]
        rest = _run_components(q, self._rest)
        q.where.append(f"r.experiment_id IN ({', '.join(q.bind(i) for i in self._ids)})")
        q.where.append(f"r.lifecycle_stage IN ({', '.join(q.bind(s) for s in self._stages)})")
        q.where.extend(_run_clause(q, c) for c in self._clauses)
        if missing:
            q.where.append(missing)
        order = [*lead_order, *rest]
        if after is not None:
            q.keyset(order, after)
        sql = (
            f"SELECT {_RUN_SELECT}, {', '.join([*lead_select, *(c.expr for c in rest)])} FROM {source} "
            + " ".join(q.joins)
            + " WHERE "
            + _conjunction(q.where)
            + " ORDER BY "
            + ", ".join(c.order_sql() for c in order)
            + ("" if limit is None else f" LIMIT {q.bind(limit)}")
        )
        return sql, q.params


def _runs_data(conn: sqlite3.Connection, run_keys: list[int]) -> dict[int, RunData]:
    """Latest metrics, params and tags of the given runs, in three queries.

    Params and tags come as one JSON object per run (``json_group_object``): building a few dicts in C is
    about twice as fast as fetching a Python row per value. Metrics cannot: SQLite's JSON renders doubles
    with 15 digits, and values must come back bit for bit.
    """
    data = {k: RunData() for k in run_keys}
    latest: dict[int, list[tuple[str, float, int, int]]] = {k: [] for k in run_keys}
    keys = json.dumps(run_keys)
    page = "run_key IN (SELECT value FROM json_each(?))"
    nan = float("nan")
    for run_key, key, value, is_nan, timestamp, step in conn.execute(
        f"SELECT run_key, key, value, is_nan, timestamp, step FROM latest_metrics WHERE {page}", (keys,)
    ):
        if is_nan:
            value = nan
        data[run_key].metrics[key] = value
        latest[run_key].append((key, value, timestamp, step))
    for run_key, rows in latest.items():
        data[run_key].attach_latest(rows)
    for table in ("params", "tags"):
        for run_key, pairs in conn.execute(
            f"SELECT run_key, json_group_object(key, value) FROM {table} WHERE {page} GROUP BY run_key",
            (keys,),
        ):
            setattr(data[run_key], table, json.loads(pairs))
    return data


def search_runs(
    conn: sqlite3.Connection,
    experiment_ids: list[str],
    filter_string: str | None,
    run_view_type: int,
    max_results: int | None,
    order_by: list[str] | None,
    page_token: str | None,
) -> tuple[list[Run], str | None]:
    """One page of runs matching ``filter_string`` in ``order_by`` order, and the next page's token."""
    validate_max_results(max_results, allow_none=True)
    stages = _stages(run_view_type)
    clauses = parse_run_filter(filter_string)
    keys = parse_run_order_by(order_by)
    ids = experiment_keys(experiment_ids)
    search = _RunSearch(clauses, keys, ids, stages, _like_limit(conn))
    scope = repr(("runs", ids, run_view_type, clauses, keys))
    after = decode_page_token(page_token, scope, search.arity)
    schedule = search.schedule(after)
    if not ids:
        return [], None
    want = None if max_results is None else max_results + 1  # one more row tells if a next page exists
    rows: list[tuple[Any, ...]] = []
    with snapshot(conn):
        for segment, resume in schedule:
            if search.can_skip(conn, segment):
                continue
            limit = None if want is None else want - len(rows)
            rows.extend(conn.execute(*search.sql(segment, resume, limit)).fetchall())
            if want is not None and len(rows) >= want:
                break
        more = max_results is not None and len(rows) > max_results
        rows = rows[:max_results]
        data = _runs_data(conn, [row[0] for row in rows])
        inputs = inputs_of_runs(conn, [row[0] for row in rows])
        # As MLflow's search_runs: the runs' model outputs, but not their model inputs.
        outputs = outputs_of_runs(conn, [row[0] for row in rows])
    runs = [
        Run(
            info=RunInfo(
                run_id=str(row[1]),
                experiment_id=str(row[2]),
                user_id=str(row[3] or ""),
                status=str(row[4]),
                start_time=row[5],
                end_time=row[6],
                lifecycle_stage=str(row[7]),
                artifact_uri=row[8],
                run_name=row[9],
            ),
            data=data[row[0]],
            inputs=RunInputs(dataset_inputs=inputs.get(row[0], [])),
            outputs=RunOutputs(outputs.get(row[0], [])),
        )
        for row in rows
    ]
    token = encode_page_token(scope, list(rows[-1][10:])) if more else None
    return runs, token


# -- experiments


def _experiment_clause(q: _Query, c: Comparison) -> str:
    if c.entity is Entity.TAG:
        seek = (
            "SELECT 1 FROM experiment_tags AS f WHERE f.experiment_id = e.experiment_id "
            f"AND f.key = {q.bind(c.key)}"
        )
        if c.op is Op.IS_NULL:
            return f"NOT EXISTS ({seek})"
        if c.op is Op.IS_NOT_NULL:
            return f"EXISTS ({seek})"
        return f"EXISTS ({seek} AND {q.string_predicate('f.value', c.op, c.value)})"
    column = _EXPERIMENT_COLUMNS[c.key][0]
    if c.op in (Op.IN, Op.NOT_IN):
        assert isinstance(c.value, tuple)
        negate = "NOT " if c.op is Op.NOT_IN else ""
        return f"{column} {negate}IN (SELECT value FROM json_each({q.bind(json.dumps(list(c.value)))}))"
    if isinstance(c.value, str):
        return q.string_predicate(column, c.op, c.value)
    assert isinstance(c.value, int | float)
    return f"{column} {_COMPARE[c.op]} {q.bind_number(c.value)}"


def search_experiments(
    conn: sqlite3.Connection,
    view_type: int,
    max_results: int,
    filter_string: str | None,
    order_by: list[str] | None,
    page_token: str | None,
) -> tuple[list[Experiment], str | None]:
    """One page of experiments matching ``filter_string`` in ``order_by`` order, and the next token."""
    validate_max_results(max_results, allow_none=False)
    stages = _stages(view_type)
    clauses = parse_experiment_filter(filter_string)
    keys = parse_experiment_order_by(order_by)
    components = [
        _Component(_EXPERIMENT_COLUMNS[k.key][0], k.ascending, _EXPERIMENT_COLUMNS[k.key][1], k.nulls_first)
        for k in keys
    ]
    scope = repr(("experiments", view_type, clauses, keys))
    after = decode_page_token(page_token, scope, len(components))
    q = _Query(_like_limit(conn))
    q.where.append(f"e.lifecycle_stage IN ({', '.join(q.bind(s) for s in stages)})")
    q.where.extend(_experiment_clause(q, c) for c in clauses)
    if after is not None:
        q.keyset(components, after)
    sql = (
        f"SELECT {_EXPERIMENT_SELECT}, {', '.join(c.expr for c in components)} FROM experiments AS e WHERE "
        + _conjunction(q.where)
        + " ORDER BY "
        + ", ".join(c.order_sql() for c in components)
        + f" LIMIT {q.bind(max_results + 1)}"
    )
    with snapshot(conn):
        rows = conn.execute(sql, q.params).fetchall()
        more = len(rows) > max_results
        rows = rows[:max_results]
        tags: dict[int, dict[str, str]] = {row[0]: {} for row in rows}
        for experiment_id, key, value in conn.execute(
            "SELECT experiment_id, key, value FROM experiment_tags "
            "WHERE experiment_id IN (SELECT value FROM json_each(?)) ORDER BY experiment_id, key",
            (json.dumps(list(tags)),),
        ):
            tags[experiment_id][key] = value
    experiments = [
        Experiment(
            experiment_id=str(row[0]),
            name=row[1],
            artifact_location=row[2],
            lifecycle_stage=row[3],
            tags=tags[row[0]],
            creation_time=row[4],
            last_update_time=row[5],
        )
        for row in rows
    ]
    token = encode_page_token(scope, list(rows[-1][6:])) if more else None
    return experiments, token
