"""Parse ``order_by`` lists into :class:`~asynctrack.store.search._ast.SortKey` tuples, with MLflow's
tie-breakers appended so that every search has one total, repeatable order (keyset paging needs it).

Each clause is ``<identifier> [ASC|DESC]`` (ascending by default; the direction is case-insensitive), with
identifiers written as in filters (``metrics.`f1 score` DESC``, ``tags."mlflow.runName"``, ``created``).

Runs (MLflow's SQL store):
    - metrics, params, tags and the attributes run_id, run_name, status, start_time (alias created),
      end_time, artifact_uri, user_id; an entity listed twice (after aliases) is an error;
    - runs without the value sort last in either direction; for metrics NaN sorts after every number
      and before "no such metric";
    - then ``start_time DESC`` unless start_time was given, then ``run_id ASC``.

Experiments:
    - the attributes name, experiment_id, creation_time, last_update_time; default
      ``creation_time DESC, experiment_id ASC``; then ``experiment_id DESC`` unless experiment_id was given;
    - NULL times sort as the smallest value (SQLite's native order, which MLflow's query relies on).
"""

from __future__ import annotations

from collections.abc import Sequence

from asynctrack.store.search._ast import Entity, SortKey
from asynctrack.store.search._filter import (
    EXPERIMENT_ATTRIBUTES,
    RUN_ORDER_ATTRIBUTES,
    Identifier,
    attribute_alias,
    experiment_entity,
    fmt_set,
    read_identifier,
    run_entity,
)
from asynctrack.store.search._lexer import Kind, invalid, tokenize

__all__ = ["parse_experiment_order_by", "parse_run_order_by"]

_START_TIME_DESC = SortKey(Entity.ATTRIBUTE, "start_time", ascending=False)
_RUN_ID_ASC = SortKey(Entity.ATTRIBUTE, "run_id", ascending=True)
_EXPERIMENT_DEFAULT = (
    SortKey(Entity.ATTRIBUTE, "creation_time", ascending=False, nulls_first=False),
    SortKey(Entity.ATTRIBUTE, "experiment_id", ascending=True, nulls_first=True),
)


def _clause(clause: object) -> tuple[Identifier, bool]:
    """The identifier and direction (True: ascending) of one ``order_by`` entry."""
    if not isinstance(clause, str):
        raise invalid(f"Invalid order_by clause {clause!r}. Could not be parsed.")
    tokens = tokenize(clause, "order_by clause")
    if tokens[0].kind is Kind.END:
        raise invalid(f"Invalid order_by clause '{clause}'. Could not be parsed.")
    ident, i = read_identifier(tokens, 0, clause, "order_by clause")
    direction = tokens[i]
    if direction.kind is Kind.END:
        return ident, True
    if direction.kind is not Kind.WORD or tokens[i + 1].kind is not Kind.END:
        raise invalid(f"Invalid order_by clause '{clause}'. Could not be parsed.")
    word = direction.value.lower()
    if word not in ("asc", "desc"):
        raise invalid(f"Invalid ordering key in order_by clause '{clause}'.")
    return ident, word == "asc"


def parse_run_order_by(order_by: Sequence[str] | None) -> tuple[SortKey, ...]:
    """The full sort of a run search: the caller's keys, then MLflow's tie-breakers."""
    keys: list[SortKey] = []
    seen: set[tuple[Entity, str]] = set()
    for clause in order_by or ():
        ident, ascending = _clause(clause)
        entity = run_entity(ident.prefix)
        key = ident.key
        if entity is Entity.DATASET:
            raise invalid("Invalid identifier type 'dataset'")
        if entity is Entity.ATTRIBUTE:
            if key not in RUN_ORDER_ATTRIBUTES:
                raise invalid(
                    f"Invalid attribute key '{key}' specified. "
                    f"Valid keys are '{fmt_set(RUN_ORDER_ATTRIBUTES)}'"
                )
            key = attribute_alias(key)
        if (entity, key) in seen:
            raise invalid(f"`order_by` contains duplicate fields: {list(order_by or ())}")
        seen.add((entity, key))
        keys.append(SortKey(entity, key, ascending))
    if (Entity.ATTRIBUTE, "start_time") not in seen:
        keys.append(_START_TIME_DESC)
    if (Entity.ATTRIBUTE, "run_id") not in seen:
        keys.append(_RUN_ID_ASC)
    return tuple(keys)


def parse_experiment_order_by(order_by: Sequence[str] | None) -> tuple[SortKey, ...]:
    """The full sort of an experiment search, defaults and tie-breaker included."""
    if not order_by:
        return _EXPERIMENT_DEFAULT
    keys: list[SortKey] = []
    for clause in order_by:
        ident, ascending = _clause(clause)
        entity = experiment_entity(ident.prefix)
        if entity is not Entity.ATTRIBUTE:
            raise invalid(f"Invalid order_by entity: {entity.value}")
        if ident.key not in EXPERIMENT_ATTRIBUTES:
            raise invalid(
                f"Invalid attribute key '{ident.key}' specified. Valid keys are "
                f"'{fmt_set(EXPERIMENT_ATTRIBUTES)}'"
            )
        keys.append(SortKey(entity, ident.key, ascending, nulls_first=ascending))
    if not any(k.key == "experiment_id" for k in keys):
        keys.append(SortKey(Entity.ATTRIBUTE, "experiment_id", ascending=False, nulls_first=False))
    return tuple(keys)
