"""search_runs and search_experiments for the PostgreSQL store: the search AST (``store/search/``)
compiled to PostgreSQL SQL.

The queries have the embedded store's shape and give its answers (``store/sqlite/_search.py`` explains the
shape, the segments of a leading metric/param/tag sort, and MLflow's semantics reproduced); what differs:

- every value and key is a typed positional parameter (``$3::float8``), never text in the SQL; metric
  keys are resolved to their integer ids first (a key no run has becomes NULL, which matches nothing);
- text columns use the ``"C"`` collation (byte order, as SQLite), and ``lower()`` of a parameter is taken
  in it too, so ILIKE folds ASCII letters only, as on SQLite;
- ``LIKE`` is PostgreSQL's ``LIKE ... ESCAPE ''`` (case-sensitive, ``%`` and ``_`` the only wildcards, no
  escape character: SQLite's ``GLOB`` translation is not needed);
- NULL placement is always spelled out (PostgreSQL sorts NULL as the largest value, SQLite as the smallest);
- IN lists are one array parameter (``= ANY($n::text[])``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

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
from asynctrack.store.postgres._datasets import inputs_of_runs
from asynctrack.store.postgres._model_links import outputs_of_runs
from asynctrack.store.postgres._writes import KeyIds
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

__all__ = ["experiment_keys", "search_experiments", "search_runs"]

_MAX_JOINED_KEYS = 60
# SQLite's default limit on a LIKE/GLOB pattern, kept so both stores refuse the same filters.
_LIKE_LIMIT = 50_000

# attribute -> (column, nullable, SQL type)
_RUN_COLUMNS = {
    "run_id": ("r.run_id", False, "text"),
    "run_name": ("r.name", True, "text"),
    "status": ("r.status", False, "text"),
    "start_time": ("r.start_time", True, "int8"),
    "end_time": ("r.end_time", True, "int8"),
    "artifact_uri": ("r.artifact_uri", True, "text"),
    "user_id": ("r.user_id", True, "text"),
}
_EXPERIMENT_COLUMNS = {
    "name": ("e.name", False, "text"),
    "experiment_id": ("e.experiment_id", False, "int8"),
    "creation_time": ("e.creation_time", True, "int8"),
    "last_update_time": ("e.last_update_time", True, "int8"),
}
_KEY_VALUE_TABLES = {Entity.METRIC: "latest_metrics", Entity.PARAM: "params", Entity.TAG: "tags"}
_COMPARE = {Op.EQ: "=", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}
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
    """``terms`` ANDed as a balanced tree (PostgreSQL flattens it; a deep chain would only cost stack)."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return f"({_conjunction(terms[:middle])} AND {_conjunction(terms[middle:])})"


@dataclass(frozen=True, slots=True)
class _Component:
    """One column of the total sort: an SQL expression, its type, its direction, and where NULLs go."""

    expr: str
    sql_type: str
    ascending: bool
    nullable: bool
    nulls_first: bool

    def order_sql(self) -> str:
        direction = "ASC" if self.ascending else "DESC"
        if not self.nullable:
            return f"{self.expr} {direction}"
        return f"{self.expr} {direction} NULLS {'FIRST' if self.nulls_first else 'LAST'}"


class _Query:
    """SQL fragments and their positional parameters."""

    def __init__(self) -> None:
        self.params: list[object] = []
        self.joins: list[str] = []
        self.where: list[str] = []

    def bind(self, value: object, sql_type: str) -> str:
        self.params.append(value)
        return f"${len(self.params)}::{sql_type}"

    def bind_number(self, value: float | int) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]:
            return self.bind(value, "int8")
        return self.bind(float(value), "float8")

    def string_predicate(self, column: str, op: Op, value: object) -> str:
        """``column <op> value`` for the string comparators (value a str)."""
        assert isinstance(value, str)
        if op is Op.LIKE:
            return f"{column} LIKE {self.bind(_pattern(value), 'text')} COLLATE \"C\" ESCAPE ''"
        if op is Op.ILIKE:
            pattern = self.bind(_pattern(value), "text")
            return f"lower({column}) LIKE lower({pattern} COLLATE \"C\") ESCAPE ''"
        return f'{column} {_COMPARE[op]} {self.bind(value, "text")} COLLATE "C"'

    def keyset(self, components: Sequence[_Component], after: Sequence[TokenValue]) -> None:
        """Keep only rows sorting strictly after the row whose components were ``after``."""
        terms: list[str] = []
        equal: list[str] = []
        for c, v in zip(components, after, strict=True):
            if v is None:
                if c.nulls_first:
                    terms.append(" AND ".join([*equal, f"{c.expr} IS NOT NULL"]))
                equal.append(f"{c.expr} IS NULL")
                continue
            value: object = v
            if c.sql_type == "float8" and isinstance(v, int | float):
                value = float(v)
            elif c.sql_type == "int8" and isinstance(v, float) and v.is_integer():
                value = int(v)
            if (
                c.sql_type != "text"
                and not isinstance(value, int | float)
                or (c.sql_type == "text" and not isinstance(value, str))
            ):
                raise _invalid(f"Invalid page token, parsed value={list(after)!r}")
            p = self.bind(value, c.sql_type)
            beyond = f"{c.expr} {'>' if c.ascending else '<'} {p}"
            if c.nullable and not c.nulls_first:
                beyond = f"({beyond} OR {c.expr} IS NULL)"
            terms.append(" AND ".join([*equal, beyond]))
            equal.append(f"{c.expr} = {p}")
        self.where.append("(" + " OR ".join(f"({t})" for t in terms) + ")" if terms else "FALSE")


def _pattern(pattern: str) -> str:
    if len(pattern.encode("utf-8")) > _LIKE_LIMIT:
        raise _invalid(f"LIKE pattern too long: at most {_LIKE_LIMIT} bytes are supported")
    return pattern


def _stages(view_type: int) -> list[str]:
    if view_type not in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
        raise _invalid(
            f"Invalid view type '{view_type}': expected ViewType.ACTIVE_ONLY (1), DELETED_ONLY (2) or ALL (3)"
        )
    return LifecycleStage.view_type_to_stages(view_type)


def experiment_keys(experiment_ids: Sequence[str]) -> list[int]:
    """Experiment ids as the integers the tables hold; INVALID_PARAMETER_VALUE naming a bad one."""
    ids = []
    for experiment_id in experiment_ids:
        try:
            n = int(experiment_id)
        except (TypeError, ValueError):
            n = None
        if n is None or not _INT64[0] <= n <= _INT64[1]:
            raise _invalid(f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer.")
        ids.append(n)
    return ids


# -- runs


class _Keys:
    """How a metric, param or tag key is matched in its table: metric keys by their id (resolved up front)."""

    def __init__(self, metric_ids: dict[str, int | None]) -> None:
        self._metric_ids = metric_ids

    def match(self, q: _Query, alias: str, entity: Entity, key: str) -> str:
        if entity is Entity.METRIC:
            return f"{alias}.key_id = {q.bind(self._metric_ids[key], 'int4')}"
        return f"{alias}.key = {q.bind(key, 'text')}"


def _key_value_clause(q: _Query, keys: _Keys, c: Comparison, entity: Entity, key: str) -> str:
    table = _KEY_VALUE_TABLES[entity]
    rows = f"SELECT f.run_key FROM {table} AS f WHERE {keys.match(q, 'f', entity, key)}"
    if c.op is Op.IS_NULL:
        return f"r.run_key NOT IN ({rows})"
    if c.op is Op.IS_NOT_NULL:
        return f"r.run_key IN ({rows})"
    if entity is Entity.METRIC:
        assert isinstance(c.value, float)
        value = f"f.value {_COMPARE[c.op]} {q.bind(c.value, 'float8')}"
        # NaN is stored as 0 with is_nan: it differs from every number and equals none.
        cond = f"(f.is_nan OR {value})" if c.op is Op.NE else f"NOT f.is_nan AND {value}"
    else:
        cond = q.string_predicate("f.value", c.op, c.value)
    return f"r.run_key IN ({rows} AND {cond})"


def _in_list(q: _Query, column: str, sql_type: str, c: Comparison) -> str:
    assert isinstance(c.value, tuple)
    items = q.bind(list(c.value), f"{sql_type}[]")
    return f"{column} <> ALL({items})" if c.op is Op.NOT_IN else f"{column} = ANY({items})"


def _dataset_clause(q: _Query, c: Comparison) -> str:
    """MLflow's ``datasets.name|digest|context <op> value``: some dataset input of the run satisfies it."""
    if c.key == "context":
        column = "t.value"
        source = (
            "run_inputs AS i JOIN input_tags AS t ON t.input_key = i.input_key "
            f"AND t.key = {q.bind(DATASET_CONTEXT_TAG, 'text')}"
        )
    else:
        column = f"d.{'name' if c.key == 'name' else 'digest'}"
        source = "run_inputs AS i JOIN datasets AS d ON d.dataset_key = i.dataset_key"
    if c.op in (Op.IN, Op.NOT_IN):
        cond = _in_list(q, column, "text", c)
    else:
        cond = q.string_predicate(column, c.op, c.value)
    return f"EXISTS (SELECT 1 FROM {source} WHERE i.run_key = r.run_key AND {cond})"


def _run_clause(q: _Query, keys: _Keys, c: Comparison) -> str:
    if c.entity in _KEY_VALUE_TABLES:
        return _key_value_clause(q, keys, c, c.entity, c.key)
    if c.entity is Entity.DATASET:
        return _dataset_clause(q, c)
    if c.key == "run_name":
        return _key_value_clause(q, keys, c, Entity.TAG, _RUN_NAME_TAG)
    column, _, sql_type = _RUN_COLUMNS[c.key]
    if c.op in (Op.IN, Op.NOT_IN):
        return _in_list(q, column, sql_type, c)
    if isinstance(c.value, str):
        return q.string_predicate(column, c.op, c.value)
    assert isinstance(c.value, int | float)
    return f"{column} {_COMPARE[c.op]} {q.bind_number(c.value)}"


def _run_components(q: _Query, keys: _Keys, sort: Sequence[SortKey]) -> list[_Component]:
    """Sort components of ``sort``, LEFT JOINing each metric/param/tag key's row on its primary key."""
    components: list[_Component] = []
    for i, k in enumerate(sort, start=1):
        if k.entity is Entity.ATTRIBUTE:
            column, nullable, sql_type = _RUN_COLUMNS[k.key]
            components.append(_Component(column, sql_type, k.ascending, nullable, k.nulls_first))
            continue
        alias = f"o{i}"
        table = _KEY_VALUE_TABLES[k.entity]
        q.joins.append(
            f"LEFT JOIN {table} AS {alias} ON {alias}.run_key = r.run_key AND "
            + keys.match(q, alias, k.entity, k.key)
        )
        if k.entity is Entity.METRIC:
            rank = f"(CASE WHEN {alias}.run_key IS NULL THEN 2 WHEN {alias}.is_nan THEN 1 ELSE 0 END)"
            value = f"(CASE WHEN {alias}.is_nan THEN 0.0::float8 ELSE {alias}.value END)"
            value = f"coalesce({value}, 0.0::float8)"
            components.append(_Component(rank, "int8", True, False, False))
            components.append(_Component(value, "float8", k.ascending, False, False))
        else:
            components.append(_Component(f"{alias}.value", "text", k.ascending, True, k.nulls_first))
    return components


class _RunSearch:
    """A run search compiled for PostgreSQL, in segments as the embedded store's (see its ``_RunSearch``)."""

    def __init__(
        self,
        clauses: Sequence[Comparison],
        sort: Sequence[SortKey],
        ids: Sequence[int],
        stages: Sequence[str],
        keys: _Keys,
    ) -> None:
        self._clauses = clauses
        self._ids = ids
        self._stages = stages
        self._keys = keys
        first = sort[0]
        self._lead = first if first.entity in _KEY_VALUE_TABLES else None
        self._rest = sort[1:] if self._lead is not None else sort
        if self._lead is None:
            self.segments: tuple[int | None, ...] = (None,)
        else:
            self.segments = (0, 1, 2) if self._lead.entity is Entity.METRIC else (0, 1)
        joined = sum(k.entity in _KEY_VALUE_TABLES for k in sort)
        if joined > _MAX_JOINED_KEYS:
            raise _invalid(
                f"order_by has {joined} metric, param and tag keys; at most {_MAX_JOINED_KEYS} are supported"
            )
        lead_width = 0 if self._lead is None else 2
        self.arity = lead_width + sum(2 if k.entity is Entity.METRIC else 1 for k in self._rest)

    def schedule(
        self, after: Sequence[TokenValue] | None
    ) -> list[tuple[int | None, Sequence[TokenValue] | None]]:
        if self._lead is None:
            return [(None, after)]
        if after is None:
            return [(s, None) for s in self.segments]
        rank = after[0]
        if not isinstance(rank, int) or isinstance(rank, bool) or rank not in self.segments:
            raise _invalid(f"Invalid page token, parsed value={list(after)!r}")
        resume = after[1:] if rank == 0 else after[2:]
        return [(s, resume if s == rank else None) for s in self.segments if s is not None and s >= rank]

    async def can_skip(self, conn: asyncpg.Connection, segment: int | None) -> bool:
        """True if the segment is certainly empty: the NaN segment of a key that has no NaN value."""
        if self._lead is None or self._lead.entity is not Entity.METRIC or segment != 1:
            return False
        q = _Query()
        probe = (
            "SELECT EXISTS (SELECT 1 FROM latest_metrics AS f WHERE "
            f"{self._keys.match(q, 'f', Entity.METRIC, self._lead.key)} AND f.is_nan)"
        )
        return not await conn.fetchval(probe, *q.params)

    def sql(
        self, segment: int | None, after: Sequence[TokenValue] | None, limit: int | None
    ) -> tuple[str, list[object]]:
        q = _Query()
        source = "runs AS r"
        missing = ""
        lead_select: list[str] = []
        lead_order: list[_Component] = []
        if self._lead is not None:
            lead = self._lead
            metric = lead.entity is Entity.METRIC
            table = _KEY_VALUE_TABLES[lead.entity]
            if segment == (2 if metric else 1):
                match = self._keys.match(q, "o0", lead.entity, lead.key)
                present = f"SELECT o0.run_key FROM {table} AS o0 WHERE {match}"
                present += "" if metric else " AND o0.value IS NOT NULL"
                if self._clauses:
                    missing = f"NOT EXISTS ({present} AND o0.run_key = r.run_key)"
                else:
                    missing = f"r.run_key NOT IN ({present})"
                lead_select = [f"{segment}::int8", "0.0::float8" if metric else "NULL::text"]
            else:
                source = f"{table} AS o0 JOIN runs AS r ON r.run_key = o0.run_key"
                q.where.append(self._keys.match(q, "o0", lead.entity, lead.key))
                if metric:
                    q.where.append("o0.is_nan" if segment == 1 else "NOT o0.is_nan")
                else:
                    q.where.append("o0.value IS NOT NULL")
                lead_select = ["0::int8", "o0.value"] if segment == 0 else ["1::int8", "0.0::float8"]
                if segment == 0:
                    sql_type = "float8" if metric else "text"
                    lead_order = [_Component("o0.value", sql_type, lead.ascending, False, False)]
        rest = _run_components(q, self._keys, self._rest)
        q.where.append(f"r.experiment_id = ANY({q.bind(list(self._ids), 'int8[]')})")
        q.where.append(f"r.lifecycle_stage = ANY({q.bind(list(self._stages), 'text[]')})")
        q.where.extend(_run_clause(q, self._keys, c) for c in self._clauses)
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
            + ("" if limit is None else f" LIMIT {q.bind(limit, 'int8')}")
        )
        return sql, q.params


async def _runs_data(conn: asyncpg.Connection, run_keys: list[int]) -> dict[int, RunData]:
    """Latest metrics, params and tags of the given runs, in three queries (keys in sorted order, as the
    embedded store returns them)."""
    data = {k: RunData() for k in run_keys}
    latest: dict[int, list[tuple[str, float, int, int]]] = {k: [] for k in run_keys}
    nan = float("nan")
    for run_key, key, value, is_nan, timestamp, step in await conn.fetch(
        "SELECT l.run_key, k.key, l.value, l.is_nan, l.timestamp, l.step FROM latest_metrics AS l "
        "JOIN metric_keys AS k ON k.key_id = l.key_id WHERE l.run_key = ANY($1::int8[]) ORDER BY 1, 2",
        run_keys,
    ):
        if is_nan:
            value = nan
        data[run_key].metrics[key] = value
        latest[run_key].append((key, value, timestamp, step))
    for run_key, rows in latest.items():
        data[run_key].attach_latest(rows)
    for table in ("params", "tags"):
        for run_key, key, value in await conn.fetch(
            f"SELECT run_key, key, value FROM {table} WHERE run_key = ANY($1::int8[]) ORDER BY 1, 2",
            run_keys,
        ):
            getattr(data[run_key], table)[key] = value
    return data


def _metric_keys(clauses: Sequence[Comparison], sort: Sequence[SortKey]) -> set[str]:
    return {c.key for c in clauses if c.entity is Entity.METRIC} | {
        k.key for k in sort if k.entity is Entity.METRIC
    }


async def search_runs(
    conn: asyncpg.Connection,
    key_ids: KeyIds,
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
    sort = parse_run_order_by(order_by)
    ids = experiment_keys(experiment_ids)
    metric_ids = {k: await key_ids.lookup(conn, k) for k in _metric_keys(clauses, sort)}
    search = _RunSearch(clauses, sort, ids, stages, _Keys(metric_ids))
    scope = repr(("runs", ids, run_view_type, clauses, sort))
    after = decode_page_token(page_token, scope, search.arity)
    schedule = search.schedule(after)
    if not ids:
        return [], None
    want = None if max_results is None else max_results + 1
    rows: list[Any] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for segment, resume in schedule:
            if await search.can_skip(conn, segment):
                continue
            limit = None if want is None else want - len(rows)
            sql, params = search.sql(segment, resume, limit)
            rows.extend(await conn.fetch(sql, *params))
            if want is not None and len(rows) >= want:
                break
        more = max_results is not None and len(rows) > max_results
        rows = rows[:max_results]
        data = await _runs_data(conn, [row[0] for row in rows])
        inputs = await inputs_of_runs(conn, [row[0] for row in rows])
        # As MLflow's search_runs: the runs' model outputs, but not their model inputs.
        outputs = await outputs_of_runs(conn, [row[0] for row in rows])
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
        # IN / NOT IN (subquery), not [NOT] EXISTS: PostgreSQL turns EXISTS into a join, and planning a
        # thousand-clause filter's thousand joins takes minutes; a hashed subplan per clause does not.
        rows = f"SELECT f.experiment_id FROM experiment_tags AS f WHERE f.key = {q.bind(c.key, 'text')}"
        if c.op is Op.IS_NULL:
            return f"e.experiment_id NOT IN ({rows})"
        if c.op is Op.IS_NOT_NULL:
            return f"e.experiment_id IN ({rows})"
        return f"e.experiment_id IN ({rows} AND {q.string_predicate('f.value', c.op, c.value)})"
    column, _, sql_type = _EXPERIMENT_COLUMNS[c.key]
    if c.op in (Op.IN, Op.NOT_IN):
        return _in_list(q, column, sql_type, c)
    if isinstance(c.value, str):
        return q.string_predicate(column, c.op, c.value)
    assert isinstance(c.value, int | float)
    return f"{column} {_COMPARE[c.op]} {q.bind_number(c.value)}"


async def search_experiments(
    conn: asyncpg.Connection,
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
    sort = parse_experiment_order_by(order_by)
    components = [
        _Component(
            _EXPERIMENT_COLUMNS[k.key][0],
            _EXPERIMENT_COLUMNS[k.key][2],
            k.ascending,
            _EXPERIMENT_COLUMNS[k.key][1],
            k.nulls_first,
        )
        for k in sort
    ]
    scope = repr(("experiments", view_type, clauses, sort))
    after = decode_page_token(page_token, scope, len(components))
    q = _Query()
    q.where.append(f"e.lifecycle_stage = ANY({q.bind(stages, 'text[]')})")
    q.where.extend(_experiment_clause(q, c) for c in clauses)
    if after is not None:
        q.keyset(components, after)
    sql = (
        f"SELECT {_EXPERIMENT_SELECT}, {', '.join(c.expr for c in components)} FROM experiments AS e WHERE "
        + _conjunction(q.where)
        + " ORDER BY "
        + ", ".join(c.order_sql() for c in components)
        + f" LIMIT {q.bind(max_results + 1, 'int8')}"
    )
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(sql, *q.params)
        more = len(rows) > max_results
        rows = rows[:max_results]
        tags: dict[int, dict[str, str]] = {row[0]: {} for row in rows}
        for experiment_id, key, value in await conn.fetch(
            "SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id = ANY($1::int8[]) "
            "ORDER BY experiment_id, key",
            list(tags),
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
