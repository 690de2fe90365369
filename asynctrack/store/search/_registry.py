"""MLflow's model-registry search grammar: filters and ``order_by`` of ``search_registered_models`` and
``search_model_versions``, and their offset page tokens.

Both filters are conjunctions of clauses on attributes or tags (the tokenizer and clause syntax are the
run filter's, ``_filter.py``); the rules per entity are MLflow's, with its messages:

- registered models: ``name`` (``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IN``, ``NOT IN``) and ``tags.<key>``
  (``=``, ``!=``, ``LIKE``, ``ILIKE``); ``order_by`` on ``name``, ``creation_timestamp``,
  ``last_updated_timestamp`` (alias ``timestamp``), then ``name ASC``;
- model versions: ``name`` and ``run_id`` (string comparators, lists too), ``source_path`` (string
  comparators), ``version_number`` (numeric comparators, an integer) and ``tags.<key>``; ``order_by`` on
  ``name``, ``version_number``, ``creation_timestamp``, ``last_updated_timestamp``, then ``name ASC`` and
  ``version_number DESC``; without ``order_by``, ``last_updated_timestamp DESC`` first.

A page token is MLflow's: base64 of ``{"offset": n}``, so tokens from either server page the other.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from asynctrack._int64 import INT64_MAX, INT64_MIN
from asynctrack.store.search._ast import Comparison, Entity, Op, SortKey
from asynctrack.store.search._filter import Identifier, _clauses, _List, _string, _string_list
from asynctrack.store.search._lexer import Kind, Token, invalid
from asynctrack.store.search._order import _clause as _order_clause

__all__ = [
    "MODEL_VERSION_MAX_RESULTS_DEFAULT",
    "MODEL_VERSION_MAX_RESULTS_THRESHOLD",
    "REGISTERED_MODEL_MAX_RESULTS_DEFAULT",
    "REGISTERED_MODEL_MAX_RESULTS_THRESHOLD",
    "decode_offset_token",
    "encode_offset_token",
    "parse_model_version_filter",
    "parse_model_version_order_by",
    "parse_registered_model_filter",
    "parse_registered_model_order_by",
]

REGISTERED_MODEL_MAX_RESULTS_DEFAULT = 100
REGISTERED_MODEL_MAX_RESULTS_THRESHOLD = 1000
MODEL_VERSION_MAX_RESULTS_DEFAULT = 10_000
MODEL_VERSION_MAX_RESULTS_THRESHOLD = 200_000

_PREFIXES = {"attribute": Entity.ATTRIBUTE, "tag": Entity.TAG, "tags": Entity.TAG}
_STRING_OPS = {"=": Op.EQ, "!=": Op.NE, "LIKE": Op.LIKE, "ILIKE": Op.ILIKE}
_LIST_OPS = {"IN": Op.IN, "NOT IN": Op.NOT_IN}
_NUMERIC_OPS = {"=": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}
_MODEL_ATTRIBUTES = ("name",)
_VERSION_ATTRIBUTES = ("name", "version_number", "run_id", "source_path")
_VERSION_LIST_KEYS = ("name", "run_id")
_MODEL_ORDER = ("name", "creation_timestamp", "last_updated_timestamp", "timestamp")
_VERSION_ORDER = ("name", "version_number", "creation_timestamp", "last_updated_timestamp")


def _pyset(items: Sequence[str]) -> str:
    """A set of names as MLflow's messages print a Python set (sorted here, so messages are stable)."""
    return "{" + ", ".join(repr(i) for i in sorted(items)) + "}"


def _entity(ident: Identifier, attributes: Sequence[str]) -> Entity:
    if ident.prefix is None:
        entity = Entity.ATTRIBUTE
    else:
        found = _PREFIXES.get(ident.prefix)
        if found is None:
            raise invalid(
                f"Invalid entity type '{ident.prefix}'. Valid entity types are ('attribute', 'tag', 'tags')"
            )
        entity = found
    if entity is Entity.ATTRIBUTE and ident.key not in attributes:
        raise invalid(f"Invalid attribute key '{ident.key}' specified. Valid keys are '{_pyset(attributes)}'")
    return entity


def _tag(ident: Identifier, op: str, value: Token | _List | None) -> Comparison:
    if op not in _STRING_OPS:
        raise invalid(f"Invalid comparator for tag: {op}")
    return Comparison(Entity.TAG, ident.key, _STRING_OPS[op], _string(value, "tag"), ident.pos)


def _string_attribute(
    ident: Identifier, op: str, value: Token | _List | None, lists: Sequence[str]
) -> Comparison:
    if isinstance(value, _List):
        if ident.key not in lists:
            raise invalid(f"Invalid comparator for attribute: {op}")
        if op not in _LIST_OPS:
            raise invalid(f"Invalid comparator for attribute: {op}")
        return Comparison(Entity.ATTRIBUTE, ident.key, _LIST_OPS[op], _string_list(value), ident.pos)
    if isinstance(value, Token) and value.kind is Kind.NUMBER:
        raise invalid(
            "Only the '{'creation_timestamp', 'last_updated_timestamp', 'version_number'}' attributes "
            "support comparison with numeric values."
        )
    if op not in _STRING_OPS:
        raise invalid(f"Invalid comparator for attribute: {op}")
    if value is None:
        raise invalid("Expected a quoted string value or a list of quoted string values for attributes.")
    return Comparison(Entity.ATTRIBUTE, ident.key, _STRING_OPS[op], _string(value, "attributes"), ident.pos)


def _version_number(ident: Identifier, op: str, value: Token | _List | None) -> Comparison:
    if op not in _NUMERIC_OPS:
        raise invalid(f"Invalid comparator for attribute {ident.key}: {op}")
    if isinstance(value, Token) and value.kind is Kind.NUMBER:
        text = value.text
    elif isinstance(value, Token) and value.kind in (Kind.STRING, Kind.DQUOTED):
        text = value.value
    else:
        raise invalid(
            "Expected a quoted string value or a list of quoted string values for attributes. "
            f"Got value {value.text if isinstance(value, (Token, _List)) else value}"
        )
    try:
        number = int(text)
    except ValueError:
        shown = repr(float(text)) if value.kind is Kind.NUMBER else repr(text)
        raise invalid(f"Invalid value for numeric attribute 'version_number': {shown}") from None
    if not INT64_MIN <= number <= INT64_MAX:
        raise invalid(f"Invalid value for numeric attribute 'version_number': {number!r}")
    return Comparison(Entity.ATTRIBUTE, "version_number", _NUMERIC_OPS[op], number, ident.pos)


A = TypeVar("A")
R = TypeVar("R")


def _cached(fn: Callable[[A], R]) -> Callable[[A], R]:
    """``fn`` with its last 256 answers kept (parsed clauses are immutable, and a service asks the same
    few searches again and again: parsing was a third of a filtered version search). An argument that
    cannot be hashed (a caller's odd type) is parsed each time, so it meets the parser's own error."""
    cached = functools.lru_cache(maxsize=256)(fn)

    @functools.wraps(fn)
    def call(arg: A) -> R:
        try:
            hash(arg)
        except TypeError:
            return fn(arg)
        return cached(arg)

    return call


@_cached
def parse_registered_model_filter(filter_string: str | None) -> tuple[Comparison, ...]:
    """The clauses of a ``search_registered_models`` filter (empty for none; cached)."""
    if not filter_string:
        return ()
    out = []
    for c in _clauses(filter_string):
        entity = _entity(c.ident, _MODEL_ATTRIBUTES)
        if entity is Entity.TAG:
            out.append(_tag(c.ident, c.op, c.value))
        else:
            out.append(_string_attribute(c.ident, c.op, c.value, _MODEL_ATTRIBUTES))
    return tuple(out)


@_cached
def parse_model_version_filter(filter_string: str | None) -> tuple[Comparison, ...]:
    """The clauses of a ``search_model_versions`` filter (empty for none; cached)."""
    if not filter_string:
        return ()
    out = []
    for c in _clauses(filter_string):
        entity = _entity(c.ident, _VERSION_ATTRIBUTES)
        if entity is Entity.TAG:
            out.append(_tag(c.ident, c.op, c.value))
        elif c.ident.key == "version_number":
            out.append(_version_number(c.ident, c.op, c.value))
        else:
            out.append(_string_attribute(c.ident, c.op, c.value, _VERSION_LIST_KEYS))
    return tuple(out)


def _order(
    order_by: Sequence[str] | None, valid: Sequence[str], message_keys: Sequence[str], message: str
) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for clause in order_by or ():
        ident, ascending = _order_clause(clause)
        if ident.prefix is not None and ident.prefix not in ("attribute", "attributes", "attr", "run"):
            raise invalid(f"Invalid order_by entity: {ident.prefix}")
        if ident.key not in valid:
            raise invalid(message.format(key=ident.key, keys=_pyset(message_keys)))
        key = "last_updated_timestamp" if ident.key == "timestamp" else ident.key
        if any(k == key for k, _ in out):
            raise invalid(f"`order_by` contains duplicate fields: {list(order_by or ())}")
        out.append((key, ascending))
    return out


def parse_registered_model_order_by(order_by: Sequence[str] | None) -> tuple[SortKey, ...]:
    """The full sort of a registered-model search: the caller's keys, then ``name ASC`` (cached)."""
    return _registered_model_order_by(tuple(order_by or ()))


@_cached
def _registered_model_order_by(order_by: tuple[str, ...]) -> tuple[SortKey, ...]:
    # MLflow names only its "recommended" keys in this message.
    keys = _order(
        order_by,
        _MODEL_ORDER,
        ("name", "timestamp"),
        "Invalid order by key '{key}' specified. Valid keys are '{keys}'",
    )
    if not any(k == "name" for k, _ in keys):
        keys.append(("name", True))
    return tuple(SortKey(Entity.ATTRIBUTE, k, asc) for k, asc in keys)


def parse_model_version_order_by(order_by: Sequence[str] | None) -> tuple[SortKey, ...]:
    """The full sort of a model-version search, MLflow's default and tie-breakers included (cached)."""
    return _model_version_order_by(tuple(order_by or ()))


@_cached
def _model_version_order_by(order_by: tuple[str, ...]) -> tuple[SortKey, ...]:
    given = list(order_by or ()) or ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]
    keys = _order(
        given,
        _VERSION_ORDER,
        _VERSION_ORDER,
        "Invalid attribute key '{key}' specified. Valid keys are '{keys}'",
    )
    if not any(k == "name" for k, _ in keys):
        keys.append(("name", True))
    if not any(k == "version_number" for k, _ in keys):
        keys.append(("version_number", False))
    return tuple(SortKey(Entity.ATTRIBUTE, k, asc) for k, asc in keys)


def encode_offset_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_offset_token(token: str | None) -> int:
    """The offset in a page token (0 for none), or MLflow's INVALID_PARAMETER_VALUE messages."""
    if not token:
        return 0
    try:
        raw = base64.b64decode(token, validate=False)
    except (binascii.Error, ValueError):
        raise invalid("Invalid page token, could not base64-decode") from None
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid(f"Invalid page token, decoded value={raw!r}") from None
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    if offset is None:
        raise invalid(f"Invalid page token, parsed value={parsed!r}")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= INT64_MAX:
        raise invalid(f"Invalid page token, offset must be a non-negative integer, got {offset!r}")
    return offset
