"""A training process for the journal tests: ``python journal_logger.py URI N MODE [RUN_ID]``.

Prints ``run <id>`` once its run exists (MODE ``wait`` then waits for a line on stdin), then logs metric
``x`` at steps 0..N-1 (value = step) with ``synchronous=False``. In MODE ``flush``, every 20,000 calls it
waits for those operations and prints ``confirmed <step>``; it ends with ``flushed`` after
``flush_async_logging()`` (MODE ``flush``) or exits without flushing (MODE ``wait``: the exit hook does what
it can).
MODE ``steady`` logs at about 5,000 points/s (a call refused by a full queue, under
``ASYNCTRACK_QUEUE_FULL=raise``, ends the process with an error).
MODE ``close`` is ``wait`` that then closes its pipelines itself (``close_pipelines``, 1 s) and collects
garbage before exiting, so that anything left running on a closed journal surfaces on stderr.
"""

from __future__ import annotations

import gc
import sys
import time

import asynctrack as mlflow
from asynctrack.pipeline import close_pipelines


def main(uri: str, n: int, mode: str, run_id: str | None = None) -> None:
    mlflow.set_tracking_uri(uri)
    run = mlflow.start_run(run_id=run_id, run_name=None if run_id else "journal")
    print("run", run.info.run_id, flush=True)
    if mode in ("wait", "close"):
        sys.stdin.readline()
    ops = []
    for i in range(n):
        ops.append(mlflow.log_metric("x", float(i), step=i, synchronous=False))
        if mode == "flush" and i % 20_000 == 19_999:
            for o in ops:
                o.wait()
            ops.clear()
            print("confirmed", i, flush=True)
        if mode == "steady" and i % 50 == 49:
            time.sleep(0.01)
    print("logged", flush=True)
    if mode in ("flush", "steady"):
        mlflow.flush_async_logging()
        print("flushed", flush=True)
    if mode == "close":
        close_pipelines(timeout=1)
        gc.collect()
        print("closed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
