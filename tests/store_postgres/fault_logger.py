"""The logging process of the restart test: ``python fault_logger.py URI RUN_ID POINTS``: logs metric ``m``
at steps 0..POINTS-1 asynchronously, a little at a time (so the logging spans the restart), then flushes
and prints ``ok``."""

from __future__ import annotations

import sys
import time

import asynctrack


def main() -> None:
    uri, run_id, points = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = asynctrack.MlflowClient(uri)
    for step in range(points):
        client.log_metric(run_id, "m", float(step), timestamp=1000 + step, step=step, synchronous=False)
        if step % 50 == 49:
            time.sleep(0.02)
    asynctrack.flush_async_logging()
    print("ok", flush=True)


if __name__ == "__main__":
    main()
