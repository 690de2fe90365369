"""The embedded store's SQLite schema, designed for the pipeline's write pattern.

- Metric history is stored in *columnar chunks*: one row per (run, key) per written batch, holding the
  batch's steps, values and timestamps as little-endian int64/float64 blobs. A 1,000-point batch is one
  row, so writes cost per batch, not per point, and history reads are one index range scan plus
  ``numpy.frombuffer``. NaN and +-inf are kept bit-exactly.
- ``latest_metrics`` keeps MLflow's "latest value" per (run, key) (largest step, then timestamp, then
  value) for ``get_run`` and search, maintained by an upsert per batch.
- Runs have an integer ``run_key`` so chunk and param rows stay small; the public id is ``run_id``.
- ``applied_batches`` remembers the idempotency keys of writes (``BatchWrite.key``) for
  ``APPLIED_KEY_DAYS`` days, so a replayed or retried write is applied once.
"""

from __future__ import annotations

# 2: step and timestamp blobs carry a one-byte form prefix (store/sqlite/_columns.py).
# 3: applied_batches (created in place in version-2 databases: an added table, nothing rewritten).
# 4: chart summaries: metric_summaries and metric_tails (store/sqlite/_summaries.py), computed in place for
#    the chunks of older databases.
# 5: MLflow 3's logged models (store/sqlite/_logged_models.py): four added tables, nothing rewritten.
# 6: a run's logged-model inputs and outputs (store/sqlite/_model_links.py): two added tables.
# Each version after 2 has a step in store/sqlite/_migrations.py (STEPS); a new version adds one there and a
# fixture database made by the code before it under tests/db/data/.
SCHEMA_VERSION = 6
APPLIED_KEY_DAYS = 30

DDL = """
CREATE TABLE IF NOT EXISTS asynctrack_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS experiments (
    experiment_id     INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    artifact_location TEXT NOT NULL,
    lifecycle_stage   TEXT NOT NULL DEFAULT 'active',
    creation_time     INTEGER,
    last_update_time  INTEGER
);

CREATE TABLE IF NOT EXISTS experiment_tags (
    experiment_id INTEGER NOT NULL,
    key           TEXT NOT NULL,
    value         TEXT,
    PRIMARY KEY (experiment_id, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS runs (
    run_key         INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL UNIQUE,
    experiment_id   INTEGER NOT NULL,
    name            TEXT,
    user_id         TEXT,
    status          TEXT NOT NULL,
    start_time      INTEGER,
    end_time        INTEGER,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active',
    artifact_uri    TEXT,
    deleted_time    INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment_id, start_time);

CREATE TABLE IF NOT EXISTS params (
    run_key INTEGER NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_key, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tags (
    run_key INTEGER NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT,
    PRIMARY KEY (run_key, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS latest_metrics (
    run_key   INTEGER NOT NULL,
    key       TEXT NOT NULL,
    value     REAL NOT NULL,
    is_nan    INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    PRIMARY KEY (run_key, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS metric_chunks (
    chunk_id   INTEGER PRIMARY KEY,
    run_key    INTEGER NOT NULL,
    key        TEXT NOT NULL,
    n          INTEGER NOT NULL,
    min_step   INTEGER NOT NULL,
    max_step   INTEGER NOT NULL,
    steps      BLOB NOT NULL,
    vals       BLOB NOT NULL,
    timestamps BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS metric_chunks_by_key ON metric_chunks (run_key, key, chunk_id);

"""

# Version 3's table, also created on its own by the 2 -> 3 migration (store/sqlite/_migrations.py).
APPLIED_BATCHES_DDL = """
CREATE TABLE IF NOT EXISTS applied_batches (
    key        TEXT PRIMARY KEY,
    applied_ms INTEGER NOT NULL
) WITHOUT ROWID;
"""
DDL += APPLIED_BATCHES_DDL
