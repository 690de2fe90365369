"""Multi-row INSERTs: the rows of one table in one statement, one ``sqlite3_step``.

``executemany`` steps once per row, and CPython's ``sqlite3`` releases and takes back the GIL around every
step. A worker writing a training loop's chunk (a few points of ten keys) made ~50 steps a transaction,
and while the training thread holds the GIL each take-back waits for the interpreter's switch interval
(5 ms) and then forces a switch on that thread: measured in a pure-Python loop, each write cycle took
~67 ms of wall time and the loop ran ~4 % slower. ``INSERT ... VALUES (...), (...)`` does the rows of a
table in one step: the same rows, applied in order (an upsert's ``ON CONFLICT`` clause applies row by
row, as with ``executemany``), with a few GIL hand-overs instead of one per row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = ["insert_rows"]

# Bound parameters in one statement: SQLite's limit before 3.32 (32,766 since); rows beyond it take
# further statements.
_MAX_PARAMETERS = 999


def insert_rows(
    conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[object]], tail: str = ""
) -> int | None:
    """``head VALUES (?, ...), (?, ...) tail`` for ``rows`` (all of the same width), in as few statements
    as the parameter limit allows; ``head`` is ``INSERT ... (columns)``, ``tail`` e.g. an ON CONFLICT
    clause (no RETURNING clause: its rows would be stepped, and the GIL handed over, one by one).

    Returns the rowid of the last row inserted (None for no rows). Rows inserted with a NULL ``INTEGER
    PRIMARY KEY`` get consecutive ids, each one more than the largest before it (SQLite's rowid rule), so
    a caller holding the write lock knows every row's id from the last one without reading them back."""
    if not rows:
        return None
    width = len(rows[0])
    group = "(" + ", ".join("?" * width) + ")"
    per = max(1, _MAX_PARAMETERS // width)
    last: int | None = None
    for lo in range(0, len(rows), per):
        part = rows[lo : lo + per]
        params = [value for row in part for value in row]
        last = conn.execute(f"{head} VALUES {', '.join([group] * len(part))} {tail}", params).lastrowid
    return last
