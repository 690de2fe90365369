"""Writes ``data/schema5.db``: a database made by asynctrack with schema version 5 (MLflow 3's logged
models, before a run's model inputs and outputs), kept in the repository so that the 5 -> 6 step and every
later one is tested on a real file written by the old code.

It was run once with the code of the commit before schema 6 (``PYTHONPATH`` at that checkout); running it
with later code would make a database of the later schema. What it writes is fixed by the names below.
"""

from __future__ import annotations

import asyncio
import sys

from asynctrack.entities import Metric, Param, RunTag
from asynctrack.store.sqlite import SqliteStore

MODEL_NAME = "clf"
MODEL_PARAMS = {"alpha": "0.5"}
MODEL_TAGS = {"stage": "old"}
RUN_NAME = "trained"
#: (key, value, timestamp, step) of the points linked to the model.
POINTS = [("acc", 0.5, 1_700_000_000_000, 0), ("acc", 0.75, 1_700_000_000_100, 1)]


async def write(path: str) -> None:
    store = await SqliteStore.open(path, "/nonexistent/artifacts")
    try:
        exp = await store.create_experiment("models", "/nonexistent/artifacts/1", [])
        run = await store.create_run(exp, "u", 1_700_000_000_000, [RunTag("t", "v")], RUN_NAME)
        rid = run.info.run_id
        await store.log_batch(rid, [], [Param("lr", "0.1")], [])
        model = await store.create_logged_model(
            exp, MODEL_NAME, rid, list(MODEL_TAGS.items()), list(MODEL_PARAMS.items()), None
        )
        await store.log_model_metrics(
            rid, [Metric(k, v, ts, st, model.model_id, None, None, rid) for k, v, ts, st in POINTS]
        )
    finally:
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(write(sys.argv[1]))
