"""Benchmark ``asynctrack db copy``: metric points copied per second, from MLflow's database and between
asynctrack files, against the way an MLflow user copies a store with MLflow 3.17.2's own client.

Run it (from the repository root; the MLflow side runs in a venv with ``mlflow==3.17.2``, by default the
one tests/servers.py builds under ~/.cache/asynctrack-tests)::

    python bench/db_copy.py                    # 20 runs x 5 keys x 20,000 points = 2,000,000 points
    python bench/db_copy.py --repeat 5 --runs 40

Setup (untimed): MLflow creates ``mlflow.db`` (its schema, one experiment, the runs with 10 params and 5
tags each, through ``MlflowClient``); the points are then inserted into MLflow's own ``metrics`` and
``latest_metrics`` tables with sqlite3 (MLflow's row format: one row per point), because logging millions of
points through MLflow's client would take many minutes.

Measured, ``--repeat`` times each, medians printed (points/s = points copied / wall time of the whole copy,
opening and the verification count included):

- asynctrack, MLflow's database -> a new asynctrack SQLite file: ``asynctrack db copy sqlite:///mlflow.db
  sqlite:///copy.db`` (the same code, ``copy_store``, called in-process);
- asynctrack, that asynctrack file -> another new one (through the store protocol);
- with ``--postgres`` (a server where a database may be created, e.g. postgresql://postgres@127.0.0.1:5432),
  that asynctrack file -> asynctrack's PostgreSQL store, a new database each time (dropped afterwards);
- MLflow 3.17.2's client copying ``--peer-runs`` of the runs from ``mlflow.db`` into a new MLflow SQLite
  database: ``create_run``, ``get_metric_history`` per key, ``log_batch`` of 1,000 points (MLflow's limit),
  ``log_batch`` of the params and tags, ``set_terminated``; MLflow has no copy command, this loop is what
  its documentation's APIs give. One run of it (it is slow); points/s from the runs it copied.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asynctrack.store import AbstractStore  # noqa: E402
from asynctrack.store.sqlite import SqliteStore  # noqa: E402
from asynctrack.transfer import CopyState, copy_store, open_source  # noqa: E402

_SETUP = textwrap.dedent(
    """
    import sqlite3, sys
    import numpy as np
    import mlflow
    from mlflow.entities import Param, RunTag
    db, runs, keys, points = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    client = mlflow.MlflowClient()
    eid = client.create_experiment("bench")
    ids = []
    for r in range(runs):
        run = client.create_run(eid, run_name=f"run{r}", start_time=1_700_000_000_000 + r)
        client.log_batch(run.info.run_id, params=[Param(f"p{i}", str(i * r)) for i in range(10)],
                         tags=[RunTag(f"t{i}", f"v{i}") for i in range(5)])
        client.set_terminated(run.info.run_id, "FINISHED", end_time=1_700_000_900_000)
        ids.append(run.info.run_id)
    conn = sqlite3.connect(db)
    steps = np.arange(points)
    for r, rid in enumerate(ids):
        for k in range(keys):
            values = np.sin(steps * (k + 1) * 0.001 + r)
            stamps = 1_700_000_000_000 + steps * 10
            conn.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                zip([f"m{k}"] * points, values.tolist(), stamps.tolist(), [rid] * points, steps.tolist()),
            )
            conn.execute(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, 0, ?)",
                (f"m{k}", float(values[-1]), int(stamps[-1]), points - 1, rid),
            )
    conn.commit()
    conn.close()
    """
)

_PEER = textwrap.dedent(
    """
    import sys, time
    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    src, dst, n_runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    source = mlflow.MlflowClient(tracking_uri=f"sqlite:///{src}")
    target = mlflow.MlflowClient(tracking_uri=f"sqlite:///{dst}")
    target.search_experiments()  # creates the database: not timed
    t0 = time.perf_counter()
    points = 0
    for exp in source.search_experiments():
        runs = source.search_runs([exp.experiment_id], max_results=n_runs)
        if not runs:
            continue
        eid = target.create_experiment(exp.name)
        for run in runs[:n_runs]:
            new = target.create_run(eid, start_time=run.info.start_time, run_name=run.info.run_name)
            rid = new.info.run_id
            for key in run.data.metrics:
                history = source.get_metric_history(run.info.run_id, key)
                for lo in range(0, len(history), 1000):
                    batch = [Metric(m.key, m.value, m.timestamp, m.step) for m in history[lo:lo + 1000]]
                    target.log_batch(rid, metrics=batch)
                points += len(history)
            target.log_batch(rid, params=[Param(k, v) for k, v in run.data.params.items()],
                             tags=[RunTag(k, v) for k, v in run.data.tags.items() if k != "mlflow.runName"])
            target.set_terminated(rid, run.info.status, run.info.end_time)
    print(points, time.perf_counter() - t0)
    """
)


def _default_mlflow_python() -> str:
    return str(Path.home() / ".cache" / "asynctrack-tests" / "mlflow-3.17.2" / "bin" / "python")


async def _copy(source_uri: str, target: Path | str) -> tuple[int, float]:
    t0 = time.perf_counter()
    source = await open_source(source_uri)
    if isinstance(target, Path):
        store: AbstractStore = await SqliteStore.open(str(target), str(target.parent / "artifacts"))
        state = CopyState(str(target) + ".state", source_uri)
    else:
        from asynctrack.store.postgres import PostgresStore

        store = await PostgresStore.open(target, "/bench/artifacts")
        state = CopyState(tempfile.mktemp(suffix=".state"), source_uri)
    try:
        report = await copy_store(source, store, state)
    finally:
        state.close()
        await store.aclose()
        await source.aclose()
    seconds = time.perf_counter() - t0
    if not report.matches:
        raise SystemExit(f"copy counts differ: {report.source} vs {report.target}")
    return report.target.points, seconds


async def _into_new_database(server: str, source_uri: str) -> tuple[int, float]:
    import uuid

    import asyncpg

    name = f"bench_db_copy_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server.rstrip("/") + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        try:
            return await _copy(source_uri, f"{server.rstrip('/')}/{name}")
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _rates(label: str, results: list[tuple[int, float]]) -> float:
    rates = [p / s for p, s in results]
    med = statistics.median(rates)
    spread = f"min {min(rates):,.0f}, max {max(rates):,.0f}"
    print(f"{label}: median {med:,.0f} points/s over {len(rates)} runs ({spread}); {results[0][0]:,} points")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--keys", type=int, default=5)
    ap.add_argument("--points", type=int, default=20_000, help="points per key per run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-runs", type=int, default=2, help="runs the MLflow client loop copies")
    ap.add_argument("--mlflow-python", default=_default_mlflow_python())
    ap.add_argument("--postgres", default="", help="a PostgreSQL server URI: also copy into a new database")
    a = ap.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load}; {a.runs} runs x {a.keys} keys "
        f"x {a.points:,} points = {a.runs * a.keys * a.points:,} points, repeat={a.repeat}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-db-copy-") as tmp:
        root = Path(tmp)
        mlflow_db = root / "mlflow.db"
        t0 = time.perf_counter()
        subprocess.run(
            [a.mlflow_python, "-c", _SETUP, str(mlflow_db), str(a.runs), str(a.keys), str(a.points)],
            check=True,
            cwd=root,
            capture_output=True,
        )
        print(
            f"setup (MLflow database) {time.perf_counter() - t0:.1f} s, "
            f"{mlflow_db.stat().st_size / 1e6:.0f} MB"
        )
        from_mlflow = []
        for i in range(a.repeat):
            from_mlflow.append(anyio.run(_copy, f"sqlite:///{mlflow_db}", root / f"copy{i}.db"))
        ours = _rates("asynctrack db copy  MLflow db -> asynctrack SQLite", from_mlflow)
        between = []
        for i in range(a.repeat):
            between.append(anyio.run(_copy, f"sqlite:///{root / 'copy0.db'}", root / f"again{i}.db"))
        _rates("asynctrack db copy  asynctrack SQLite -> asynctrack SQLite", between)
        if a.postgres:
            into_pg = [
                anyio.run(_into_new_database, a.postgres, f"sqlite:///{root / 'copy0.db'}")
                for _ in range(a.repeat)
            ]
            _rates("asynctrack db copy  asynctrack SQLite -> asynctrack PostgreSQL", into_pg)
        peer = subprocess.run(
            [a.mlflow_python, "-c", _PEER, str(mlflow_db), str(root / "peer.db"), str(a.peer_runs)],
            check=True,
            cwd=root,
            capture_output=True,
            text=True,
        )
        points, seconds = peer.stdout.split()[-2:]
        mlflow_rate = int(points) / float(seconds)
        print(
            f"MLflow 3.17.2 client loop  MLflow db -> MLflow SQLite: {mlflow_rate:,.0f} points/s "
            f"({int(points):,} points of {a.peer_runs} runs, one run)"
        )
        print(f"ratio (asynctrack from MLflow's db / MLflow's client loop): {ours / mlflow_rate:,.0f}x")


if __name__ == "__main__":
    main()
