"""Benchmark the PostgreSQL store: asynctrack vs MLflow 3.17.2, both direct clients on the same PostgreSQL.

Each library logs into a database of its own on the same server (created here, dropped at the end), from
worker subprocesses: asynctrack from this interpreter (``postgresql://`` tracking URI, asyncpg), MLflow from
its own venv with ``psycopg2-binary`` and ``psycopg[binary]`` (``ASYNCTRACK_BENCH_MLFLOW_PYTHON``, else the
tests' venv made by ``tests/servers.py``'s ``mlflow_python()``; add ``pip install psycopg2-binary
"psycopg[binary]"`` to it)::

    PYTHONPATH=. /work/venv/bin/python bench/postgres.py --runs 1000 --repeats 5

(b) direct client end to end: ``--ingest`` points (asynctrack) over 8 runs x 10 keys, ``log_metric(...,
    synchronous=False)`` then ``flush_async_logging()``; MLflow ``log_batch`` of 1,000 metrics per call
    (its fastest way), ``--ml-ingest`` points; metrics/s, median of ``--repeats`` workers.
(c) search at ``--runs`` runs x 20 metrics x 20 params x 5 tags (bench/search.py's seeded data): (a)
    ``metrics.m3 > 0.5`` ordered by ``metrics.m7 DESC``, (b) ``params.p0 = 'a' and tags.t0 LIKE
    'team-1%'``, 100 results; median of ``--repeats`` timings after a warm-up, answers checked against
    the data.
(d) one metric of ``--points`` points (asynctrack ``log_metric_array``; MLflow ``log_batch`` chunks of
    1,000, ``--ml-points`` of them): ``get_metric_history`` (objects) and, asynctrack only, the UI's
    bucket query (``metric_buckets``, 1,000 buckets) and ``get_metric_series`` (arrays).
Both databases are VACUUMed and ANALYZEd after the setup (what autovacuum does to a live database) and
before the queries.
(e) bytes per metric point on disk: the metric tables with their indexes and TOAST
    (``pg_total_relation_size``) after (b)-(d), divided by the points logged.

``--server`` runs the server benchmarks instead (each on a fresh database of its own):

(a) server ingest: ``asynctrack server`` vs ``mlflow server`` (its venv), both ``--workers`` worker
    processes on PostgreSQL, ``--clients`` client processes logging ``--server-points`` points each (MLflow
    ``--ml-server-points``) with asynctrack's REST client (``synchronous=False``, bench/server.py's client);
    durable metrics/s = points read back / time to the last flush; then log-batch of 1,000 metrics
    p50/p99 (``--requests`` per client).
(f) scale-out: 1, 2 and 4 separate ``asynctrack server`` processes (one worker each, own ports) on one
    database, the clients spread over them; metrics/s and metrics per CPU-second of the server processes
    and of the whole machine (PostgreSQL and clients included), so the scaling shows on a 2-core box.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from search import BASE_MS, FILTER_A, FILTER_B, ORDER_A, TOP, expected, make_runs  # noqa: E402

SCRIPT = os.path.abspath(__file__)
TAG = "BENCH-RESULT "
Result = dict[str, Any]


# ---------------------------------------------------------------------------------------------- workers
def _client(lib: str, uri: str) -> tuple[Any, Any, Any]:
    import importlib

    lib = lib.removesuffix("-bulk")
    mod = importlib.import_module(lib)
    mod.set_tracking_uri(uri)
    return mod, importlib.import_module(f"{lib}.entities"), mod.MlflowClient()


def w_ingest(a: argparse.Namespace) -> Result:
    mod, ent, client = _client(a.lib, a.uri)
    exp = client.create_experiment(f"ingest-{uuid.uuid4().hex}")
    runs = [client.create_run(exp).info.run_id for _ in range(8)]
    n = a.n
    t0 = time.perf_counter()
    if a.lib == "asynctrack":
        per = n // (8 * 10)
        for step in range(per):
            for run_id in runs:
                for k in range(10):
                    client.log_metric(
                        run_id, f"k{k}", float(step), timestamp=BASE_MS, step=step, synchronous=False
                    )
        mod.flush_async_logging()
        done = per * 80
    elif (
        a.lib == "asynctrack-bulk"
    ):  # the same points as arrays of 1,000: the store's rate, not per-call cost
        import numpy as np

        per = n // (8 * 10)
        for lo in range(0, per, 1000):
            steps = np.arange(lo, min(per, lo + 1000))
            values, stamps = steps.astype(np.float64), np.full(len(steps), BASE_MS)
            for run_id in runs:
                for k in range(10):
                    client.log_metric_array(run_id, f"k{k}", values, steps, stamps, synchronous=False)
        mod.flush_async_logging()
        done = per * 80
    else:
        done = 0
        step = 0
        while done < n:
            for run_id in runs:
                ms = [
                    ent.Metric(f"k{k}", float(s), BASE_MS, s)
                    for s in range(step, step + 100)
                    for k in range(10)
                ]
                client.log_batch(run_id, metrics=ms)
                done += len(ms)
            step += 100
    return {"points": done, "seconds": time.perf_counter() - t0}


def _seed_mlflow_sql(a: argparse.Namespace, client: Any, ent: Any, exp: str, runs: list[Result]) -> None:
    """MLflow's runs 2..n written straight into its schema (``--ml-seed sql``): its client needs hours for
    100,000 runs here. The first run is logged through MLflow's client, and its rows in every run table are
    the template the others are cloned from (new run id, name, start time and values), so the rows are the
    ones MLflow writes; three cloned runs are then read back through MLflow's client and checked."""
    import psycopg2  # type: ignore[import-not-found]
    from psycopg2.extras import execute_values  # type: ignore[import-not-found]

    first = runs[0]
    rid0 = client.create_run(exp, start_time=first["start"], run_name=first["name"]).info.run_id
    ts0 = first["start"] + 500
    client.log_batch(
        rid0,
        [ent.Metric(f"m{k}", v, ts0, 0) for k, v in enumerate(first["m"])],
        [ent.Param(f"p{k}", v) for k, v in enumerate(first["p"])],
        [ent.RunTag(f"t{k}", v) for k, v in enumerate(first["t"])],
    )
    conn = psycopg2.connect(a.uri)
    cur = conn.cursor()
    template: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    for table in ("runs", "params", "tags", "metrics", "latest_metrics"):
        cur.execute(f"SELECT * FROM {table} WHERE run_uuid = %s", (rid0,))
        template[table] = ([d.name for d in cur.description], cur.fetchall())

    def clone(table: str, rid: str, r: Result) -> list[tuple[Any, ...]]:
        cols, rows = template[table]
        out = []
        for row in rows:
            d = dict(zip(cols, row, strict=True))
            d["run_uuid"] = rid
            key = d.get("key")
            if table == "runs":
                d["name"], d["start_time"] = r["name"], r["start"]
                d["artifact_uri"] = str(d["artifact_uri"]).replace(rid0, rid)
            elif table == "params":
                d["value"] = r["p"][int(key[1:])]
            elif table == "tags":
                if key == "mlflow.runName":
                    d["value"] = r["name"]
                elif key.startswith("t") and key[1:].isdigit():
                    d["value"] = r["t"][int(key[1:])]
            else:  # metrics, latest_metrics
                d["value"], d["timestamp"] = r["m"][int(key[1:])], r["start"] + 500
            out.append(tuple(d[c] for c in cols))
        return out

    for lo in range(1, len(runs), 2000):
        part = [(uuid.uuid4().hex, r) for r in runs[lo : lo + 2000]]
        for table in ("runs", "params", "tags", "metrics", "latest_metrics"):
            cols = template[table][0]
            rows = [row for rid, r in part for row in clone(table, rid, r)]
            execute_values(cur, f"INSERT INTO {table} ({', '.join(cols)}) VALUES %s", rows, page_size=5000)
        conn.commit()
        if lo % 20_000 == 1:
            print(f"progress: {lo + len(part)} runs seeded", file=sys.stderr, flush=True)
    cur.execute("SELECT run_uuid, name FROM runs WHERE experiment_id = %s ORDER BY name", (int(exp),))
    by_name = {name: rid for rid, name in cur.fetchall()}
    conn.close()
    assert len(by_name) == len(runs), (len(by_name), len(runs))
    for r in (runs[1], runs[len(runs) // 2], runs[-1]):
        got = client.get_run(by_name[r["name"]])
        assert got.info.run_name == r["name"] and got.info.start_time == r["start"], got.info
        assert got.data.metrics == {f"m{k}": v for k, v in enumerate(r["m"])}, r["name"]
        assert got.data.params == {f"p{k}": v for k, v in enumerate(r["p"])}, r["name"]
        assert {k: v for k, v in got.data.tags.items() if k.startswith("t")} == {
            f"t{k}": v for k, v in enumerate(r["t"])
        }, r["name"]


def w_setup(a: argparse.Namespace) -> Result:
    mod, ent, client = _client(a.lib, a.uri)
    exp = client.create_experiment("search")
    t0 = time.perf_counter()
    if a.lib == "mlflow" and a.seed == "sql":
        _seed_mlflow_sql(a, client, ent, exp, make_runs(a.n, 42))
    for r in make_runs(a.n, 42) if not (a.lib == "mlflow" and a.seed == "sql") else []:
        run_id = client.create_run(exp, start_time=r["start"], run_name=r["name"]).info.run_id
        ts = r["start"] + 500
        metrics = [ent.Metric(f"m{k}", v, ts, 0) for k, v in enumerate(r["m"])]
        params = [ent.Param(f"p{k}", v) for k, v in enumerate(r["p"])]
        tags = [ent.RunTag(f"t{k}", v) for k, v in enumerate(r["t"])]
        if a.lib == "asynctrack":
            client.log_batch(run_id, metrics, params, tags, synchronous=False)
        else:
            client.log_batch(run_id, metrics, params, tags)
    if a.lib == "asynctrack":
        mod.flush_async_logging()
    runs_s = time.perf_counter() - t0
    import numpy as np

    big = client.create_run(exp, start_time=BASE_MS, run_name="big").info.run_id
    values = np.random.default_rng(1).random(a.points)
    t0 = time.perf_counter()
    if a.lib == "asynctrack":
        steps = np.arange(a.points)
        client.log_metric_array(big, "big", values, steps=steps, timestamps=BASE_MS + steps)
        mod.flush_async_logging()
    else:
        for s in range(0, a.points, 1000):
            chunk = values[s : s + 1000].tolist()
            client.log_batch(
                big, metrics=[ent.Metric("big", v, BASE_MS + s + j, s + j) for j, v in enumerate(chunk)]
            )
    return {"exp": exp, "big": big, "runs_s": runs_s, "hist_s": time.perf_counter() - t0}


def w_query(a: argparse.Namespace) -> Result:
    mod, _, client = _client(a.lib, a.uri)
    want = expected(make_runs(a.n, 42))
    out: Result = {}

    def timed(name: str, fn: Any) -> Any:
        fn()  # warm-up (connections, prepared statements, caches)
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
        return result

    ra = timed("a", lambda: client.search_runs([a.exp], FILTER_A, order_by=ORDER_A, max_results=TOP))
    rb = timed("b", lambda: client.search_runs([a.exp], FILTER_B, max_results=TOP))
    out["a_ok"] = sorted(r.info.run_name for r in ra) == want["a"]
    out["b_ok"] = sorted(r.info.run_name for r in rb) == want["b"]
    hist = timed("history", lambda: client.get_metric_history(a.big, "big"))
    out["history_points"] = len(hist)
    if a.lib == "asynctrack":
        from asynctrack.store.postgres import PostgresStore

        async def store_reads() -> None:
            store = await PostgresStore.open(a.uri, "/tmp/unused")
            try:
                for name, call in (
                    ("buckets", lambda: store.metric_buckets(a.big, "big", n_buckets=1000)),
                    ("series", lambda: store.get_metric_series(a.big, "big")),
                ):
                    await call()
                    times = []
                    for _ in range(a.repeats):
                        t0 = time.perf_counter()
                        await call()
                        times.append(time.perf_counter() - t0)
                    out[name] = statistics.median(times)
            finally:
                await store.aclose()

        asyncio.run(store_reads())
    return out


WORKERS = {"ingest": w_ingest, "setup": w_setup, "query": w_query}


# ---------------------------------------------------------------------------------------- server benches
def _pg_server(python: str, lib: str, uri: str, workdir: str, workers: int) -> Any:
    from _common import Server, free_port

    port = free_port()
    common = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        uri,
        "--workers",
        str(workers),
    ]
    art = ["--default-artifact-root", os.path.join(workdir, "artifacts")]
    argv = [python, "-m", lib, "server", *common, *art]
    return Server(argv, port, os.path.join(workdir, f"{lib}-{port}.log"))


def _tree_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of the processes and their live children."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def _machine_busy() -> float:
    import psutil

    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def _server_round(a: argparse.Namespace, lib: str, python: str, servers: int, workers: int) -> Result:
    """Fresh database, ``servers`` server processes on it, the throughput (and, for (a), latency) clients."""
    import tempfile

    import server as sb  # bench/server.py: its client processes and read-back

    db = f"bench_pgsrv_{lib}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(a.base, f"CREATE DATABASE \"{db}\" TEMPLATE template0 ENCODING 'UTF8'"))
    uri = f"{a.base}/{db}"
    points = a.server_points if lib == "asynctrack" else a.ml_server_points
    ns = argparse.Namespace(clients=a.clients, timeout=3600)
    res: Result = {"servers": servers, "workers": workers}
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-pgsrv-{lib}-") as tmp:
            procs = [_pg_server(python, lib, uri, tmp, workers) for _ in range(servers)]
            try:
                for p in procs:  # one after another: the first creates the schema
                    p.start()
                urls = [p.url for p in procs]
                pids = [p.proc.pid for p in procs if p.proc is not None]
                cpu0, busy0 = _tree_cpu(pids), _machine_busy()
                tp = sb._clients(ns, "throughput", urls, ["--points", str(points)])
                end = max(r["flushed"] for r in tp)
                cpu1, busy1 = _tree_cpu(pids), _machine_busy()
                stored = sb._read_back(urls[0], [r["run_id"] for r in tp])
                sent = sum(r["points"] for r in tp)
                res |= {"metrics_per_s": stored / (end - tp[0]["start"]), "sent": sent, "lost": sent - stored}
                res["per_server_cpu_s"] = stored / max(cpu1 - cpu0, 1e-9)
                res["per_machine_cpu_s"] = stored / max(busy1 - busy0, 1e-9)
                if a.requests:
                    reqs = a.requests if lib == "asynctrack" else max(1, a.requests // 10)
                    lat = sb._clients(ns, "latency", urls, ["--batch", "1000", "--requests", str(reqs)])
                    all_lat = sorted(x for r in lat for x in r["latencies"])
                    res["p50_1000_ms"] = all_lat[len(all_lat) // 2] * 1e3
                    res["p99_1000_ms"] = all_lat[min(len(all_lat) - 1, int(len(all_lat) * 0.99))] * 1e3
            finally:
                for p in procs:
                    p.stop()
    finally:
        asyncio.run(_admin(a.base, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    print(f"[{lib} x{servers}] {json.dumps(res)}", file=sys.stderr, flush=True)
    return res


def server_parent(a: argparse.Namespace) -> None:
    ml_python = _mlflow_python()
    print(
        f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"PostgreSQL at {a.base}; "
        f"clients={a.clients} workers={a.workers} points/client: asynctrack {a.server_points:,}, "
        f"MLflow {a.ml_server_points:,}; repeats={a.repeats}",
        flush=True,
    )

    def med(rounds: list[Result], key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    at = [_server_round(a, "asynctrack", sys.executable, 1, a.workers) for _ in range(a.repeats)]
    ml = [_server_round(a, "mlflow", ml_python, 1, a.workers) for _ in range(a.repeats)]
    print(
        f"\n{'(a) one server, ' + str(a.workers) + ' workers, PostgreSQL':<46} "
        f"{'asynctrack':>12} {'MLflow':>12}"
    )
    for key, title in (
        ("metrics_per_s", "durable metrics/s"),
        ("lost", "points lost"),
        ("p50_1000_ms", "log-batch 1,000 metrics p50 ms"),
        ("p99_1000_ms", "log-batch 1,000 metrics p99 ms"),
    ):
        if key in at[0]:
            x, y = med(at, key), med(ml, key)
            ratio = (
                ""
                if key == "lost" or not x or not y
                else f"{(x / y if key == 'metrics_per_s' else y / x):8.1f}x"
            )
            print(f"{title:<46} {x:>12.4g} {y:>12.4g} {ratio}")
    a.requests = 0
    print(
        f"\n{'(f) N asynctrack servers, 1 worker each':<46} {'metrics/s':>12} {'/server CPU-s':>14} "
        f"{'/machine CPU-s':>15}"
    )
    for n in (1, 2, 4):
        rounds = [_server_round(a, "asynctrack", sys.executable, n, 1) for _ in range(a.repeats)]
        print(
            f"{str(n) + ' server process(es)':<46} {med(rounds, 'metrics_per_s'):>12.4g} "
            f"{med(rounds, 'per_server_cpu_s'):>14.4g} {med(rounds, 'per_machine_cpu_s'):>15.4g}"
        )


# ---------------------------------------------------------------------------------------------- parent
def _mlflow_python() -> str:
    found = os.environ.get("ASYNCTRACK_BENCH_MLFLOW_PYTHON")
    if found:
        return found
    sys.path.insert(0, os.path.join(os.path.dirname(SCRIPT), "..", "tests"))
    from servers import mlflow_python

    return str(mlflow_python())


def job(python: str, lib: str, uri: str, worker: str, **kw: Any) -> Result:
    cmd = [python, SCRIPT, "--worker", worker, "--lib", lib, "--uri", uri]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return dict(json.loads(line[len(TAG) :]))
    raise RuntimeError(f"{lib} {worker} failed:\n{proc.stderr[-3000:]}")


async def _admin(base: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base + "/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _analyze(uri: str) -> None:
    """Fresh statistics and visibility maps, as autovacuum gives a live database (it vacuums insert-only
    tables too, since PostgreSQL 13): without statistics the planner takes the just filled tables for
    empty and picks nested loops (measured: 0.5 s instead of 2 ms for query (b)); without the visibility
    map no scan can be index-only."""
    import asyncpg

    conn = await asyncpg.connect(uri)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _sizes(uri: str, tables: list[str]) -> int:
    import asyncpg

    conn = await asyncpg.connect(uri)
    try:
        total = 0
        for t in tables:
            total += int(
                await conn.fetchval("SELECT coalesce(pg_total_relation_size(to_regclass($1)), 0)", t)
            )
        await conn.execute("CHECKPOINT")
        return total
    finally:
        await conn.close()


def parent(a: argparse.Namespace) -> None:
    ml_python = _mlflow_python()
    pythons = {"asynctrack": sys.executable, "mlflow": ml_python}
    print(
        f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"PostgreSQL at {a.base}; "
        f"runs={a.runs:,} points={a.points:,} (MLflow {a.ml_points:,}) ingest={a.ingest:,} "
        f"(MLflow {a.ml_ingest:,}) repeats={a.repeats}",
        flush=True,
    )
    dbs = {lib: f"bench_pg_{lib}_{uuid.uuid4().hex[:8]}" for lib in pythons}
    results: dict[str, Result] = {}
    try:
        for lib, db in dbs.items():
            asyncio.run(_admin(a.base, f"CREATE DATABASE \"{db}\" TEMPLATE template0 ENCODING 'UTF8'"))
            uri = f"{a.base}/{db}"
            py = pythons[lib]
            r: Result = {}
            n = a.ingest if lib == "asynctrack" else a.ml_ingest
            ingests = [job(py, lib, uri, "ingest", n=n) for _ in range(a.repeats)]
            r["ingest_rate"] = statistics.median(x["points"] / x["seconds"] for x in ingests)
            r["ingest_points"] = sum(x["points"] for x in ingests)
            if lib == "asynctrack":
                bulk = [job(py, "asynctrack-bulk", uri, "ingest", n=n) for _ in range(a.repeats)]
                r["bulk_ingest_rate"] = statistics.median(x["points"] / x["seconds"] for x in bulk)
                r["ingest_points"] += sum(x["points"] for x in bulk)
            points = a.points if lib == "asynctrack" else a.ml_points
            s = job(py, lib, uri, "setup", n=a.runs, points=points, seed=a.ml_seed)
            r |= {"setup": s, "history_points": points}
            asyncio.run(_analyze(uri))
            r["query"] = job(py, lib, uri, "query", n=a.runs, exp=s["exp"], big=s["big"], repeats=a.repeats)
            tables = (
                ["metric_chunks", "latest_metrics", "metric_tails", "metric_keys"]
                if lib == "asynctrack"
                else ["metrics", "latest_metrics"]
            )
            total_points = r["ingest_points"] + a.runs * 20 + points
            r["bytes_per_point"] = asyncio.run(_sizes(uri, tables)) / total_points
            results[lib] = r
            print(f"[{lib}] {json.dumps(r)}", file=sys.stderr, flush=True)
    finally:
        for db in dbs.values():
            asyncio.run(_admin(a.base, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    at, ml = results["asynctrack"], results["mlflow"]

    def line(name: str, x: float, y: float, unit: str, higher_better: bool) -> str:
        ratio = x / y if higher_better else y / x
        return f"{name:<46} {x:>12.4g} {y:>12.4g} {unit:<10} {ratio:>8.1f}x"

    print(f"\n{'':<46} {'asynctrack':>12} {'MLflow':>12} {'unit':<10} {'ratio':>9}")
    print(line("(b) direct client ingest", at["ingest_rate"], ml["ingest_rate"], "metrics/s", True))
    print(
        f"(b) asynctrack direct client ingest as arrays of 1,000 (log_metric_array, async): "
        f"{at['bulk_ingest_rate']:.4g} metrics/s"
    )
    for k, title in (("a", "(c) metric filter + order by metric"), ("b", "(c) param filter + tag LIKE")):
        print(line(title, at["query"][k] * 1e3, ml["query"][k] * 1e3, "ms", False))
    print(
        line(
            f"(d) history as objects (MLflow {ml['history_points']:,} pts)",
            at["query"]["history"] * 1e3,
            ml["query"]["history"] * 1e3 * at["history_points"] / ml["history_points"],
            "ms/1M-pt" if at["history_points"] == 1_000_000 else "ms scaled",
            False,
        )
    )
    print(
        f"(d) asynctrack history as arrays: {at['query']['series'] * 1e3:.1f} ms; UI bucket query (1,000 "
        f"buckets): {at['query']['buckets'] * 1e3:.1f} ms"
    )
    print(line("(e) bytes per point on disk", at["bytes_per_point"], ml["bytes_per_point"], "B", False))
    print(
        f"answers: asynctrack (a) {at['query']['a_ok']} (b) {at['query']['b_ok']}; "
        f"MLflow (a) {ml['query']['a_ok']} (b) {ml['query']['b_ok']}; MLflow history scaled linearly "
        f"from {ml['history_points']:,} points; setup s: asynctrack {at['setup']}, MLflow {ml['setup']}"
    )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="postgresql://postgres@127.0.0.1:5432", help="server URI, no database")
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--ml-points", type=int, default=100_000)
    ap.add_argument("--ingest", type=int, default=400_000)
    ap.add_argument("--ml-ingest", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default="")
    ap.add_argument(
        "--ml-seed",
        choices=("client", "sql"),
        default="client",
        help="how MLflow's --runs runs are made for (c): through its client (hours at 100,000 here), or its "
        "first run through the client and the others cloned from that run's rows in its schema",
    )
    sv = ap.add_argument_group("server benchmarks (a) and (f)")
    sv.add_argument("--server", action="store_true", help="run (a) and (f) instead of (b)-(e)")
    sv.add_argument("--clients", type=int, default=8)
    sv.add_argument("--workers", type=int, default=4)
    sv.add_argument("--server-points", type=int, default=100_000, help="points per client, asynctrack")
    sv.add_argument("--ml-server-points", type=int, default=2_000, help="points per client, MLflow")
    sv.add_argument("--requests", type=int, default=50, help="log-batch requests of 1,000 metrics per client")
    w = ap.add_argument_group("worker (internal)")
    for name in ("worker", "lib", "uri", "exp", "big", "seed"):
        w.add_argument(f"--{name}", default=None, help=argparse.SUPPRESS)
    w.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker is None and a.server:
        server_parent(a)
    elif a.worker is None:
        parent(a)
    else:
        print(TAG + json.dumps(WORKERS[a.worker](a)), flush=True)


if __name__ == "__main__":
    main()
