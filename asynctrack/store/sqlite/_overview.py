"""The web UI's list queries for the embedded store: experiment statistics and distinct keys, one query
each instead of paging through every run (the protocol's defaults)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from asynctrack.store._overview import ExperimentStats, RunKeys
from asynctrack.store.sqlite._search import experiment_keys

__all__ = ["experiment_stats", "run_keys"]


def experiment_stats(conn: sqlite3.Connection, experiment_ids: Sequence[str]) -> dict[str, ExperimentStats]:
    ids = experiment_keys(experiment_ids)
    out = {str(i): ExperimentStats() for i in ids}
    rows = conn.execute(
        "SELECT experiment_id, count(*), max(max(coalesce(start_time, 0), coalesce(end_time, 0))) "
        "FROM runs WHERE experiment_id IN (SELECT value FROM json_each(?)) AND lifecycle_stage = 'active' "
        "GROUP BY experiment_id",
        (json.dumps(ids),),
    )
    for experiment_id, count, last in rows:
        out[str(experiment_id)] = ExperimentStats(int(count), int(last) if last else None)
    return out


# Distinct keys by a loose index scan of the (key, value) index: one seek per distinct key, whatever the
# number of rows; each key is kept if some run of the experiments has it (an EXISTS that usually stops at
# its first row).
_DISTINCT = """
WITH RECURSIVE k(key) AS (
    SELECT min(key) FROM {table}
    UNION ALL
    SELECT (SELECT min(key) FROM {table} WHERE key > k.key) FROM k WHERE k.key IS NOT NULL
)
SELECT key FROM k WHERE key IS NOT NULL AND EXISTS (
    SELECT 1 FROM {table} AS t JOIN runs AS r ON r.run_key = t.run_key
    WHERE t.key = k.key AND r.lifecycle_stage = 'active'
      AND r.experiment_id IN (SELECT value FROM json_each(:ids))
)
"""


def run_keys(conn: sqlite3.Connection, experiment_ids: Sequence[str]) -> RunKeys:
    ids = json.dumps(experiment_keys(experiment_ids))
    found = {
        table: [str(row[0]) for row in conn.execute(_DISTINCT.format(table=table), {"ids": ids})]
        for table in ("params", "latest_metrics", "tags")
    }
    return RunKeys(found["params"], found["latest_metrics"], found["tags"])
