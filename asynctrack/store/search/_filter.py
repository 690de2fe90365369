"""Parse MLflow's search filter grammar into :class:`~asynctrack.store.search._ast.Comparison` tuples.

Grammar (MLflow has AND only, so a filter is a flat conjunction)::

    filter      := [clause (AND clause)*]            -- stray leading/trailing/doubled ANDs are ignored,
                                                        as MLflow (via sqlparse) ignores them
    clause      := identifier comparator value
                 | identifier [NOT] IN '(' literal (',' literal)* [','] ')'
                 | identifier IS [NOT] NULL
    identifier  := name                               -- an attribute: status, run_name, `run name`...
                 | name '.' key                       -- metrics.x, params."a b", tags.mlflow.runName
    key         := part ('.' part)* | `...` | "..." | '...'
    comparator  := = | != | < | <= | > | >= | LIKE | ILIKE      (keywords are case-insensitive)
    literal     := number | '...' | "..."

Parsing happens in two steps: syntax first (any misplaced token is reported with its 1-based position),
then MLflow's rules per entity (which prefixes, attribute keys, comparators and value types are allowed),
with MLflow's own messages for those cases so existing callers see familiar errors. The checks run in
MLflow's order: identifier, then value type, then comparator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from asynctrack._int64 import INT64_RANGE as _INT64
from asynctrack.store.search._ast import Comparison, Entity, Op
from asynctrack.store.search._lexer import Kind, Token, invalid, tokenize, unexpected

__all__ = [
    "EXPERIMENT_ATTRIBUTES",
    "RUN_ORDER_ATTRIBUTES",
    "Identifier",
    "attribute_alias",
    "experiment_entity",
    "fmt_set",
    "parse_experiment_filter",
    "parse_run_filter",
    "read_identifier",
    "run_entity",
]

_RUN_PREFIXES = {
    "metric": Entity.METRIC,
    "metrics": Entity.METRIC,
    "parameter": Entity.PARAM,
    "parameters": Entity.PARAM,
    "param": Entity.PARAM,
    "params": Entity.PARAM,
    "tag": Entity.TAG,
    "tags": Entity.TAG,
    "attribute": Entity.ATTRIBUTE,
    "attributes": Entity.ATTRIBUTE,
    "attr": Entity.ATTRIBUTE,
    "run": Entity.ATTRIBUTE,
    "dataset": Entity.DATASET,
    "datasets": Entity.DATASET,
}
# MLflow's code accepts only attribute/tag/tags here; its documentation uses "attributes.name", so we take
# that too.
_EXPERIMENT_PREFIXES = {
    "attribute": Entity.ATTRIBUTE,
    "attributes": Entity.ATTRIBUTE,
    "tag": Entity.TAG,
    "tags": Entity.TAG,
}
_ALIASES = {"created": "start_time", "Created": "start_time"}
_NAME_ALIASES = {"run name": "run_name", "Run name": "run_name", "Run Name": "run_name"}
_RUN_NUMERIC = frozenset({"start_time", "end_time", "created", "Created"})
RUN_ORDER_ATTRIBUTES = frozenset(
    {"run_id", "run_name", "status", "start_time", "end_time", "artifact_uri", "user_id", *_ALIASES}
)
_RUN_SEARCH_ATTRIBUTES = RUN_ORDER_ATTRIBUTES | frozenset(_NAME_ALIASES)
_DATASET_KEYS = frozenset({"name", "digest", "context"})
EXPERIMENT_ATTRIBUTES = frozenset({"name", "experiment_id", "creation_time", "last_update_time"})
_EXPERIMENT_NUMERIC = frozenset({"creation_time", "last_update_time"})

_NUMERIC_OPS = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
_STRING_OPS = frozenset({Op.EQ, Op.NE, Op.LIKE, Op.ILIKE})
_KEY_VALUE_OPS = _STRING_OPS | {Op.IS_NULL, Op.IS_NOT_NULL}
_LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
_INTEGER = re.compile(r"-?\d+")


def fmt_set(items: Iterable[object]) -> str:
    """A set as MLflow prints it in messages, but in a stable order."""
    return "{" + ", ".join(repr(str(x)) for x in sorted(str(i) for i in items)) + "}"


def attribute_alias(key: str) -> str:
    """The canonical attribute name for one of MLflow's aliases (``created``, ``Run Name``...)."""
    return _ALIASES.get(key) or _NAME_ALIASES.get(key) or key


@dataclass(frozen=True, slots=True)
class Identifier:
    """``prefix.key`` as written (``prefix`` is None for a bare attribute name); ``pos`` is 0-based."""

    prefix: str | None
    key: str
    pos: int


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple[Token, ...]
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Clause:
    ident: Identifier
    op: str
    value: Token | _List | None


def _is_word(token: Token, *words: str) -> bool:
    return token.kind is Kind.WORD and token.value.upper() in words


def read_identifier(tokens: list[Token], i: int, source: str, what: str) -> tuple[Identifier, int]:
    """Read ``name`` or ``name.key`` starting at ``tokens[i]``; returns it and the next index."""
    head = tokens[i]
    if head.kind not in (Kind.WORD, Kind.DQUOTED, Kind.BACKTICK) or _is_word(head, "AND", "OR", "NOT"):
        raise unexpected(what, source, head.text, head.pos, " (expected a name such as metrics.<key>)")
    i += 1
    if tokens[i].kind is not Kind.DOT:
        return Identifier(None, head.value, head.pos), i
    i += 1
    part = tokens[i]
    if not part.glued or part.kind not in (Kind.WORD, Kind.STRING, Kind.DQUOTED, Kind.BACKTICK):
        raise unexpected(what, source, part.text, part.pos, f" (expected a key after '{head.text}.')")
    if part.kind is not Kind.WORD:
        return Identifier(head.value, part.value, head.pos), i + 1
    parts = [part.value]
    i += 1
    while tokens[i].kind is Kind.DOT:
        nxt = tokens[i + 1]
        if nxt.kind is not Kind.WORD or not nxt.glued:
            raise unexpected(what, source, nxt.text, nxt.pos, " (expected a key part after '.')")
        parts.append(nxt.value)
        i += 2
    return Identifier(head.value, ".".join(parts), head.pos), i


def run_entity(prefix: str | None) -> Entity:
    """The entity a run-search prefix names (MLflow's names are case-sensitive)."""
    if prefix is None:
        return Entity.ATTRIBUTE
    try:
        return _RUN_PREFIXES[prefix]
    except KeyError:
        raise invalid(
            f"Invalid entity type '{prefix}'. Valid values are "
            "['metric', 'parameter', 'tag', 'attribute', 'dataset']"
        ) from None


def experiment_entity(prefix: str | None) -> Entity:
    """The entity an experiment-search prefix names."""
    if prefix is None:
        return Entity.ATTRIBUTE
    try:
        return _EXPERIMENT_PREFIXES[prefix]
    except KeyError:
        raise invalid(
            f"Invalid entity type '{prefix}'. "
            "Valid entity types are ('attribute', 'attributes', 'tag', 'tags')"
        ) from None


# -- syntax


def _read_list(tokens: list[Token], i: int, source: str) -> tuple[_List, int]:
    start = tokens[i]
    if start.kind is not Kind.LPAREN:
        raise unexpected("filter", source, start.text, start.pos, " (expected '(' to start a list)")
    i += 1
    items: list[Token] = []
    while tokens[i].kind is not Kind.RPAREN:
        item = tokens[i]
        if item.kind not in (Kind.STRING, Kind.DQUOTED, Kind.NUMBER, Kind.WORD, Kind.BACKTICK):
            raise unexpected("filter", source, item.text, item.pos, " (expected a quoted string in the list)")
        items.append(item)
        i += 1
        sep = tokens[i]
        if sep.kind is Kind.COMMA:
            i += 1
        elif sep.kind is not Kind.RPAREN:
            raise unexpected("filter", source, sep.text, sep.pos, " (expected ',' or ')')")
    end = tokens[i]
    return _List(tuple(items), source[start.pos : end.pos + 1], start.pos), i + 1


def _read_clause(tokens: list[Token], i: int, source: str) -> tuple[_Clause, int]:
    ident, i = read_identifier(tokens, i, source, "filter")
    t = tokens[i]
    if t.kind is Kind.OP or _is_word(t, "LIKE", "ILIKE"):
        op = t.value.upper()
        v = tokens[i + 1]
        if v.kind is Kind.LPAREN:
            value, i = _read_list(tokens, i + 1, source)
            return _Clause(ident, op, value), i
        if v.kind not in (Kind.NUMBER, Kind.STRING, Kind.DQUOTED, Kind.BACKTICK, Kind.WORD) or _is_word(
            v, "AND", "OR"
        ):
            raise unexpected("filter", source, v.text, v.pos, " (expected a value)")
        return _Clause(ident, op, v), i + 2
    if _is_word(t, "IN"):
        value, i = _read_list(tokens, i + 1, source)
        return _Clause(ident, "IN", value), i
    if _is_word(t, "NOT"):
        if not _is_word(tokens[i + 1], "IN"):
            nxt = tokens[i + 1]
            raise unexpected("filter", source, nxt.text, nxt.pos, " (expected IN after NOT)")
        value, i = _read_list(tokens, i + 2, source)
        return _Clause(ident, "NOT IN", value), i
    if _is_word(t, "IS"):
        negated = _is_word(tokens[i + 1], "NOT")
        j = i + 2 if negated else i + 1
        if not _is_word(tokens[j], "NULL"):
            raise unexpected("filter", source, tokens[j].text, tokens[j].pos, " (expected NULL)")
        return _Clause(ident, "IS NOT NULL" if negated else "IS NULL", None), j + 1
    raise unexpected(
        "filter", source, t.text, t.pos, " (expected a comparator: =, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS)"
    )


def _clauses(source: str) -> list[_Clause]:
    tokens = tokenize(source, "filter")
    clauses: list[_Clause] = []
    i = 0
    need_and = False
    while tokens[i].kind is not Kind.END:
        t = tokens[i]
        if _is_word(t, "AND"):
            need_and = False
            i += 1
            continue
        if _is_word(t, "OR"):
            raise invalid(
                f"Invalid clause(s) in filter string: 'OR' (at position {t.pos + 1} of {source!r}); "
                "search filters combine clauses with AND only"
            )
        if need_and:
            raise unexpected("filter", source, t.text, t.pos, " (expected AND between clauses)")
        clause, i = _read_clause(tokens, i, source)
        clauses.append(clause)
        need_and = True
    return clauses


# -- values, checked the way MLflow checks them


def _raw(value: Token | _List | None) -> str:
    if value is None:
        return "None"
    return value.text


def _number(token: Token) -> int | float:
    if _INTEGER.fullmatch(token.text):
        n = int(token.text)
        # Out of the 64-bit range no stored time or id can equal it; compare as a float instead.
        return n if _INT64[0] <= n <= _INT64[1] else float(n)
    return float(token.text)


def _string(value: Token | _List | None, entity_name: str) -> str:
    """A quoted string value (single or double quotes), or MLflow's error for anything else."""
    if isinstance(value, Token) and value.kind in (Kind.STRING, Kind.DQUOTED):
        return value.value
    if isinstance(value, Token) and value.kind in (Kind.WORD, Kind.BACKTICK):
        raise invalid(
            "Parameter value is either not quoted or unidentified quote types used for string value "
            f"{value.text}. Use either single or double quotes."
        )
    if entity_name == "attributes":
        raise invalid(f"Expected a quoted string value for attributes. Got value {_raw(value)}")
    raise invalid(
        f"Expected a quoted string value for {entity_name} (e.g. 'my-value'). Got value {_raw(value)}"
    )


def _string_list(value: _List) -> tuple[str, ...]:
    if not value.items:
        raise invalid(
            "While parsing a list in the query, expected a non-empty list of string values, "
            "but got empty list"
        )
    if any(t.kind not in (Kind.STRING, Kind.DQUOTED) for t in value.items):
        raise invalid(
            "While parsing a list in the query, expected string value, punctuation, or whitespace, but got "
            f"different type in list: {value.text}"
        )
    return tuple(t.value for t in value.items)


def _op(clause: _Clause, allowed: frozenset[Op]) -> Op:
    try:
        op = Op(clause.op)
    except ValueError:
        op = None
    if op is None or op not in allowed:
        raise invalid(f"Invalid comparator '{clause.op}' not one of '{fmt_set(o.value for o in allowed)}'")
    return op


def _list_op(clause: _Clause) -> Op:
    if clause.op not in ("IN", "NOT IN"):
        raise invalid(f"Invalid comparator '{clause.op}' for the list {_raw(clause.value)}: use IN or NOT IN")
    return Op(clause.op)


def _null_check(clause: _Clause, entity: Entity, key: str, experiments: bool) -> None:
    """MLflow's IS [NOT] NULL rule: runs allow it on params and tags, experiments on tags."""
    allowed = (Entity.TAG,) if experiments else (Entity.PARAM, Entity.TAG)
    if clause.op in ("IS NULL", "IS NOT NULL") and entity not in allowed:
        if experiments:
            raise invalid(f"IS NULL / IS NOT NULL is only supported for tags, not for attribute '{key}'")
        raise invalid(
            f"IS NULL / IS NOT NULL is only supported for tags and params, not for '{entity.value}' '{key}'"
        )


def _run_comparison(clause: _Clause) -> Comparison:
    ident = clause.ident
    entity = run_entity(ident.prefix)
    key = ident.key
    pos = ident.pos
    if entity is Entity.ATTRIBUTE and key not in _RUN_SEARCH_ATTRIBUTES:
        raise invalid(
            f"Invalid attribute key '{key}' specified. Valid keys are '{fmt_set(_RUN_SEARCH_ATTRIBUTES)}'"
        )
    if entity is Entity.DATASET and key not in _DATASET_KEYS:
        raise invalid(f"Invalid dataset key '{key}' specified. Valid keys are '{fmt_set(_DATASET_KEYS)}'")
    _null_check(clause, entity, key, experiments=False)
    value = clause.value
    if clause.op in ("IS NULL", "IS NOT NULL"):
        return Comparison(entity, key, Op(clause.op), None, pos)
    if entity is Entity.METRIC:
        if not (isinstance(value, Token) and value.kind is Kind.NUMBER):
            raise invalid(f"Expected numeric value type for metric. Found {_raw(value)}")
        return Comparison(entity, key, _op(clause, _NUMERIC_OPS), float(value.text), pos)
    if entity in (Entity.PARAM, Entity.TAG):
        text = _string(value, entity.value)
        return Comparison(entity, key, _op(clause, _KEY_VALUE_OPS), text, pos)
    if entity is Entity.DATASET:
        if isinstance(value, _List):
            items = _string_list(value)
            return Comparison(entity, key, _list_op(clause), items, pos)
        text = _string(value, "attributes")
        return Comparison(entity, key, _op(clause, _STRING_OPS), text, pos)
    # attributes
    if key in _RUN_NUMERIC:
        if not (isinstance(value, Token) and value.kind is Kind.NUMBER):
            raise invalid(f"Expected numeric value type for numeric attribute: {key}. Found {_raw(value)}")
        return Comparison(entity, attribute_alias(key), _op(clause, _NUMERIC_OPS), _number(value), pos)
    if isinstance(value, _List):
        if key != "run_id":
            raise invalid(
                "Only ['run_id'] attributes support comparison with a list of quoted string values."
            )
        items = _string_list(value)
        return Comparison(entity, key, _list_op(clause), items, pos)
    text = _string(value, "attributes")
    return Comparison(entity, attribute_alias(key), _op(clause, _STRING_OPS), text, pos)


def _experiment_id(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise invalid(f"Invalid experiment ID '{text}'. Experiment ID must be a valid integer.") from None
    if not _INT64[0] <= n <= _INT64[1]:
        raise invalid(f"Invalid experiment ID '{text}'. Experiment ID must be a valid integer.")
    return n


def _experiment_comparison(clause: _Clause) -> Comparison:
    ident = clause.ident
    entity = experiment_entity(ident.prefix)
    key = ident.key
    pos = ident.pos
    if entity is Entity.ATTRIBUTE and key not in EXPERIMENT_ATTRIBUTES:
        raise invalid(
            f"Invalid attribute key '{key}' specified. Valid keys are '{fmt_set(EXPERIMENT_ATTRIBUTES)}'"
        )
    _null_check(clause, entity, key, experiments=True)
    value = clause.value
    if clause.op in ("IS NULL", "IS NOT NULL"):
        return Comparison(entity, key, Op(clause.op), None, pos)
    if entity is Entity.TAG:
        text = _string(value, "tag")
        return Comparison(entity, key, _op(clause, _KEY_VALUE_OPS), text, pos)
    if key in _EXPERIMENT_NUMERIC:
        if not (isinstance(value, Token) and value.kind is Kind.NUMBER):
            raise invalid(f"Expected numeric value type for numeric attribute: {key}. Found {_raw(value)}")
        op = _op(clause, _NUMERIC_OPS)
        number = _number(value)
        if isinstance(number, float):
            raise invalid(f"Invalid value for numeric attribute '{key}': {value.text!r}")
        return Comparison(entity, key, op, number, pos)
    if isinstance(value, _List):
        if key != "experiment_id":
            raise invalid(
                "Only ['experiment_id'] attributes support comparison with a list of quoted string values."
            )
        ids = tuple(_experiment_id(s) for s in _string_list(value))
        return Comparison(entity, key, _list_op(clause), ids, pos)
    text = _string(value, "attributes")
    if key == "experiment_id":
        if clause.op not in ("=", "!="):
            raise invalid(f"Invalid comparator for experiment_id: {clause.op}")
        return Comparison(entity, key, Op(clause.op), _experiment_id(text), pos)
    return Comparison(entity, key, _op(clause, _STRING_OPS), text, pos)


def parse_run_filter(filter_string: str | None) -> tuple[Comparison, ...]:
    """The clauses of a ``search_runs`` filter; empty for no filter. Raises INVALID_PARAMETER_VALUE."""
    if not filter_string:
        return ()
    return tuple(_run_comparison(c) for c in _clauses(filter_string))


def parse_experiment_filter(filter_string: str | None) -> tuple[Comparison, ...]:
    """The clauses of a ``search_experiments`` filter; empty for no filter."""
    if not filter_string:
        return ()
    return tuple(_experiment_comparison(c) for c in _clauses(filter_string))
