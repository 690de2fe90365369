"""Which database files are asynctrack's: a file asynctrack did not create is never modified.

Three rules, applied before anything is written:

- **A new database is created whole.** Its schema is written to a temporary file beside it, which is then
  hard-linked to the final name (``link`` fails if the name exists, so two processes creating one store at
  once end up sharing whichever came first). A file at the database's path is therefore never empty or
  half-initialised because of asynctrack, and a 0-byte file there was made by someone else (``touch``, a
  program that failed): it is refused, not silently initialised.
- **A file that is not SQLite** is refused by its header, before SQLite opens it.
- **A SQLite database without asynctrack's marker table** (``asynctrack_meta``) is refused: an MLflow
  database (found by its alembic revision and its ``experiments``/``runs`` tables, which differ from ours:
  pointing asynctrack at one used to fail with ``no such column: run_id`` after adding tables to it), or any
  other schema. The check runs on the first connection before its first write (even before WAL mode is
  switched on, which would rewrite the file's header), with a read that leaves the file byte-for-byte as it
  was.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Callable

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["MARKER_TABLE", "check_schema_is_ours", "check_file", "create_database"]

MARKER_TABLE = "asynctrack_meta"
_SQLITE_MAGIC = b"SQLite format 3\x00"
# Tables every MLflow SQL store has had since its first alembic revision.
_MLFLOW_TABLES = frozenset({"experiments", "runs", "metrics", "params", "tags"})
_IMPORT_HINT = (
    "To bring its history into asynctrack, copy it (read only, the file is not modified): "
    "`asynctrack db copy {uri} sqlite:///asynctrack.db`. Or keep using it through MLflow's server: "
    "`mlflow server --backend-store-uri {uri}`, and log to it with "
    "MLFLOW_TRACKING_URI=http://127.0.0.1:5000. "
)


def check_file(path: str) -> bool:
    """Whether ``path`` exists; raise if it exists but is not a database asynctrack may open.

    Only the size and the first 16 bytes are read: a 0-byte file or a file that is not SQLite is refused
    before SQLite touches it (connecting to a 0-byte file would make it a new database).
    """
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        raise MlflowException(
            f"{path} is a directory, not a database file; use a directory tracking URI (file://{path}) or "
            "name a .db file inside it",
            error_code=INVALID_PARAMETER_VALUE,
        ) from None
    if not head:
        raise MlflowException(
            f"{path} is an empty (0-byte) file that asynctrack did not create (asynctrack creates its "
            "databases whole, never empty), so it is left alone. If it is meant to be a new asynctrack "
            "store, delete it and asynctrack will create the database; otherwise point "
            "MLFLOW_TRACKING_URI elsewhere.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if head != _SQLITE_MAGIC:
        raise MlflowException(
            f"{path} is not a usable SQLite database (it does not start with SQLite's header), so it is left "
            "alone; move it aside or point MLFLOW_TRACKING_URI elsewhere",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return True


def check_schema_is_ours(conn: sqlite3.Connection, path: str) -> None:
    """Raise unless the database behind ``conn`` is asynctrack's. Reads ``sqlite_master`` only."""
    tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if MARKER_TABLE in tables:
        return
    uri = f"sqlite:///{path}"
    if "alembic_version" in tables and _MLFLOW_TABLES <= tables:
        raise MlflowException(
            f"{path} is an MLflow database ({_describe_mlflow(conn)}), not one asynctrack created. "
            "asynctrack never modifies a database it did not create: nothing was written to it. "
            + _IMPORT_HINT.format(uri=uri)
            + "To start an asynctrack store, point MLFLOW_TRACKING_URI at another file, e.g. "
            "sqlite:///asynctrack.db.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if not tables:
        found = "a SQLite database with no tables"
    else:
        names = sorted(tables)
        shown = ", ".join(names[:8]) + (f", ... ({len(names)} tables)" if len(names) > 8 else "")
        found = f"a SQLite database with tables {shown}"
    raise MlflowException(
        f"{path} is {found} and without asynctrack's {MARKER_TABLE} table: asynctrack did not create it, and "
        "never modifies a database it did not create, so nothing was written to it. Point "
        "MLFLOW_TRACKING_URI at a new file (asynctrack creates it) or at a directory.",
        error_code=INVALID_PARAMETER_VALUE,
    )


def _describe_mlflow(conn: sqlite3.Connection) -> str:
    """What an MLflow database holds, for the message: its alembic revision and how many rows."""
    parts = []
    with contextlib.suppress(sqlite3.Error):
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if row is not None:
            parts.append(f"schema revision {row[0]}")
    for table in ("experiments", "runs"):
        with contextlib.suppress(sqlite3.Error):
            parts.append(f"{conn.execute(f'SELECT count(*) FROM {table}').fetchone()[0]} {table}")
    return ", ".join(parts) or "MLflow's SQL schema"


def create_database(path: str, initialise: Callable[[sqlite3.Connection], None]) -> None:
    """Create the database at ``path`` whole, unless a file appears there first (then it is kept).

    ``initialise(conn)`` writes the schema into a temporary file in the same directory, which becomes
    ``path`` by ``os.link`` (atomic, and it never replaces an existing file).
    """
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.creating")
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            # WAL is a property of the file: set once here, before the file has a name anyone opens.
            conn.execute("PRAGMA journal_mode=WAL")
            initialise(conn)
        finally:
            conn.close()  # the last connection checkpoints and removes the -wal and -shm files
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it a moment ago: use theirs
        except OSError:
            # No hard links on this file system: a rename, which could replace a file created in the
            # instant since the check; the caller looked just before, so the window is that instant.
            if not os.path.exists(path):
                os.rename(tmp, path)
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
