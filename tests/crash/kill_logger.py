"""A training loop killed from outside (tests/crash/test_kill9.py): logs metric ``m`` at full speed with
``synchronous=False`` and appends each step to a side file after its call returned.

argv: tracking URI, side file, number of steps, mode ("metrics", "params", "end" or "threads"). In mode
"threads" four threads log keys ``t0``..``t3`` at once (the queue file's slots are handed out without a
lock, so their records are written concurrently) and the side file gets ``<key> <step>`` lines. Prints
``ready`` once its run exists; in mode "end" it ends the run after the steps and prints ``ended``, then
waits to be killed; in mode "params" it waits for a line on stdin, also logs a param per step
(non-metric records), prints ``logged`` and waits to be killed."""

from __future__ import annotations

import os
import sys
import threading
import time

import asynctrack as mlflow

uri, side, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
mlflow.set_tracking_uri(uri)
run = mlflow.start_run(run_name="killed")
fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
os.write(fd, (run.info.run_id + "\n").encode())
print("ready", flush=True)
if mode == "params":
    sys.stdin.readline()  # the parent locks the store first: everything below stays queued


def _thread(key: str) -> None:
    for i in range(n):
        mlflow.log_metric(key, float(i), step=i, synchronous=False, run_id=run.info.run_id)
        os.write(fd, b"%s %d\n" % (key.encode(), i))


if mode == "threads":
    threads = [threading.Thread(target=_thread, args=(f"t{t}",)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
for i in range(n if mode != "threads" else 0):
    mlflow.log_metric("m", float(i), step=i, synchronous=False)
    if mode == "params":
        mlflow.log_param(f"p{i}", str(i), synchronous=False)
    os.write(fd, b"%d\n" % i)
if mode == "end":
    mlflow.end_run()
    print("ended", flush=True)
    time.sleep(600)
if mode == "params":
    print("logged", flush=True)
    time.sleep(600)
