"""A run's logged-model links in the PostgreSQL store: the embedded store's tables and rules
(``store/sqlite/_model_links.py``) in PostgreSQL's dialect; an identity column keeps the logging order."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from asynctrack.entities import LoggedModelInput, LoggedModelOutput
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store.postgres._writes import run_not_found
from asynctrack.store.sqlite._model_links import duplicate_output

__all__ = ["MODEL_LINK_DDL", "inputs_of_runs", "log_model_inputs", "log_model_outputs", "outputs_of_runs"]

# Created with IF NOT EXISTS whenever the schema is checked, as the dataset and logged-model tables: added
# after schema version 2, never changed.
MODEL_LINK_DDL = """
CREATE TABLE IF NOT EXISTS run_model_inputs (
    link_key bigint GENERATED ALWAYS AS IDENTITY,
    run_key  bigint NOT NULL,
    model_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (run_key, model_id)
);
CREATE TABLE IF NOT EXISTS run_model_outputs (
    link_key bigint GENERATED ALWAYS AS IDENTITY,
    run_key  bigint NOT NULL,
    model_id text COLLATE "C" NOT NULL,
    step     bigint NOT NULL,
    PRIMARY KEY (run_key, model_id)
);
"""


async def _active_run_key(conn: asyncpg.Connection, run_id: str) -> int:
    row = await conn.fetchrow("SELECT run_key, lifecycle_stage FROM runs WHERE run_id = $1", run_id)
    if row is None:
        raise run_not_found(run_id)
    if row[1] != "active":
        raise MlflowException(
            f"The run {run_id} must be in the 'active' state. Current state is {row[1]}.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return int(row[0])


async def log_model_inputs(conn: asyncpg.Connection, run_id: str, models: Sequence[LoggedModelInput]) -> None:
    run_key = await _active_run_key(conn, run_id)
    for m in models:
        await conn.execute(
            "INSERT INTO run_model_inputs (run_key, model_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            run_key,
            m.model_id,
        )


async def log_model_outputs(
    conn: asyncpg.Connection, run_id: str, models: Sequence[LoggedModelOutput]
) -> None:
    run_key = await _active_run_key(conn, run_id)
    for m in models:
        added = await conn.fetchval(
            "INSERT INTO run_model_outputs (run_key, model_id, step) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            run_key,
            m.model_id,
            m.step,
        )
        if added is None:
            raise duplicate_output(run_id, m.model_id)


async def inputs_of_runs(
    conn: asyncpg.Connection, run_keys: Sequence[int]
) -> dict[int, list[LoggedModelInput]]:
    out: dict[int, list[LoggedModelInput]] = {}
    if run_keys:
        for r in await conn.fetch(
            "SELECT run_key, model_id FROM run_model_inputs WHERE run_key = ANY($1::int8[]) "
            "ORDER BY link_key",
            list(run_keys),
        ):
            out.setdefault(r[0], []).append(LoggedModelInput(r[1]))
    return out


async def outputs_of_runs(
    conn: asyncpg.Connection, run_keys: Sequence[int]
) -> dict[int, list[LoggedModelOutput]]:
    out: dict[int, list[LoggedModelOutput]] = {}
    if run_keys:
        for r in await conn.fetch(
            "SELECT run_key, model_id, step FROM run_model_outputs WHERE run_key = ANY($1::int8[]) "
            "ORDER BY link_key",
            list(run_keys),
        ):
            out.setdefault(r[0], []).append(LoggedModelOutput(r[1], int(r[2])))
    return out
