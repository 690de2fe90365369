"""The registry's SQL, written once for SQLite and PostgreSQL: each operation is a generator that yields
:class:`Step` statements and receives their rows, and each backend drives it on its own connection
(``drive_sqlite`` in the connection thread, ``drive_postgres`` as a coroutine over asyncpg).

Why generators: the operations' logic (numbering, redaction, stage archiving, alias resolution, paging) is
MLflow's semantics and must not exist twice, while SQLite's driver is synchronous and asyncpg's is not.

The SQL is the common dialect of both: ``?`` placeholders (turned into ``$n`` for PostgreSQL), upserts with
``ON CONFLICT ... DO UPDATE``, ``RETURNING``. What differs is in :class:`Dialect` (row locks, string
predicates). A unique-key violation reaches the operation as :class:`Conflict`, thrown at its ``yield``.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, TypeAlias, TypeVar

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store.search._ast import Op

__all__ = [
    "DELETED_STAGE",
    "LIKE_LIMIT",
    "POSTGRES",
    "SQLITE",
    "Conflict",
    "Dialect",
    "Fetch",
    "Row",
    "SqlOp",
    "Step",
    "dollar_placeholders",
    "execute",
    "fetch_all",
    "fetch_one",
    "execute_many",
]

#: The stage of a deleted (redacted, kept) model version, as MLflow's SQL store names it.
DELETED_STAGE = "Deleted_Internal"
#: SQLite's default limit on a LIKE/GLOB pattern; both stores refuse longer patterns alike.
LIKE_LIMIT = 50_000

Row: TypeAlias = tuple[Any, ...]
T = TypeVar("T")
#: An operation: yields steps, receives each one's result, returns its answer.
SqlOp: TypeAlias = Generator["Step", Any, T]


class Fetch(Enum):
    NONE = 0  # execute; result None
    ONE = 1  # the first row or None
    ALL = 2  # every row
    MANY = 3  # execute once per parameter tuple; result None


@dataclass(frozen=True, slots=True)
class Step:
    sql: str
    params: Sequence[Any]
    fetch: Fetch


class Conflict(Exception):
    """A unique key was violated by the step (thrown into the operation at its ``yield``). The operation
    must raise in turn: PostgreSQL has aborted the transaction, so no further statement may run."""


def execute(sql: str, *params: Any) -> Step:
    return Step(sql, params, Fetch.NONE)


def fetch_one(sql: str, *params: Any) -> Step:
    return Step(sql, params, Fetch.ONE)


def fetch_all(sql: str, *params: Any) -> Step:
    return Step(sql, params, Fetch.ALL)


def execute_many(sql: str, rows: Sequence[Sequence[Any]]) -> Step:
    return Step(sql, rows, Fetch.MANY)


_COMPARE = {Op.EQ: "=", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}
_GLOB = {"*": "[*]", "?": "[?]", "[": "[[]", "%": "*", "_": "?"}


def _pattern(pattern: str) -> str:
    if len(pattern.encode("utf-8")) > LIKE_LIMIT:
        raise MlflowException(
            f"LIKE pattern too long: at most {LIKE_LIMIT} bytes are supported",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return pattern


@dataclass(frozen=True, slots=True)
class Dialect:
    """What the two databases spell differently."""

    name: str
    #: Appended to a SELECT that must lock the model's row until the transaction ends (PostgreSQL; a
    #: SQLite write transaction already holds the whole database).
    lock: str
    #: How a search joins its page of keys to the rows: SQLite's CROSS JOIN keeps the page as the outer
    #: loop, read as it is produced rather than copied into a temporary table first (measured 15% off a
    #: 200-row page); PostgreSQL plans a plain join as well and has no CROSS JOIN with a condition.
    page_join: str = "JOIN"

    def string_predicate(self, column: str, op: Op, value: str, params: list[Any]) -> str:
        """``column <op> ?`` for a string comparator, MLflow's semantics: LIKE case-sensitive with ``%``
        and ``_`` as the only wildcards, ILIKE folding ASCII letters (both stores compare bytes)."""
        if self.name == "sqlite":
            if op is Op.LIKE:
                params.append(_pattern("".join(_GLOB.get(c, c) for c in value)))
                return f"{column} GLOB ?"
            if op is Op.ILIKE:
                params.append(_pattern(value))
                return f"lower({column}) LIKE lower(?)"
            params.append(value)
            return f"{column} {_COMPARE[op]} ?"
        params.append(_pattern(value) if op in (Op.LIKE, Op.ILIKE) else value)
        if op is Op.LIKE:
            return f"{column} LIKE ? COLLATE \"C\" ESCAPE ''"
        if op is Op.ILIKE:
            return f"lower({column}) LIKE lower(? COLLATE \"C\") ESCAPE ''"
        return f'{column} {_COMPARE[op]} ? COLLATE "C"'


SQLITE = Dialect("sqlite", lock="", page_join="CROSS JOIN")
POSTGRES = Dialect("postgres", lock=" FOR UPDATE")

_MARK = re.compile(r"\?")


@lru_cache(maxsize=512)
def dollar_placeholders(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2...`` (the registry's SQL has no ``?`` in literals)."""
    counter = iter(range(1, 1 << 30))
    return _MARK.sub(lambda _: f"${next(counter)}", sql)
