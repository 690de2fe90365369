"""Benchmark the charts' data path: the exact bucket reduction of a long metric, in the store and over HTTP,
against reading the whole history, and against MLflow 3.17.2's ``get-history-bulk-interval`` on the same
points.

Run it (the MLflow venv is the tests' one, made by tests/servers.py, or any with ``mlflow==3.17.2``)::

    python bench/ui_series.py                       # 1M and 10M points; MLflow on the 1M series
    python bench/ui_series.py --quick               # 100k and 1M points, 3 repeats
    python bench/ui_series.py --mlflow-python /path/to/venv/bin/python

Data: one run with a 1,000,000-point metric and one with a 10,000,000-point metric, written as the pipeline
writes (10,000-point batches), values seeded normal noise with one one-step spike. MLflow gets the 1M series
in its own SQLite schema (bulk-inserted rows: loading through its API would take minutes) and a server of
its own. Each figure is the median of ``--repeats`` calls after one warm-up call; the process's load is
printed (the machine is shared).

Printed: the store's ``metric_buckets`` call in process (1,000 and 2,000 buckets, whole range and a 1% zoom),
``get_metric_series`` (the whole history: what a reduction without summaries must read), the UI's ``series``
endpoint over HTTP (time and JSON bytes), ``get-history-bulk-interval`` on both servers (320 points, as
MLflow's UI asks, and 2,500), and the spike check (the spike is in ``max`` at every figure).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import Server, fmt, free_port, median, serving  # noqa: E402

from asynctrack.store import MetricSeries  # noqa: E402
from asynctrack.store.sqlite import SqliteStore  # noqa: E402

SPIKE = 1e9
START = 1_700_000_000_000
BATCH = 10_000
UI = "/ajax-api/asynctrack/ui"
BULK = "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval"


def _values(n: int, seed: int) -> tuple[np.ndarray[Any, Any], int]:
    values = np.random.default_rng(seed).normal(size=n)
    spike = int(n * 0.61803)
    values[spike] = SPIKE
    return values, spike


async def build(db: str, sizes: list[int]) -> dict[int, str]:
    """A run per size with a metric ``m`` of that many points; returns {size: run_id}."""
    store = await SqliteStore.open(db, os.path.join(os.path.dirname(db), "artifacts"))
    runs = {}
    try:
        for n in sizes:
            run_id = (await store.create_run("0", "bench", START, [], f"points-{n}")).info.run_id
            values, _ = _values(n, n)
            t0 = time.perf_counter()
            for lo in range(0, n, BATCH):
                steps = np.arange(lo, min(lo + BATCH, n), dtype=np.int64)
                part = MetricSeries("m", values[lo : lo + BATCH], START + steps * 5, steps)
                await store.log_batch(run_id, [part], [], [])
            print(f"  wrote {fmt(n)} points in {time.perf_counter() - t0:.1f} s", flush=True)
            runs[n] = run_id
    finally:
        await store.aclose()
    return runs


async def timed(fn: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float | None, Any]:
    result = await fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - t0)
    return median(times), result


async def synchronous(db: str, n: int, repeats: int) -> list[tuple[str, ...]]:
    """A metric logged one point per write (synchronous logging): how many chunk rows it ends as, and the
    bucket query on it."""
    store = await SqliteStore.open(db, os.path.join(os.path.dirname(db), "artifacts"))
    try:
        run_id = (await store.create_run("0", "bench", START, [], f"sync-{n}")).info.run_id
        values, _ = _values(n, n + 1)
        t0 = time.perf_counter()
        for i in range(n):
            one = MetricSeries("m", values[i : i + 1], np.array([START + 5 * i]), np.array([i]))
            await store.log_batch(run_id, [one], [], [])
        spent = time.perf_counter() - t0
        t, b = await timed(partial(store.metric_buckets, run_id, "m", "step", None, None, 1000), repeats)
        assert b.count == n and np.nanmax(b.max) == SPIKE
    finally:
        await store.aclose()
    with sqlite3.connect(db) as conn:
        (chunks,) = conn.execute(
            "SELECT count(*) FROM metric_chunks c JOIN runs r USING (run_key) WHERE r.run_id = ?", (run_id,)
        ).fetchone()
    return [
        (
            fmt(n),
            f"synchronous one-point writes: {chunks} chunk rows after merging",
            f"{spent / n * 1e6:.0f} µs/write",
        ),
        (fmt(n), "metric_buckets on them, 1000 buckets, whole range", _ms(t)),
    ]


async def in_process(db: str, runs: dict[int, str], repeats: int) -> list[tuple[str, ...]]:
    rows = []
    store = await SqliteStore.open(db, os.path.join(os.path.dirname(db), "artifacts"))
    try:
        for n, run_id in runs.items():
            _, spike = _values(n, n)
            for buckets in (1000, 2000):
                t, b = await timed(
                    partial(store.metric_buckets, run_id, "m", "step", None, None, buckets), repeats
                )
                assert b.count == n and np.nanmax(b.max) == SPIKE
                rows.append((f"{fmt(n)}", f"metric_buckets, {buckets} buckets, whole range", _ms(t)))
            lo, hi = spike - n // 200, spike + n // 200
            zoom = partial(store.metric_buckets, run_id, "m", "wall", START + 5 * lo, START + 5 * hi, 1000)
            t, b = await timed(zoom, repeats)
            assert np.nanmax(b.max) == SPIKE
            rows.append((f"{fmt(n)}", "metric_buckets, 1000 buckets, 1% zoom (wall time)", _ms(t)))
            t, s = await timed(partial(store.get_metric_series, run_id, "m"), max(1, repeats // 2))
            assert len(s) == n
            rows.append((f"{fmt(n)}", "get_metric_series (whole history, numpy)", _ms(t)))
            t, s = await timed(partial(store.sample_metric, run_id, "m", 2500, None, None), repeats)
            rows.append((f"{fmt(n)}", "sample_metric, 2,500 points (bulk-interval's store call)", _ms(t)))
    finally:
        await store.aclose()
    return rows


def _ms(t: float | None) -> str:
    return "-" if t is None else f"{t * 1000:.1f} ms"


def http_times(url: str, path: str, params: dict[str, Any], repeats: int) -> tuple[float | None, int, Any]:
    with httpx.Client(base_url=url, timeout=600) as client:
        r = client.get(path, params=params)
        r.raise_for_status()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = client.get(path, params=params)
            times.append(time.perf_counter() - t0)
            r.raise_for_status()
        return median(times), len(r.content), r.json()


def mlflow_db(python: str, workdir: str, n: int) -> tuple[str, str]:
    """MLflow's SQLite database (made by MLflow itself) with one run holding the same n points."""
    db = os.path.join(workdir, "mlflow.db")
    script = (
        "from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore\n"
        f"s = SqlAlchemyStore('sqlite:///{db}', {os.path.join(workdir, 'mlflow-artifacts')!r})\n"
        "e = s.create_experiment('bench')\n"
        f"print(s.create_run(e, 'bench', {START}, [], 'points').info.run_id)\n"
    )
    out = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True)
    run_id = out.stdout.strip().splitlines()[-1]
    values, _ = _values(n, n)
    steps = np.arange(n)
    t0 = time.perf_counter()
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES ('m', ?, ?, ?, ?, 0)",
            zip(values.tolist(), (START + steps * 5).tolist(), [run_id] * n, steps.tolist(), strict=True),
        )
        conn.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES ('m', ?, ?, ?, 0, ?)",
            (float(values[-1]), START + (n - 1) * 5, n - 1, run_id),
        )
    print(f"  inserted {fmt(n)} rows into MLflow's schema in {time.perf_counter() - t0:.1f} s", flush=True)
    return db, run_id


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="100k and 1M points, 3 repeats")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument(
        "--mlflow-python",
        default=str(Path.home() / ".cache" / "asynctrack-tests" / "mlflow-3.17.2" / "bin" / "python"),
    )
    p.add_argument("--no-mlflow", action="store_true")
    p.add_argument("--sync-points", type=int, default=100_000, help="points logged one per write")
    a = p.parse_args()
    sizes = [100_000, 1_000_000] if a.quick else [1_000_000, 10_000_000]
    repeats = 3 if a.quick else a.repeats
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        db = os.path.join(workdir, "asynctrack.db")
        runs = asyncio.run(build(db, sizes))
        rows = asyncio.run(in_process(db, runs, repeats))
        rows += asyncio.run(synchronous(db, a.sync_points, repeats))
        port = free_port()
        server = Server(
            [
                sys.executable,
                "-m",
                "asynctrack",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{db}",
            ],
            port,
            os.path.join(workdir, "asynctrack-server.log"),
        )
        with serving(server):
            for n, run_id in runs.items():
                for buckets in (1000, 2000):
                    t, size, body = http_times(
                        server.url,
                        UI + "/series",
                        {"run_ids": run_id, "key": "m", "buckets": buckets},
                        repeats,
                    )
                    assert max(v for v in body["series"][0]["max"] if v is not None) == SPIKE
                    rows.append((fmt(n), f"HTTP series, {buckets} buckets", _ms(t), f"{size / 1000:.0f} KB"))
                for max_results in (320, 2500):
                    t, size, _ = http_times(
                        server.url,
                        BULK,
                        {"run_ids": run_id, "metric_key": "m", "max_results": max_results},
                        repeats,
                    )
                    rows.append(
                        (
                            fmt(n),
                            f"HTTP bulk-interval, {max_results} points (asynctrack)",
                            _ms(t),
                            f"{size / 1000:.0f} KB",
                        )
                    )
        mlflow_n = sizes[0] if a.quick else 1_000_000
        if not a.no_mlflow and os.path.exists(a.mlflow_python):
            mdb, mrun = mlflow_db(a.mlflow_python, workdir, mlflow_n)
            mport = free_port()
            mserver = Server(
                [
                    a.mlflow_python,
                    "-m",
                    "mlflow",
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(mport),
                    "--backend-store-uri",
                    f"sqlite:///{mdb}",
                    "--default-artifact-root",
                    os.path.join(workdir, "mlflow-artifacts"),
                    "--workers",
                    "1",
                ],
                mport,
                os.path.join(workdir, "mlflow-server.log"),
            )
            with serving(mserver):
                for max_results in (320, 2500):
                    t, size, body = http_times(
                        mserver.url,
                        BULK,
                        {"run_ids": mrun, "metric_key": "m", "max_results": max_results},
                        max(1, repeats // 4),  # MLflow takes seconds to a minute per call
                    )
                    top = max(m["value"] for m in body["metrics"])
                    rows.append(
                        (
                            fmt(mlflow_n),
                            f"HTTP bulk-interval, {max_results} points (MLflow 3.17.2)",
                            _ms(t),
                            f"{size / 1000:.0f} KB",
                            "spike kept" if top == SPIKE else "SPIKE LOST",
                        )
                    )
    print(f"load average at end: {os.getloadavg()}")
    print()
    print("| points | measure | median time | JSON | note |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join([*row, *[""] * (5 - len(row))]) + " |")


if __name__ == "__main__":
    main()
