"""The typed result of parsing a search: what to compare and how to sort, free of any SQL dialect.

A filter string becomes a tuple of :class:`Comparison` (MLflow's grammar only has AND, so a filter is a
conjunction and needs no tree), an ``order_by`` list becomes a tuple of :class:`SortKey`. Every name and
alias is already resolved (``created`` is ``start_time``, ``params``/``param``/``parameter`` are
:attr:`Entity.PARAM`) and every value already has its final Python type, so a backend only maps these to
its own tables and never re-validates.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["Comparison", "Entity", "Op", "SortKey", "Value"]


class Entity(enum.Enum):
    """What a search identifier refers to."""

    METRIC = "metric"
    PARAM = "parameter"
    TAG = "tag"
    ATTRIBUTE = "attribute"
    DATASET = "dataset"


class Op(enum.Enum):
    """A comparator, spelled as in the filter grammar."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    ILIKE = "ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"


# float for metrics and fractional times; int for times and experiment ids; str for strings; a tuple for
# IN / NOT IN; None for IS [NOT] NULL.
Value = float | int | str | tuple[str, ...] | tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """One ``<entity>.<key> <op> <value>`` clause of a filter.

    ``key`` is canonical: for attributes it is the entity's field name (``start_time``, ``run_name``,
    ``experiment_id``...), for metrics, params and tags the user's key with quotes removed.
    ``position`` is the clause's 0-based offset in the filter string, for messages; it is not part of the
    clause's identity (equality, repr), so re-spaced filters are the same search.
    """

    entity: Entity
    key: str
    op: Op
    value: Value
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ordering term.

    ``nulls_first`` says where rows *without* a value go, whatever the direction: MLflow's run search puts
    them last (and, for metrics, NaN just before them); its experiment search uses the database's native
    order, which on SQLite puts NULL first when ascending and last when descending.
    """

    entity: Entity
    key: str
    ascending: bool
    nulls_first: bool = False
