"""Logs N metric points with ``synchronous=False`` at a steady pace, then flushes and exits.

Usage: ``python outage_logger.py URI N``. Prints ``run <id>`` once the run exists, ``shipping`` once the
first 200 points are on the server (logging is under way), ``logged`` when every call has returned and
``flushed`` when ``flush_async_logging()`` has. The test kills and restarts the server while this runs,
and writes a line to stdin once it has killed it: the second half of the points is logged only after that,
so however slowly the test is scheduled, the outage hits a logger that is still logging.
"""

from __future__ import annotations

import sys
import threading
import time

import asynctrack as mlflow


def main(uri: str, n: int) -> None:
    mlflow.set_tracking_uri(uri)
    run = mlflow.start_run(run_name="outage")
    print("run", run.info.run_id, flush=True)
    killed = threading.Event()
    threading.Thread(target=lambda: sys.stdin.readline() and killed.set(), daemon=True).start()
    first = []
    for i in range(n):
        if i == n // 2 and not killed.wait(timeout=300):
            sys.exit("the test did not say it had killed the server")
        ops = mlflow.log_metric("x", float(i), step=i, synchronous=False)
        if i < 200:
            first.append(ops)
        if i == 199:
            mlflow.RunOperations.combine(first).wait(timeout=60)
            print("shipping", flush=True)
        if i % 200 == 199:
            time.sleep(0.02)  # about 10,000 points/s: the run spans the outage
    print("logged", flush=True)
    mlflow.flush_async_logging()
    print("flushed", flush=True)
    mlflow.end_run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
