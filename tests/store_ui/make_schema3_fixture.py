"""Writes ``data/schema3.db``: a database made by asynctrack with schema version 3 (before the chart
summaries), kept in the repository so the upgrade to later versions is tested on a real old file.

It was run once with the code of commit 602a592 (schema 3); running it with later code would make a database
of the later schema, which is not what the fixture is for. The points are a seeded function of (run, key),
so the test can rebuild what it expects: see ``expected_points`` in test_upgrade.py.
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np

from asynctrack.entities import Param, RunTag
from asynctrack.store import MetricSeries
from asynctrack.store.sqlite import SqliteStore


def batches(seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(steps, values, timestamps) of each written batch: sizes 1 to 1000, some out of order, NaN/inf."""
    rng = np.random.default_rng(seed)
    out = []
    step = 0
    for size in [1, 1, 5, 70, 1, 300, 1000, 2, 1, 64, 65, 129]:
        steps = np.arange(step, step + size, dtype=np.int64)
        step += size
        if size == 300:
            steps = steps[::-1].copy() - 200  # overlaps earlier batches, descending
        values = rng.normal(size=size)
        if size == 1000:
            values[734] = 1e6  # a spike
            values[10] = np.nan
            values[11] = np.inf
            values[12] = -np.inf
        stamps = 1_700_000_000_000 + steps * 7 + rng.integers(0, 3, size)
        out.append((steps, values, stamps.astype(np.int64)))
    return out


async def main(path: str) -> None:
    store = await SqliteStore.open(path, "/nonexistent/artifacts")
    try:
        eid = await store.create_experiment("old")
        for r in range(2):
            run = await store.create_run(eid, "u", 1_700_000_000_000, [RunTag("k", "v")], f"run{r}")
            for k, key in enumerate(["loss", "acc"]):
                for steps, values, stamps in batches(10 * r + k):
                    await store.log_batch(run.info.run_id, [MetricSeries(key, values, stamps, steps)], [], [])
            await store.log_batch(run.info.run_id, [], [Param("lr", "0.1")], [])
    finally:
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
