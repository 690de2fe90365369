"""The model registry's tables in the embedded SQLite store (created beside the tracking tables).

Models have an integer ``model_key``, so a rename is one row's update and versions, tags and aliases stay
small. A deleted model version keeps its row, redacted, with stage ``Deleted_Internal`` (as MLflow's SQL
store does), so version numbers are never reused; every read skips such rows.

Indexes serve the searches: versions by (model, version) (the primary key), by last update (the default
order of search_model_versions), by run; version tags by (key, value).
"""

from __future__ import annotations

from asynctrack.store._registry._steps import DELETED_STAGE

__all__ = ["DELETED_STAGE", "REGISTRY_DDL"]

REGISTRY_DDL = """
CREATE TABLE IF NOT EXISTS registered_models (
    model_key         INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    creation_time     INTEGER,
    last_updated_time INTEGER,
    description       TEXT
);

CREATE TABLE IF NOT EXISTS registered_model_tags (
    model_key INTEGER NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT,
    PRIMARY KEY (model_key, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS registered_model_tags_by_key ON registered_model_tags (key, value);

CREATE TABLE IF NOT EXISTS model_versions (
    model_key         INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    creation_time     INTEGER,
    last_updated_time INTEGER,
    description       TEXT,
    current_stage     TEXT NOT NULL,
    source            TEXT,
    storage_location  TEXT,
    run_id            TEXT,
    run_link          TEXT,
    status            TEXT NOT NULL,
    status_message    TEXT,
    model_id          TEXT,
    PRIMARY KEY (model_key, version)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS model_versions_by_update ON model_versions (last_updated_time);
CREATE INDEX IF NOT EXISTS model_versions_by_run ON model_versions (run_id);

CREATE TABLE IF NOT EXISTS model_version_tags (
    model_key INTEGER NOT NULL,
    version   INTEGER NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT,
    PRIMARY KEY (model_key, version, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS model_version_tags_by_key ON model_version_tags (key, value);

CREATE TABLE IF NOT EXISTS registered_model_aliases (
    model_key INTEGER NOT NULL,
    alias     TEXT NOT NULL,
    version   INTEGER NOT NULL,
    PRIMARY KEY (model_key, alias)
) WITHOUT ROWID;
"""
