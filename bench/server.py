"""Benchmark ``asynctrack server`` against ``mlflow server`` (MLflow 3.17.2), both on SQLite, on loopback.

Set up a venv holding both libraries (from the repository root)::

    python -m venv /opt/bench-venv
    /opt/bench-venv/bin/pip install mlflow==3.17.2 -e .

Run it::

    /opt/bench-venv/bin/python bench/server.py --quick       # smoke run
    /opt/bench-venv/bin/python bench/server.py               # --repeats 3, 8 clients, 4 server workers

For each repeat and each server (interleaved: asynctrack, MLflow, asynctrack, ...), a fresh server on a fresh
SQLite file with the same number of workers, then:

1. **Throughput.** ``--clients`` processes, each creating a run and then, at the same moment, logging its
   points with asynctrack's ``log_metric(..., synchronous=False)`` through the REST store as fast as it can,
   then ``flush_async_logging()``. Durable metrics/s = points read back from the server / (last flush
   return - start). The same client library is used against both servers, so the servers are what is
   compared. ``lost`` = sent - read back (must be 0).
2. **Latency.** ``--clients`` processes, each sending ``--requests`` ``runs/log-batch`` requests of 10
   metrics one after another (plain HTTP/1.1 keep-alive client, JSON body prepared beforehand), then the
   same with 1,000 metrics; p50 and p99 over all requests of all clients.

MLflow gets fewer points (``--mlflow-points``) because it is much slower; rates are rates. Ratios > 1 mean
asynctrack is better. The machine's cores are shared by server and clients, as they would be on one box.
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
from _common import fmt, median, mlflow_version, percentile, serving, tracking_server  # noqa: E402

Result = dict[str, Any]
KEYS = 10


# -- client processes


def client_throughput(a: argparse.Namespace) -> Result:
    import asynctrack as mlflow

    mlflow.set_tracking_uri(a.url)
    client = mlflow.MlflowClient()
    run = client.create_run("0", run_name=f"client-{a.index}")
    run_id = run.info.run_id
    print("ready", flush=True)
    sys.stdin.readline()  # the start signal
    mlflow.start_run(run_id=run_id)
    n = a.points
    t0 = time.time()
    for i in range(n):
        mlflow.log_metric(f"m{i % KEYS}", float(i), step=i // KEYS, synchronous=False)
    logged = time.time()
    mlflow.flush_async_logging()
    flushed = time.time()
    mlflow.end_run()
    return {"run_id": run_id, "t0": t0, "logged": logged, "flushed": flushed, "points": n}


def client_latency(a: argparse.Namespace) -> Result:
    import httpx

    base = a.url + "/api/2.0/mlflow"
    with httpx.Client(timeout=120) as http:
        created = http.post(base + "/runs/create", json={"experiment_id": "0", "run_name": f"lat-{a.index}"})
        created.raise_for_status()
        run_id = created.json()["run"]["info"]["run_id"]
        bodies = []
        for r in range(a.requests):
            ts = int(time.time() * 1000)
            metrics = [
                {"key": f"m{j % KEYS}", "value": float(j), "timestamp": ts, "step": r * a.batch + j}
                for j in range(a.batch)
            ]
            bodies.append(json.dumps({"run_id": run_id, "metrics": metrics}).encode())
        print("ready", flush=True)
        sys.stdin.readline()
        latencies = []
        headers = {"Content-Type": "application/json"}
        for body in bodies:
            t = time.perf_counter()
            resp = http.post(base + "/runs/log-batch", content=body, headers=headers)
            latencies.append(time.perf_counter() - t)
            resp.raise_for_status()
    return {"latencies": latencies}


# -- parent


def _clients(a: argparse.Namespace, role: str, url: str | list[str], extra: list[str]) -> list[Result]:
    """Start ``--clients`` client processes, wait until all are ready, start them together, collect.
    Given several URLs (servers behind one database), client ``i`` talks to ``urls[i % len(urls)]``."""
    urls = [url] if isinstance(url, str) else url
    procs = []
    for i in range(a.clients):
        cmd = [sys.executable, __file__, "--worker", role, "--url", urls[i % len(urls)], "--index", str(i)]
        cmd += extra
        procs.append(
            subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"{role} client failed to start: {line}{p.stderr.read() if p.stderr else ''}")
    start = time.time()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=a.timeout)
        if p.returncode:
            raise RuntimeError(f"{role} client exited with {p.returncode}: {err[-3000:]}")
        res = json.loads(out.strip().splitlines()[-1])
        res["start"] = start
        results.append(res)
    return results


def _read_back(url: str, run_ids: list[str]) -> int:
    from asynctrack import MlflowClient

    client = MlflowClient(url)
    return sum(len(client.get_metric_history(r, f"m{k}")) for r in run_ids for k in range(KEYS))


def measure(kind: str, a: argparse.Namespace) -> Result:
    points = a.points if kind == "asynctrack" else a.mlflow_points
    with tempfile.TemporaryDirectory(prefix=f"bench-server-{kind}-") as tmp:
        with serving(tracking_server(kind, tmp, a.workers)) as server:
            res: Result = {}
            tp = _clients(a, "throughput", server.url, ["--points", str(points)])
            start = tp[0]["start"]
            end = max(r["flushed"] for r in tp)
            sent = sum(r["points"] for r in tp)
            stored = _read_back(server.url, [r["run_id"] for r in tp])
            res["metrics_per_s"] = stored / (end - start)
            res["sent"], res["lost"] = sent, sent - stored
            res["caller_us"] = median([(r["logged"] - r["t0"]) / r["points"] * 1e6 for r in tp])
            for batch in (10, 1000):
                requests = (
                    a.requests if batch == 10 else max(1, a.requests // (10 if kind == "mlflow" else 4))
                )
                lat = _clients(a, "latency", server.url, ["--batch", str(batch), "--requests", str(requests)])
                all_lat = [x for r in lat for x in r["latencies"]]
                res[f"p50_{batch}_ms"] = (percentile(all_lat, 0.50) or 0) * 1e3
                res[f"p99_{batch}_ms"] = (percentile(all_lat, 0.99) or 0) * 1e3
            return res


ROWS = [
    ("durable metrics/s, 8 clients, synchronous=False", "metrics_per_s", True),
    ("points lost", "lost", None),
    ("log-batch of 10 metrics: p50 ms", "p50_10_ms", False),
    ("log-batch of 10 metrics: p99 ms", "p99_10_ms", False),
    ("log-batch of 1,000 metrics: p50 ms", "p50_1000_ms", False),
    ("log-batch of 1,000 metrics: p99 ms", "p99_1000_ms", False),
]


def parent(a: argparse.Namespace) -> None:
    version = mlflow_version()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, clients={a.clients}, "
        f"server workers={a.workers}, "
        f"repeats={a.repeats}, points/client: asynctrack {a.points:,}, MLflow {a.mlflow_points:,}; "
        f"MLflow {version or 'NOT importable: MLflow side skipped'}",
        flush=True,
    )
    kinds = ["asynctrack", "mlflow"] if version else ["asynctrack"]
    runs: dict[str, list[Result]] = {k: [] for k in kinds}
    for rep in range(a.repeats):
        for kind in kinds:
            t0 = time.perf_counter()
            res = measure(kind, a)
            runs[kind].append(res)
            print(
                f"[{kind} {rep + 1}/{a.repeats}] {time.perf_counter() - t0:.0f} s {json.dumps(res)}",
                file=sys.stderr,
            )
    rows = [f"\n{'median of ' + str(a.repeats):<52} {'asynctrack':>12} {'mlflow':>12} {'ratio':>8}"]
    for label, key, higher_better in ROWS:
        ours = median([r[key] for r in runs["asynctrack"]])
        theirs = median([r[key] for r in runs.get("mlflow", [])])
        ratio = None
        if higher_better is not None and ours and theirs:
            ratio = ours / theirs if higher_better else theirs / ours
        rows.append(f"{label:<52} {fmt(ours):>12} {fmt(theirs):>12} {fmt(ratio) + 'x' if ratio else '-':>8}")
    print("\n".join(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"mlflow_version": version, "argv": sys.argv[1:], "runs": runs}, f, indent=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    ap.add_argument("--workers", type=int, default=4, help="server worker processes (both servers)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--points", type=int, default=100_000, help="points per client against asynctrack")
    ap.add_argument("--mlflow-points", type=int, default=5_000, help="points per client against MLflow")
    ap.add_argument("--requests", type=int, default=200, help="log-batch requests of 10 metrics per client")
    ap.add_argument("--quick", action="store_true", help="small counts, one repeat")
    ap.add_argument("--json", default="", help="write raw results here")
    ap.add_argument("--timeout", type=int, default=1200)
    w = ap.add_argument_group("worker (internal)")
    w.add_argument("--worker", choices=("throughput", "latency"), help=argparse.SUPPRESS)
    w.add_argument("--url", help=argparse.SUPPRESS)
    w.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    w.add_argument("--batch", type=int, default=10, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker == "throughput":
        print(json.dumps(client_throughput(a)))
    elif a.worker == "latency":
        print(json.dumps(client_latency(a)))
    else:
        if a.quick:
            a.points, a.mlflow_points, a.requests, a.repeats = 20_000, 1_000, 40, 1
        parent(a)


if __name__ == "__main__":
    main()
