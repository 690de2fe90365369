"""Writes ``data/schema4.db``: a database made by asynctrack with schema version 4, kept in the repository
so that every later schema's migration is tested on a real file written by the old code.

It was run once with the code of the commit that added it (schema 4); running it with later code would make
a database of the later schema, which is not what the fixture is for. Everything in it is a seeded function
of the names below, so tests rebuild what they expect with :func:`expected` instead of trusting the file.
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np

from asynctrack.entities import Param, RunTag
from asynctrack.store import MetricSeries
from asynctrack.store.sqlite import SqliteStore

EXPERIMENTS = ["kept", "removed"]
RUNS_PER_EXPERIMENT = 3
KEYS = ["loss", "acc", "lr"]


def series(e: int, r: int, k: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(steps, values, timestamps) of each batch written for key ``k`` of run ``r`` of experiment ``e``:
    batches of 1 to 900 points, one overlapping earlier steps, NaN and +-inf in one of them."""
    rng = np.random.default_rng(100 * e + 10 * r + k)
    out = []
    step = 0
    for size in [1, 1, 3, 40, 1, 200, 900, 2, 64, 65][: 4 + (r + k) % 7]:
        steps = np.arange(step, step + size, dtype=np.int64)
        step += size
        if size == 200:
            steps = steps[::-1].copy() - 150
        values = rng.normal(size=size)
        if size == 900:
            values[3], values[4], values[5] = np.nan, np.inf, -np.inf
        stamps = (1_700_000_000_000 + steps * 11 + rng.integers(0, 5, size)).astype(np.int64)
        out.append((steps, values, stamps))
    return out


def params(e: int, r: int) -> dict[str, str]:
    return {"lr": f"0.{e}{r}", "layers": str(r + 2), "optimizer": ["adam", "sgd"][r % 2]}


def tags(e: int, r: int) -> dict[str, str]:
    return {"team": f"t{e}", "note": "x" * (r * 300)}  # one long value


async def main(path: str) -> None:
    store = await SqliteStore.open(path, "/nonexistent/artifacts")
    try:
        for e, name in enumerate(EXPERIMENTS):
            eid = await store.create_experiment(name, tags=[("owner", f"o{e}")])
            for r in range(RUNS_PER_EXPERIMENT):
                run = await store.create_run(
                    eid,
                    f"user{r}",
                    1_700_000_000_000 + r,
                    [RunTag(k, v) for k, v in tags(e, r).items()],
                    f"r{r}",
                )
                run_id = run.info.run_id
                for k, key in enumerate(KEYS):
                    for steps, values, stamps in series(e, r, k):
                        await store.log_batch(run_id, [MetricSeries(key, values, stamps, steps)], [], [])
                await store.log_batch(run_id, [], [Param(k, v) for k, v in params(e, r).items()], [])
                if r == 0:
                    await store.update_run_info(run_id, "FINISHED", 1_700_000_100_000, None)
                if r == 2:
                    await store.delete_run(run_id)
            if name == "removed":
                await store.delete_experiment(eid)
    finally:
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
