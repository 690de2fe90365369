"""The model registry of both SQL stores (SQLite and PostgreSQL), written once: operations as generators
of SQL steps (``_steps.py``), driven by each backend on its own connections (``drive`` functions in
``store/sqlite/_registry_store.py`` and ``store/postgres/_registry_store.py``)."""

from asynctrack.store._registry._steps import (
    DELETED_STAGE,
    POSTGRES,
    SQLITE,
    Conflict,
    Dialect,
    Fetch,
    SqlOp,
    Step,
)
from asynctrack.store._registry._store import SqlRegistry

__all__ = [
    "DELETED_STAGE",
    "POSTGRES",
    "SQLITE",
    "Conflict",
    "Dialect",
    "Fetch",
    "SqlOp",
    "SqlRegistry",
    "Step",
]
