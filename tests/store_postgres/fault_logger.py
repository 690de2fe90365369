"""The logging process of the restart test: ``python fault_logger.py URI RUN_ID POINTS``: logs metric ``m``
at steps 0..POINTS-1 asynchronously, a little at a time. Halfway it prints ``half`` and waits for a line on
stdin (the parent stops the database, then answers), so the second half is logged while the database is
down whatever the machine's speed; then it flushes and prints ``ok``."""

from __future__ import annotations

import sys
import time

import asynctrack


def main() -> None:
    uri, run_id, points = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = asynctrack.MlflowClient(uri)
    for step in range(points):
        if step == points // 2:
            print("half", flush=True)
            sys.stdin.readline()
        client.log_metric(run_id, "m", float(step), timestamp=1000 + step, step=step, synchronous=False)
        if step % 50 == 49:
            time.sleep(0.02)
    asynctrack.flush_async_logging()
    print("ok", flush=True)


if __name__ == "__main__":
    main()
