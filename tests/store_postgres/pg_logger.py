"""One logging process of the concurrency test: ``python pg_logger.py URI WORKER WORKERS STEPS RUN_ID...``.

Logs metrics ``k0..k7`` of every run at the steps ``WORKER, WORKER + WORKERS, ...`` below ``STEPS`` (value
``step * 10 + key number``), asynchronously through the pipeline, the keys of each batch in an order of its
own (so concurrent transactions touch the same latest-metric rows in different orders), then flushes.
"""

from __future__ import annotations

import random
import sys

import asynctrack
from asynctrack.entities import Metric

KEYS = 8


def main() -> None:
    uri, worker, workers, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    run_ids = sys.argv[5:]
    client = asynctrack.MlflowClient(uri)
    rng = random.Random(worker)
    for step in range(worker, steps, workers):
        for run_id in run_ids:
            keys = list(range(KEYS))
            rng.shuffle(keys)
            metrics = [Metric(f"k{k}", float(step * 10 + k), 1_000 + step, step) for k in keys]
            client.log_batch(run_id, metrics=metrics, synchronous=False)
    asynctrack.flush_async_logging()
    print("ok", flush=True)


if __name__ == "__main__":
    main()
