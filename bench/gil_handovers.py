"""What the pipeline's background threads cost a training loop that holds the GIL, by linger setting.

A diagnostic beside ``pipeline.py``'s scenario 5 and ``training.py``: wall-clock slowdowns of a few percent
drown in a shared machine's noise, but the two quantities behind them can be counted exactly:

- **the training thread's voluntary context switches**: while the loop holds the GIL, every time a
  background thread needs it (a timer firing, an SQLite statement returning, a result handed back) the loop
  is made to drop it after the switch interval (5 ms) and to wait to take it back: two switches each time;
- **the background threads' CPU time** per 1,000 metrics (``/proc/self/task/*/stat``): Python run there
  holds the GIL the loop needs.

Each configuration runs in a fresh process: a loop of ``--steps`` steps of pure-Python work (about
``--step-ms`` ms each), logging ``--keys`` metrics a step with ``log_metrics(..., synchronous=False)`` to
the embedded store, then one flush (inside the measured time). Usage::

    python bench/gil_handovers.py                     # the default, a fixed 50 ms and a fixed 1000 ms linger
    python bench/gil_handovers.py --lingers 50 --runs 5

A setting is ``L`` (``ASYNCTRACK_LINGER_MS=L``, stretched after slow cycles up to the default
``ASYNCTRACK_MAX_LINGER_MS``) or ``L:M`` (and ``ASYNCTRACK_MAX_LINGER_MS=M``; ``L:L`` keeps it fixed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

_CHILD = "--child"


def _thread_stats() -> dict[str, tuple[int, int]]:
    """Per thread (by name): (voluntary context switches, CPU ms)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/status") as f:
            vol = next(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches"))
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = round((int(fields[11]) + int(fields[12])) * tick_ms)
        out[names.get(int(tid), tid)] = (vol, cpu)
    return out


def _child(steps: int, keys: int, step_ms: float, log: bool) -> None:
    os.chdir(tempfile.mkdtemp(prefix="gil-bench-"))
    import sqlite3

    import asynctrack as mlflow
    import asynctrack.store.sqlite._connection as connection

    transactions = [0]
    configure = connection.configure

    def count(sql: str) -> None:
        if sql.startswith("BEGIN"):
            transactions[0] += 1

    def counting(conn: sqlite3.Connection, *args: object) -> None:
        configure(conn, *args)  # type: ignore[arg-type]
        conn.set_trace_callback(count)

    connection.configure = counting  # type: ignore[assignment]
    if log:
        mlflow.start_run()
        mlflow.log_metric("warm", 1.0, synchronous=False)  # the pipeline's threads start here
        mlflow.flush_async_logging()
    names = [f"m{i}" for i in range(keys)]
    work = int(step_ms * 13_000)
    before, tx0, t0 = _thread_stats(), transactions[0], time.perf_counter()
    for step in range(steps):
        x = 0
        for i in range(work):
            x += i
        if log:
            mlflow.log_metrics({k: step * 0.1 + i for i, k in enumerate(names)}, step=step, synchronous=False)
    if log:
        mlflow.flush_async_logging()  # the loop's end pays for what is still queued
    wall = time.perf_counter() - t0
    after = _thread_stats()
    tx = transactions[0] - tx0
    if log:
        mlflow.end_run()
    main = threading.main_thread().name
    background_cpu = sum(after[n][1] - before.get(n, (0, 0))[1] for n in after if n != main)
    print(
        json.dumps(
            {
                "wall_s": wall,
                "switches": after[main][0] - before[main][0],
                "background_cpu_ms": background_cpu,
                "transactions": tx,
            }
        )
    )


def _run(linger: str | None, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ)
    if linger is not None:
        env["ASYNCTRACK_LINGER_MS"], _, longest = linger.partition(":")
        if longest:
            env["ASYNCTRACK_MAX_LINGER_MS"] = longest
    argv = [sys.executable, __file__, _CHILD, str(args.steps), str(args.keys), str(args.step_ms)]
    argv.append("log" if linger is not None else "off")
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lingers",
        default="50,50:50,1000:1000",
        help="ASYNCTRACK_LINGER_MS[:ASYNCTRACK_MAX_LINGER_MS] settings, comma-separated",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--keys", type=int, default=11)
    parser.add_argument("--step-ms", type=float, default=1.5)
    args = parser.parse_args()
    lingers = args.lingers.split(",")
    metrics = args.steps * args.keys
    print(
        f"{args.steps} steps of ~{args.step_ms} ms of pure Python, {args.keys} metrics a step "
        f"({metrics:,} metrics), {args.runs} runs each, medians (lowest-highest)"
    )
    print(
        f"{'linger ms':>10} {'slowdown %':>18} {'switches/1k steps':>22} "
        f"{'bg CPU ms/1k metrics':>24} {'transactions':>14}"
    )
    off = [_run(None, args)["wall_s"] for _ in range(args.runs)]
    base = statistics.median(off)

    def cell(values: list[float], digits: int) -> str:
        return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"

    for linger in lingers:
        runs = [_run(linger, args) for _ in range(args.runs)]
        slow = [(r["wall_s"] / base - 1) * 100 for r in runs]
        sw = [r["switches"] * 1000 / args.steps for r in runs]
        cpu = [r["background_cpu_ms"] * 1000 / metrics for r in runs]
        tx = [r["transactions"] for r in runs]
        print(f"{linger:>10} {cell(slow, 2):>18} {cell(sw, 0):>22} {cell(cpu, 2):>24} {cell(tx, 0):>14}")
    print(f"logging off: {base:.3f} s a loop (runs {min(off):.3f}-{max(off):.3f})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == _CHILD:
        _child(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "log")
    else:
        main()
