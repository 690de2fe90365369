"""``search_logged_models``: MLflow 3.17.2's filter grammar, order_by and page tokens, compiled to SQL.

The grammar is MLflow's (``mlflow/utils/search_logged_model_utils.py``): comparisons joined by ``AND``;
an identifier is ``metrics.<key>``, ``params.<key>``, ``tags.<key>``, ``attributes.<name>`` or a bare
attribute name (``creation_time`` and ``creation_timestamp`` mean ``creation_timestamp_ms``,
``last_updated_timestamp`` means ``last_updated_timestamp_ms``). Metrics and the two timestamps are numeric
(``< <= > >= = !=``); everything else is a string (``= != LIKE ILIKE IN NOT IN``). ``order_by`` is a list
of ``{"field_name", "ascending", "dataset_name", "dataset_digest"}``: an attribute, or ``metrics.<key>``
ordered by the model's latest value of that metric (latest timestamp, then step; optionally on one
dataset); NULLs sort last and ``creation_timestamp_ms`` descending breaks ties. Page tokens are MLflow's
(base64 JSON holding the offset and the query, which a later page must repeat).

Where MLflow answers a bad filter with a server error (an unknown attribute, a non-numeric value for a
metric), asynctrack answers INVALID_PARAMETER_VALUE naming the value: a client's input never gives a 500.

The compiler is shared by the SQLite and PostgreSQL stores; a :class:`Dialect` supplies placeholders and
the LIKE forms (SQLite: GLOB for case-sensitive LIKE; PostgreSQL: LIKE ... COLLATE "C").
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store.search._filter import _clauses, _List
from asynctrack.store.search._lexer import Kind, Token

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "LOGGED_MODEL_MAX_RESULTS_DEFAULT",
    "Dialect",
    "LoggedModelQuery",
    "compile_search",
    "decode_page_token",
    "encode_page_token",
    "parse_logged_model_filter",
]

LOGGED_MODEL_MAX_RESULTS_DEFAULT = 100  # MLflow's SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT

#: MLflow's SqlLoggedModel columns (the names filters and order_by may use), and which are numeric.
ATTRIBUTE_COLUMNS = (
    "model_id",
    "experiment_id",
    "name",
    "artifact_location",
    "creation_timestamp_ms",
    "last_updated_timestamp_ms",
    "status",
    "lifecycle_stage",
    "model_type",
    "source_run_id",
    "status_message",
)
_NUMERIC = frozenset({"creation_timestamp_ms", "last_updated_timestamp_ms"})
_ALIASES = {
    "creation_time": "creation_timestamp_ms",
    "creation_timestamp": "creation_timestamp_ms",
    "last_updated_timestamp": "last_updated_timestamp_ms",
}
_INTEGER_STRINGS = frozenset({"experiment_id", "status"})  # integer columns MLflow filters as strings
_ENTITIES = ("attributes", "metrics", "params", "tags")
_NUMERIC_OPS = ("<", "<=", ">", ">=", "=", "!=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


@dataclass(frozen=True)
class Comparison:
    """``entity.key op value``: entity one of attributes/metrics/params/tags, value a float, a str or a
    tuple of str (IN / NOT IN)."""

    entity: str
    key: str
    op: str
    value: float | str | tuple[str, ...]


def _entity(prefix: str | None, key: str) -> tuple[str, str]:
    if prefix is None:
        return "attributes", _ALIASES.get(key, key)
    if prefix not in _ENTITIES:
        raise _invalid(f"Invalid entity type: {prefix!r}. Expected one of {list(_ENTITIES)}.")
    return prefix, key


def _value(entity: str, key: str, op: str, value: Token | _List | None, source: str) -> Any:
    numeric = entity == "metrics" or (entity == "attributes" and _ALIASES.get(key, key) in _NUMERIC)
    ops = _NUMERIC_OPS if numeric else _STRING_OPS
    if op not in ops:
        # MLflow's message lists the string operators whatever the entity.
        raise _invalid(
            f"Invalid comparison operator for {entity}.{key}: {op!r}. Expected one of {_STRING_OPS}."
        )
    if isinstance(value, _List):
        if any(t.kind not in (Kind.STRING, Kind.DQUOTED) for t in value.items) or not value.items:
            raise _invalid(f"Invalid filter string: {source!r}. Expected a non-empty list of quoted strings.")
        return tuple(t.value for t in value.items)
    assert value is not None
    if numeric:
        try:
            return float(value.value if value.kind is not Kind.NUMBER else value.text)
        except ValueError:
            raise _invalid(
                f"Invalid filter string: {source!r}. Expected a number for {entity}.{key}, got {value.text}."
            ) from None
    if op in ("IN", "NOT IN"):
        raise _invalid(f"Invalid filter string: {source!r}. Expected a list of quoted strings after {op}.")
    return value.value


def parse_logged_model_filter(filter_string: str | None) -> list[Comparison]:
    """The comparisons of ``filter_string`` (none when empty), or INVALID_PARAMETER_VALUE naming it."""
    if not filter_string:
        return []
    out: list[Comparison] = []
    for clause in _clauses(filter_string):
        if clause.op in ("IS NULL", "IS NOT NULL"):
            raise _invalid(
                f"Invalid filter string: {filter_string!r}. Expected a list of comparisons separated by "
                "'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01')."
            )
        entity, key = _entity(clause.ident.prefix, clause.ident.key)
        if entity == "attributes" and key not in ATTRIBUTE_COLUMNS:
            raise _invalid(
                f"Invalid attribute key {key!r} in filter string {filter_string!r}. "
                f"Valid keys are {list(ATTRIBUTE_COLUMNS)} (and creation_time, creation_timestamp, "
                "last_updated_timestamp)."
            )
        out.append(
            Comparison(entity, key, clause.op, _value(entity, key, clause.op, clause.value, filter_string))
        )
    return out


# -- order_by


def check_order_by(order_by: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """MLflow's order_by dicts, checked: an attribute column (or alias) or ``metrics.<key>``."""
    out: list[dict[str, Any]] = []
    for ob in order_by or []:
        name = ob.get("field_name")
        if not isinstance(name, str) or not name:
            raise _invalid(f"Invalid order by field name: {name}")
        if "." not in name:
            if _ALIASES.get(name, name) not in ATTRIBUTE_COLUMNS:
                raise _invalid(f"Invalid order by field name: {name}")
        elif name.split(".", 1)[0] != "metrics":
            raise _invalid(f"Invalid order by field name: {name}. Only metrics are supported.")
        out.append(
            {
                "field_name": name,
                "ascending": ob.get("ascending", True) is not False,
                "dataset_name": ob.get("dataset_name") or None,
                "dataset_digest": ob.get("dataset_digest") or None,
            }
        )
    return out


# -- page tokens


def encode_page_token(
    experiment_ids: Sequence[str],
    filter_string: str | None,
    order_by: list[dict[str, Any]] | None,
    offset: int,
) -> str:
    body = {
        "experiment_ids": list(experiment_ids),
        "filter_string": filter_string,
        "order_by": order_by,
        "offset": offset,
    }
    return base64.b64encode(json.dumps(body).encode("utf-8")).decode("utf-8")


def decode_page_token(
    token: str,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    order_by: list[dict[str, Any]] | None,
) -> int:
    """The offset a page token holds, after checking it was made for the same query (MLflow's messages)."""
    try:
        body = json.loads(base64.b64decode(token.encode("utf-8"), validate=False).decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise _invalid(f"Invalid page token: {token}. {exc}") from None
    if not isinstance(body, dict):
        raise _invalid(f"Invalid page token: {token}.")
    if body.get("experiment_ids") != list(experiment_ids):
        raise _invalid(
            "Experiment IDs in the page token do not match the requested experiment IDs. "
            f"Expected: {list(experiment_ids)}. Found: {body.get('experiment_ids')}"
        )
    if (body.get("filter_string") or None) != filter_string:
        raise _invalid(
            "Filter string in the page token does not match the requested filter string. "
            f"Expected: {filter_string}. Found: {body.get('filter_string')}"
        )
    if (body.get("order_by") or None) != (order_by or None):
        raise _invalid(
            "Order by in the page token does not match the requested order by. "
            f"Expected: {order_by}. Found: {body.get('order_by')}"
        )
    offset = body.get("offset") or 0
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise _invalid(f"Invalid page token: {token}. offset {offset!r} is not a non-negative integer.")
    return offset


# -- SQL


class Dialect(Protocol):
    """What differs between SQLite and PostgreSQL: placeholders, LIKE and ILIKE."""

    def bind(self, value: object) -> str: ...

    def like(self, column: str, pattern: str) -> str: ...

    def ilike(self, column: str, pattern: str) -> str: ...


@dataclass
class LoggedModelQuery:
    """``SELECT model_id FROM logged_models m ... WHERE ... ORDER BY ... LIMIT/OFFSET`` and its order."""

    sql: str
    ctes: list[str] = field(default_factory=list)


_TABLES = {
    "params": ("logged_model_params", "param_key", "param_value"),
    "tags": ("logged_model_tags", "tag_key", "tag_value"),
}


def _predicate(d: Dialect, column: str, op: str, value: Any) -> str:
    if op == "LIKE":
        return d.like(column, value)
    if op == "ILIKE":
        return d.ilike(column, value)
    if op in ("IN", "NOT IN"):
        items = ", ".join(d.bind(v) for v in value)
        return f"{column} {op} ({items})"
    return f"{column} {'<>' if op == '!=' else op} {d.bind(value)}"


def compile_search(
    d: Dialect,
    experiment_ids: Sequence[int],
    comparisons: Sequence[Comparison],
    datasets: Sequence[Mapping[str, Any]] | None,
    order_by: Sequence[Mapping[str, Any]],
    limit: int,
    offset: int,
) -> str:
    """SQL selecting the ``model_id`` of one page, in order (MLflow's semantics, see the module doc)."""
    # The joins bind first: positional placeholders follow the order of the SQL text.
    joins: list[str] = []
    order: list[str] = []
    has_creation = False
    for i, ob in enumerate(order_by):
        name = ob["field_name"]
        direction = "ASC" if ob.get("ascending", True) else "DESC"
        if "." not in name:
            col = _ALIASES.get(name, name)
            has_creation = has_creation or col == "creation_timestamp_ms"
            expr = f"m.{col}"
        else:
            key = name.split(".", 1)[1]
            terms = [f"metric_name = {d.bind(key)}"]
            if ob.get("dataset_name"):
                terms.append(f"dataset_name = {d.bind(ob['dataset_name'])}")
            if ob.get("dataset_digest"):
                terms.append(f"dataset_digest = {d.bind(ob['dataset_digest'])}")
            alias = f"o{i}"
            joins.append(
                f"LEFT JOIN (SELECT model_id, metric_value FROM (SELECT model_id, metric_value, RANK() OVER "
                f"(PARTITION BY model_id, metric_name ORDER BY metric_timestamp_ms DESC, metric_step DESC) "
                f"AS rk FROM logged_model_metrics WHERE {' AND '.join(terms)}) r{i} WHERE rk = 1) {alias} "
                f"ON {alias}.model_id = m.model_id"
            )
            expr = f"{alias}.metric_value"
        order.append(f"CASE WHEN {expr} IS NULL THEN 1 ELSE 0 END ASC")
        order.append(f"{expr} {direction}")
    where = [
        "m.lifecycle_stage <> 'deleted'",
        f"m.experiment_id IN ({', '.join(d.bind(int(e)) for e in experiment_ids) or 'NULL'})",
    ]

    def any_dataset() -> str:
        """The datasets clause, bound afresh where it is used (positional placeholders follow the text).
        A ``dataset_digest`` key holding None matches NULL digests only, as in MLflow (whose server
        always passes the key)."""
        terms = []
        for ds in datasets or []:
            term = f"mm.dataset_name = {d.bind(ds['dataset_name'])}"
            if "dataset_digest" in ds:
                digest = ds["dataset_digest"]
                term += " AND mm.dataset_digest " + ("IS NULL" if digest is None else f"= {d.bind(digest)}")
            terms.append(f"({term})")
        return " OR ".join(terms)

    has_metric = False
    for c in comparisons:
        if c.entity == "attributes":
            # Integer columns compared as text: a string filter value never makes PostgreSQL fail.
            column = f"CAST(m.{c.key} AS TEXT)" if c.key in _INTEGER_STRINGS else f"m.{c.key}"
            where.append(_predicate(d, column, c.op, c.value))
        elif c.entity == "metrics":
            has_metric = True
            terms = [
                "mm.model_id = m.model_id",
                f"mm.metric_name = {d.bind(c.key)}",
                _predicate(d, "mm.metric_value", c.op, c.value),
            ]
            if datasets:
                terms.append(f"({any_dataset()})")
            where.append(f"EXISTS (SELECT 1 FROM logged_model_metrics mm WHERE {' AND '.join(terms)})")
        else:
            table, kcol, vcol = _TABLES[c.entity]
            where.append(
                f"EXISTS (SELECT 1 FROM {table} x WHERE x.model_id = m.model_id AND x.{kcol} = "
                f"{d.bind(c.key)} AND {_predicate(d, 'x.' + vcol, c.op, c.value)})"
            )
    if datasets and not has_metric:
        where.append(
            "EXISTS (SELECT 1 FROM logged_model_metrics mm WHERE mm.model_id = m.model_id "
            f"AND ({any_dataset()}))"
        )

    if not has_creation:
        order.append("m.creation_timestamp_ms DESC")
    order.append("m.model_id ASC")  # a stable order for equal rows, so pages neither skip nor repeat
    return (
        f"SELECT m.model_id FROM logged_models m {' '.join(joins)} WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(order)} LIMIT {int(limit)} OFFSET {int(offset)}"
    )
