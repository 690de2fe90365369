"""What the write-ahead journal costs: caller cost and end-to-end rate to an ``asynctrack server`` on
loopback, journal off vs on with each fsync policy.

Run it (any venv with asynctrack installed)::

    python bench/journal.py                 # 1,000,000 points per run, 3 repeats, interleaved
    python bench/journal.py --quick

Each measurement is a fresh client process logging ``--points`` metric points with
``log_metric(..., synchronous=False)`` into one run as fast as it can, then ``flush_async_logging()``:
caller cost = time in the logging calls / points; end to end = points / (first call to flush return).
The server (1 worker, SQLite) is shared by all runs; the journal directory is a fresh temporary directory
on the same disk as the server's database. Every run's points are read back (``lost`` must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt, median_of, serving, tracking_server  # noqa: E402

CONFIGS = {
    "journal off": {"ASYNCTRACK_JOURNAL": "off"},
    "on, fsync never": {"ASYNCTRACK_JOURNAL": "on", "ASYNCTRACK_JOURNAL_FSYNC": "never"},
    "on, fsync interval (default)": {"ASYNCTRACK_JOURNAL": "on", "ASYNCTRACK_JOURNAL_FSYNC": "interval"},
    "on, fsync batch": {"ASYNCTRACK_JOURNAL": "on", "ASYNCTRACK_JOURNAL_FSYNC": "batch"},
}


def client(url: str, n: int) -> dict[str, Any]:
    import asynctrack as mlflow

    mlflow.set_tracking_uri(url)
    run = mlflow.start_run()
    t0 = time.perf_counter()
    for i in range(n):
        mlflow.log_metric("x", float(i), step=i, synchronous=False)
    t1 = time.perf_counter()
    mlflow.flush_async_logging()
    t2 = time.perf_counter()
    mlflow.end_run()
    stored = len(mlflow.MlflowClient().get_metric_history_arrays(run.info.run_id, "x")[0])
    return {"caller_us": (t1 - t0) / n * 1e6, "e2e_per_s": n / (t2 - t0), "lost": n - stored}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(client(a.worker, a.points)))
        return
    if a.quick:
        a.points, a.repeats = 200_000, 1
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
        f"{a.points:,} points per run, {a.repeats} repeats",
        flush=True,
    )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        with serving(tracking_server("asynctrack", tmp, workers=1)) as server:
            for rep in range(a.repeats):
                for name, env_extra in CONFIGS.items():
                    env = {
                        k: v for k, v in os.environ.items() if not k.startswith(("ASYNCTRACK_", "MLFLOW_"))
                    }
                    env.update(
                        env_extra,
                        ASYNCTRACK_JOURNAL_DIR=os.path.join(tmp, f"journal-{rep}-{len(results[name])}"),
                    )
                    cmd = [sys.executable, __file__, "--worker", server.url, "--points", str(a.points)]
                    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
                    if done.returncode:
                        raise SystemExit(f"{name}: client failed:\n{done.stderr[-3000:]}")
                    res = json.loads(done.stdout.strip().splitlines()[-1])
                    results[name].append(res)
                    print(f"[{name} {rep + 1}/{a.repeats}] {json.dumps(res)}", file=sys.stderr, flush=True)
    base_caller = median_of(results["journal off"], "caller_us")
    base_rate = median_of(results["journal off"], "e2e_per_s")
    head = f"\n{'median of ' + str(a.repeats):<32}{'caller us/call':>16}{'vs off':>9}"
    print(head + f"{'end to end /s':>16}{'vs off':>9}{'lost':>6}")
    for name in CONFIGS:
        caller = median_of(results[name], "caller_us")
        rate = median_of(results[name], "e2e_per_s")
        lost = max(r["lost"] for r in results[name])
        caller_ratio = fmt(caller / base_caller if caller and base_caller else None) + "x"
        rate_ratio = fmt(rate / base_rate if rate and base_rate else None) + "x"
        print(f"{name:<32}{fmt(caller):>16}{caller_ratio:>9}{fmt(rate):>16}{rate_ratio:>9}{lost:>6}")


if __name__ == "__main__":
    main()
