"""The embedded store's schema migrations: one step per version, run in one transaction.

``STEPS[v]`` turns schema version ``v`` into ``v + 1`` (see ``_schema.py`` for what each version is). A
database is upgraded either when the embedded store opens it for a client (``SqliteStore.open(...,
upgrade=True)``, the default: one user's own file, as before) or by ``asynctrack db upgrade``
(:func:`upgrade_file`), which reports the versions and each step and first copies the database to a
backup file beside it. A server opens with ``upgrade=False`` and refuses an old schema with the command
to run. A newer schema is refused on the first connection, before WAL mode or any table is touched.
"""

from __future__ import annotations

import datetime
import os
import sqlite3

from asynctrack.store._migrations import Migration, SchemaTooNew, SchemaTooOld, UpgradeReport, plan
from asynctrack.store.sqlite._connection import guarded, map_error, transaction
from asynctrack.store.sqlite._ownership import MARKER_TABLE, check_file, check_schema_is_ours
from asynctrack.store.sqlite._schema import APPLIED_BATCHES_DDL, DDL, SCHEMA_VERSION
from asynctrack.store.sqlite._summaries import SUMMARY_DDL, upgrade_to_4

__all__ = [
    "STEPS",
    "apply_plan",
    "current_ddl",
    "read_version",
    "refuse_newer",
    "statements",
    "upgrade_file",
    "upgrade_opened",
]


def statements(script: str) -> list[str]:
    """A DDL script cut into single statements, to run inside a transaction (``executescript`` would
    commit first)."""
    out: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                out.append(pending.strip())
            pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out


def current_ddl() -> str:
    """Every table and index of the current schema (all ``IF NOT EXISTS``)."""
    from asynctrack.store.sqlite._datasets import DATASET_DDL
    from asynctrack.store.sqlite._logged_models import LOGGED_MODEL_DDL
    from asynctrack.store.sqlite._model_links import MODEL_LINK_DDL
    from asynctrack.store.sqlite._registry_schema import REGISTRY_DDL
    from asynctrack.store.sqlite._search import SEARCH_DDL  # search imports the store's modules

    return DDL + SEARCH_DDL + SUMMARY_DDL + REGISTRY_DDL + DATASET_DDL + LOGGED_MODEL_DDL + MODEL_LINK_DDL


def _to_3(conn: sqlite3.Connection) -> None:
    for sql in statements(APPLIED_BATCHES_DDL):
        conn.execute(sql)


def _to_4(conn: sqlite3.Connection) -> None:
    for sql in statements(SUMMARY_DDL):
        conn.execute(sql)
    upgrade_to_4(conn)


def _to_5(conn: sqlite3.Connection) -> None:
    from asynctrack.store.sqlite._logged_models import LOGGED_MODEL_DDL

    for sql in statements(LOGGED_MODEL_DDL):
        conn.execute(sql)


def _to_6(conn: sqlite3.Connection) -> None:
    from asynctrack.store.sqlite._model_links import MODEL_LINK_DDL

    for sql in statements(MODEL_LINK_DDL):
        conn.execute(sql)


STEPS: dict[int, Migration[sqlite3.Connection]] = {
    2: Migration(2, "add applied_batches (idempotency keys of retried and replayed writes)", _to_3),
    3: Migration(
        3,
        "add chart summaries (metric_summaries, metric_tails) computed for every existing chunk; "
        "runs of small chunks merged",
        _to_4,
    ),
    4: Migration(
        4,
        "add MLflow 3's logged models (logged_models, logged_model_tags, logged_model_params, "
        "logged_model_metrics)",
        _to_5,
    ),
    5: Migration(
        5,
        "add a run's logged-model inputs and outputs (run_model_inputs, run_model_outputs)",
        _to_6,
    ),
}


def read_version(conn: sqlite3.Connection) -> int | None:
    """The schema version recorded in the database; None when it has no version yet (being created)."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MARKER_TABLE,)
    ).fetchone()
    if has_meta is None:
        return None
    row = conn.execute("SELECT value FROM asynctrack_meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else int(row[0])


def refuse_newer(conn: sqlite3.Connection, path: str) -> None:
    """Raise :class:`SchemaTooNew` if the database's schema is newer than this code's (reads only)."""
    version = read_version(conn)
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaTooNew(path, version, SCHEMA_VERSION)


def apply_plan(
    conn: sqlite3.Connection,
    path: str,
    target: int = SCHEMA_VERSION,
    steps: dict[int, Migration[sqlite3.Connection]] | None = None,
) -> tuple[int, list[str]]:
    """Inside the caller's write transaction: upgrade to ``target``; returns (version found, steps applied).

    The version is read here, under the write lock, so two processes opening an old file at once upgrade
    it once (the second finds it current)."""
    found = read_version(conn)
    if found is None:
        return target, []
    todo = plan(STEPS if steps is None else steps, path, found, target)
    for step in todo:
        step.apply(conn)
    if todo:
        conn.execute("UPDATE asynctrack_meta SET value = ? WHERE key = 'schema_version'", (str(target),))
    return found, [f"{s.from_version} -> {s.to_version}: {s.description}" for s in todo]


def upgrade_opened(conn: sqlite3.Connection, path: str, uri: str, *, allowed: bool) -> None:
    """At open: bring an older database to the current version if ``allowed``, else raise
    :class:`SchemaTooOld` naming ``asynctrack db upgrade``. A current or new database is left alone."""
    found = read_version(conn)
    if found is None or found == SCHEMA_VERSION:
        return
    plan(STEPS, path, found, SCHEMA_VERSION)  # too new, or no way there: raise before any write
    if not allowed:
        raise SchemaTooOld(path, uri, found, SCHEMA_VERSION)
    transaction(conn, apply_plan, path)


def _backup(conn: sqlite3.Connection, path: str, version: int) -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = f"{path}.schema{version}-{stamp}.bak"
    if os.path.exists(target):
        raise FileExistsError(f"backup file {target} already exists; not overwriting it")
    dest = sqlite3.connect(target)
    try:
        conn.backup(dest)  # a consistent snapshot, even with other connections open
    finally:
        dest.close()
    return target


def upgrade_file(path: str, uri: str, *, backup: bool = True, dry_run: bool = False) -> UpgradeReport:
    """``asynctrack db upgrade`` for a SQLite file: check it is asynctrack's, copy it to a backup beside it
    if an upgrade is due (unless ``backup`` is false), then apply every step in one IMMEDIATE transaction.
    ``dry_run`` only reports what would be done. A foreign database (MLflow's) is refused unwritten."""
    if not check_file(path):
        raise FileNotFoundError(f"no database at {path} (nothing to upgrade)")
    try:
        return guarded(_upgrade_file, path, uri, backup, dry_run)
    except sqlite3.Error as exc:
        raise map_error(exc, path) from exc


def _upgrade_file(path: str, uri: str, backup: bool, dry_run: bool) -> UpgradeReport:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        check_schema_is_ours(conn, path)
        found = read_version(conn)
        if found is None:
            raise ValueError(f"{path} has asynctrack's tables but no schema version: not upgradable")
        steps = plan(STEPS, path, found, SCHEMA_VERSION)
        names = tuple(f"{s.from_version} -> {s.to_version}: {s.description}" for s in steps)
        if dry_run or not steps:
            return UpgradeReport(uri, found, SCHEMA_VERSION, names, dry_run=dry_run)
        saved = _backup(conn, path, found) if backup else ""

        def upgrade(c: sqlite3.Connection) -> tuple[int, list[str]]:
            result = apply_plan(c, path)
            for sql in statements(current_ddl()):
                c.execute(sql)  # indexes added since (all IF NOT EXISTS)
            return result

        found, done = transaction(conn, upgrade)
        return UpgradeReport(uri, found, SCHEMA_VERSION, tuple(done), saved)
    finally:
        conn.close()
