"""Benchmark search_runs, paging and metric-history reads: asynctrack vs MLflow 3.17.2, embedded SQLite.

Same venv as bench/pipeline.py (from the repository root)::

    python -m venv /opt/bench-venv
    /opt/bench-venv/bin/pip install mlflow==3.17.2 -e /work/main    # generic: pip install mlflow==3.17.2 -e .

Run it::

    /opt/bench-venv/bin/python bench/search.py --quick       # 1,000 runs, 100,000 history points: ~3 minutes
    /opt/bench-venv/bin/python bench/search.py               # 10,000 runs; MLflow's setup alone takes minutes
    /opt/bench-venv/bin/python bench/search.py --repeats 5 --json /tmp/search.json --keep /tmp/search-dbs

Setup, once per library per invocation, in its own subprocess (``--worker setup``), timed and reported: an
experiment of ``--runs`` runs (10,000; 1,000 with ``--quick``) named run-00000, run-00001, ..., each with
20 metrics m0..m19 (random floats in [0, 1), latest values), 20 params (p0 in {a, b, c}; p1..p19 random hex)
and 5 tags (t0 = team-<0..99>, so LIKE 'team-1%' matches ~11%; t1..t4 random hex), all drawn from one
seeded RNG so both stores hold the same values and start times; plus, in a second experiment, one run with
one metric of 1,000,000 points (100,000 with ``--quick``). asynctrack uses ``MlflowClient().create_run`` +
``log_batch(..., synchronous=False)`` + ``flush_async_logging()`` and ``log_metric_array``; MLflow uses
``create_run`` + ``log_batch`` (synchronous) and ``log_batch`` chunks of 1,000 points for the history. If
MLflow's history would take over ``--ml-history-budget`` seconds (projected from its first 20,000 points),
it stops at 200,000 points, and the history rows say so (their ratio is then per point).

Queries: ``--repeats`` times, interleaved asynctrack, MLflow, ..., a fresh subprocess (``--worker query``)
opens the prepared database, warms up (one untimed (a), (b) and a 1-point history read), then times once
each of: (a) ``search_runs([exp], "metrics.m3 > 0.5", order_by=["metrics.m7 DESC"], max_results=100)``;
(b) ``search_runs([exp], "params.p0 = 'a' and tags.t0 LIKE 'team-1%'", max_results=100)`` (default order:
start_time DESC); (c) paging through all runs 1000 at a time until the page token is None; (d)
``get_metric_history`` of the big metric (asynctrack also ``get_metric_history_arrays``). Medians are
printed; ratios are MLflow time / asynctrack time, so > 1 means asynctrack is faster. Answers are checked:
(a) and (b) must return the same run names in both stores and as computed from the seeded data, (c) every
run exactly once, (d) every point. ``--keep DIR`` keeps the databases in DIR and reuses a matching setup.
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt, median_of, mlflow_version  # noqa: E402

SCRIPT = os.path.abspath(__file__)
RESULT_TAG = "BENCH-RESULT "
Result = dict[str, Any]
LIBS = ("asynctrack", "mlflow")
BASE_MS = 1_700_000_000_000  # start times and timestamps are fixed, so both stores hold the same data
EXP_NAME, HIST_EXP_NAME, BIG_KEY = "search-bench", "search-bench-history", "big"
FILTER_A, ORDER_A = "metrics.m3 > 0.5", ["metrics.m7 DESC"]
FILTER_B = "params.p0 = 'a' and tags.t0 LIKE 'team-1%'"
TOP = 100


# ---------------------------------------------------------------------------------------------- shared
def make_runs(n: int, seed: int) -> list[Result]:
    """The runs' names, start times and values; the same for both libraries (one seeded RNG)."""
    rng = random.Random(seed)

    def hx() -> str:
        return f"{rng.getrandbits(32):08x}"

    runs = []
    for i in range(n):
        metrics = [rng.random() for _ in range(20)]
        params = [rng.choice("abc")] + [hx() for _ in range(19)]
        tags = [f"team-{rng.randrange(100)}"] + [hx() for _ in range(4)]
        runs.append(
            {"name": f"run-{i:05d}", "start": BASE_MS + i * 1000, "m": metrics, "p": params, "t": tags}
        )
    return runs


def expected(runs: list[Result]) -> dict[str, list[str]]:
    """The names (a) and (b) must return, computed from the data."""
    a = sorted((r for r in runs if r["m"][3] > 0.5), key=lambda r: -r["m"][7])[:TOP]
    b = [r for r in runs if r["p"][0] == "a" and r["t"][0].startswith("team-1")]
    b = sorted(b, key=lambda r: -r["start"])[:TOP]
    return {"a": sorted(r["name"] for r in a), "b": sorted(r["name"] for r in b)}


def progress(msg: str) -> None:
    print(f"progress: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- worker side
def setup(a: argparse.Namespace) -> Result:
    """Fill a new store: the search experiment, then the big history run."""
    import numpy as np

    mod, ent = importlib.import_module(a.lib), importlib.import_module(f"{a.lib}.entities")
    at = a.lib == "asynctrack"
    mod.set_tracking_uri(f"sqlite:///{a.db}")
    client = mod.MlflowClient()
    runs = make_runs(a.runs, a.seed)
    exp = client.create_experiment(EXP_NAME)  # opens (creates, migrates) the store: not timed
    hist_exp = client.create_experiment(HIST_EXP_NAME)
    t0 = last = time.perf_counter()
    for i, r in enumerate(runs):
        run_id = client.create_run(exp, start_time=r["start"], run_name=r["name"]).info.run_id
        ts = r["start"] + 500
        metrics = [ent.Metric(f"m{k}", v, ts, 0) for k, v in enumerate(r["m"])]
        params = [ent.Param(f"p{k}", v) for k, v in enumerate(r["p"])]
        tags = [ent.RunTag(f"t{k}", v) for k, v in enumerate(r["t"])]
        if at:
            client.log_batch(run_id, metrics, params, tags, synchronous=False)
        else:
            client.log_batch(run_id, metrics, params, tags)
        if time.perf_counter() - last > 10:
            last, done = time.perf_counter(), i + 1
            rate = done / (last - t0)
            progress(f"{done:,}/{a.runs:,} runs, {rate:.0f} runs/s, ~{(a.runs - done) / rate:.0f} s left")
    if at:
        mod.flush_async_logging()
    runs_s = time.perf_counter() - t0
    progress(f"{a.runs:,} runs in {runs_s:.1f} s; logging the {a.points:,}-point history")

    values = np.random.default_rng(a.seed).random(a.points)
    t0 = time.perf_counter()
    big = client.create_run(hist_exp, start_time=BASE_MS, run_name="big")
    big_id, points = big.info.run_id, a.points
    if at:
        steps = np.arange(a.points)
        client.log_metric_array(big_id, BIG_KEY, values, steps=steps, timestamps=BASE_MS + steps)
        mod.flush_async_logging()
    else:
        for start in range(0, a.points, 1000):
            chunk = values[start : start + 1000].tolist()
            ms = [ent.Metric(BIG_KEY, v, BASE_MS + start + j, start + j) for j, v in enumerate(chunk)]
            client.log_batch(big_id, metrics=ms)
            done = start + len(chunk)
            if done == 20_000 and (time.perf_counter() - t0) / done * a.points > a.ml_history_budget:
                points = min(a.points, a.ml_history_fallback)
                progress(f"MLflow history projected over {a.ml_history_budget} s: stopping at {points:,}")
            if done >= points:
                break
            if done % 50_000 == 0:
                progress(f"{done:,}/{points:,} history points, {time.perf_counter() - t0:.0f} s")
    hist_s = time.perf_counter() - t0
    return {"exp": exp, "big_run": big_id, "points": points, "runs_s": runs_s, "hist_s": hist_s}


def query(a: argparse.Namespace) -> Result:
    """Warm up on the prepared store, then time (a), (b), (c), (d) once each and record the answers; a
    step that raises is recorded as ``<step>_error`` with its traceback, and the others still run."""
    mod = importlib.import_module(a.lib)
    mod.set_tracking_uri(f"sqlite:///{a.db}")
    client, out = mod.MlflowClient(), {}

    def search(flt: str, order: list[str]) -> tuple[float, list[Any]]:
        t0 = time.perf_counter()
        res = client.search_runs([a.exp], flt, order_by=order, max_results=TOP)
        return (time.perf_counter() - t0) * 1e3, res

    def answers(step: str, rs: list[Any]) -> Result:  # a fast search must still return the runs' data
        full = all(len(r.data.metrics) == 20 and len(r.data.params) == 20 for r in rs)
        return {f"{step}_names": sorted(r.info.run_name for r in rs), f"{step}_full": full}

    def warm() -> Result:
        runs = search(FILTER_A, ORDER_A)[1] + search(FILTER_B, [])[1]
        if runs:
            client.get_metric_history(runs[0].info.run_id, "m0")
        return {}

    def step_a() -> Result:
        ms, rs = search(FILTER_A, ORDER_A)
        m7 = [r.data.metrics.get("m7", float("nan")) for r in rs]
        return {"a_ms": ms, "a_ordered": m7 == sorted(m7, reverse=True), **answers("a", rs)}

    def step_b() -> Result:
        ms, rs = search(FILTER_B, [])
        return {"b_ms": ms, **answers("b", rs)}

    def step_c() -> Result:
        ids: list[str] = []
        pages, token, t0 = 0, None, time.perf_counter()
        while pages == 0 or (token and pages <= a.runs):  # bounded, in case a token never ends
            page = client.search_runs([a.exp], "", max_results=1000, page_token=token)
            ids.extend(r.info.run_id for r in page)
            pages, token = pages + 1, page.token
        return {
            "c_s": time.perf_counter() - t0,
            "c_count": len(ids),
            "c_unique": len(set(ids)),
            "c_pages": pages,
        }

    def step_d() -> Result:
        t0 = time.perf_counter()
        n = len(client.get_metric_history(a.big_run, BIG_KEY))
        return {"d_s": time.perf_counter() - t0, "d_points": n}

    def step_e() -> Result:
        t0 = time.perf_counter()
        n = len(client.get_metric_history_arrays(a.big_run, BIG_KEY)[0])
        return {"e_s": time.perf_counter() - t0, "e_points": n}

    steps = {"warm": warm, "a": step_a, "b": step_b, "c": step_c, "d": step_d}
    for name, fn in (steps | ({"e": step_e} if a.lib == "asynctrack" else {})).items():
        try:
            out |= fn()
        except Exception:
            out[f"{name}_error"] = traceback.format_exc()
    return out


def worker(a: argparse.Namespace) -> Result:
    faulthandler.dump_traceback_later(a.timeout, exit=True)  # a hang prints every thread's stack
    return setup(a) if a.worker == "setup" else query(a)


# ---------------------------------------------------------------------------------------------- parent side
def run_job(lib: str, args: list[str], cwd: str, timeout: int, label: str) -> Result:
    """Run one worker; echo its ``progress:`` lines; return its JSON result or ``{"error": ...}``."""
    cmd = [sys.executable, SCRIPT, "--lib", lib, "--timeout", str(timeout), *args]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    tail: collections.deque[str] = collections.deque(maxlen=80)

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line.rstrip())
            if line.startswith("progress: "):
                print(f"  [{label}] {line[10:].rstrip()}", file=sys.stderr, flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    killer = threading.Timer(timeout + 30, proc.kill)  # the worker dumps its stacks and exits at timeout
    killer.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait()
    killer.cancel()
    reader.join(5)
    for line in out.splitlines():
        if line.startswith(RESULT_TAG):
            return dict(json.loads(line[len(RESULT_TAG) :]))
    return {"error": f"exit code {proc.returncode}, no result\n" + "\n".join(tail)}


def report(a: argparse.Namespace, setups: dict[str, Result], q: dict[str, list[Result]]) -> list[str]:
    """The tables and answer checks, as lines."""
    at_pts, ml_pts = (setups.get(lib, {}).get("points") for lib in LIBS)

    def row(title: str, key: str, runs: dict[str, list[Result]], scale: float = 1.0, goal: Any = None) -> str:
        at, ml = median_of(runs.get("asynctrack", []), key), median_of(runs.get("mlflow", []), key)
        r = ml / at * scale if at and ml else None
        text = f"{r:,.1f}x{' per point' if scale != 1 else ''}" if r else ""
        if goal and at is not None:  # goal: (asynctrack limit, minimum ratio or 0, unit)
            ok = at <= goal[0] and (not goal[1] or (r or 0) >= goal[1])
            extra = f" and >= {goal[1]}x" if goal[1] else ""
            text += f"   target <= {fmt(goal[0])} {goal[2]}{extra}: {'PASS' if ok else 'FAIL'}"
        return f"   {title:<60}{fmt(at):>11}{fmt(ml):>11}   {text}"

    head = f"   {'':<60}{'asynctrack':>11}{'MLflow':>11}   ratio MLflow/asynctrack (>1: asynctrack faster)"
    s = {lib: [res] for lib, res in setups.items()}
    same = at_pts == ml_pts
    pts = f"{fmt(at_pts)} points" if same else f"asynctrack {fmt(at_pts)} / MLflow {fmt(ml_pts)} points"
    scale = at_pts / ml_pts if at_pts and ml_pts and not same else 1.0
    lines = [
        f"\n== Setup, once per library: {a.runs:,} runs x (20 metrics, 20 params, 5 tags); history",
        head,
    ]
    lines.append(row(f"{a.runs:,} runs: create_run + log_batch (+ flush), s", "runs_s", s))
    lines.append(row(f"history metric, {pts}, s", "hist_s", s, scale))
    lines.append(row("whole setup process, incl. imports and store creation, s", "total_s", s))
    lines += [
        f"   ({lib}: setup reused from --keep, times from then)" for lib in s if setups[lib].get("reused")
    ]
    lines += [f"\n== Queries: median of {a.repeats} fresh warm processes per library", head]
    lines.append(row(f"(a) {FILTER_A} order by m7 DESC, {TOP} rows, ms", "a_ms", q, goal=(50, 10, "ms")))
    lines.append(row(f"(b) {FILTER_B}, ms", "b_ms", q, goal=(50, 10, "ms")))
    lines.append(row(f"(c) page through {a.runs:,} runs, 1000 per page, s", "c_s", q))
    lines.append(row(f"(d) get_metric_history, {pts}, s", "d_s", q, scale, goal=(0.5, 0, "s")))
    lines.append(
        row(
            f"(d) get_metric_history_arrays, asynctrack only, {fmt(at_pts)} pts, s",
            "e_s",
            q,
            goal=(0.5, 0, "s"),
        )
    )

    exp = expected(make_runs(a.runs, a.seed))
    lines.append("\n== Answers (every query process checked)")
    match, shown = len(q) == len(LIBS), set()
    for lib, runs in q.items():
        p = setups[lib]["points"]
        checks = {
            "(a) names as expected": all(r.get("a_names") == exp["a"] for r in runs),
            "(a) sorted by m7 DESC": all(r.get("a_ordered") for r in runs),
            "(b) names as expected": all(r.get("b_names") == exp["b"] for r in runs),
            "(a)/(b) runs carry 20 metrics, 20 params": all(
                r.get("a_full") and r.get("b_full") for r in runs
            ),
            "(c) every run exactly once": all(r.get("c_count") == r.get("c_unique") == a.runs for r in runs),
            "(d) every point": all(r.get("d_points") == p for r in runs),
        }
        if lib == "asynctrack":
            checks["(d) arrays: every point"] = all(r.get("e_points") == p for r in runs)
        match = match and checks["(a) names as expected"] and checks["(b) names as expected"]
        lines.append(f"   {lib}: " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items()))
        g = runs[0]
        lines.append(
            f"   {lib}, first process: (a) {len(g.get('a_names', ()))} rows, (b) {len(g.get('b_names', ()))} "
            f"rows (expected {len(exp['a'])}, {len(exp['b'])}), (c) {g.get('c_count')} runs, "
            f"{g.get('c_unique')} distinct, {g.get('c_pages')} pages, (d) {g.get('d_points')} points"
        )
        errors = collections.Counter((k, v) for r in runs for k, v in r.items() if k.endswith("error"))
        for (k, tb), n in errors.items():
            last = tb.rstrip().splitlines()[-1]
            lines.append(f"   ! {lib} {k} in {n}/{len(runs)} processes: {last}")
            lines += [] if last in shown else [tb.rstrip()]
            shown.add(last)
    lines.append(f"   answers match: {'yes' if match else 'no'}  ((a), (b): same run names in both stores)")
    return lines


def parent(a: argparse.Namespace) -> None:
    version = mlflow_version()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load} (1/5/15 min), "
        f"repeats={a.repeats}, quick={a.quick}, runs={a.runs:,}, history points={a.points:,}, MLflow "
        f"{version or 'NOT importable: MLflow side skipped'}",
        flush=True,
    )
    if version and version != "3.17.2":
        print(f"warning: MLflow {version} is installed, the reference is 3.17.2")
    libs = [lib for lib in LIBS if version or lib != "mlflow"]
    root = a.keep or tempfile.mkdtemp(prefix="bench-search-")
    setups: dict[str, Result] = {}
    queries: dict[str, list[Result]] = {lib: [] for lib in libs}
    everything: Result = {"mlflow_version": version, "argv": sys.argv[1:], "load_start": os.getloadavg()}
    try:
        for lib in libs:
            d = os.path.join(root, lib)
            db, manifest = os.path.join(d, "bench.db"), os.path.join(d, "manifest.json")
            want = {"runs": a.runs, "seed": a.seed, "points": a.points}
            if a.keep and os.path.exists(manifest):
                with open(manifest) as f:
                    m = json.load(f)
                if {k: m.get(k) for k in want} == want:
                    setups[lib] = {**m["result"], "reused": True}
                    print(f"[setup {lib}] reused {db}", file=sys.stderr, flush=True)
                    continue
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            t0 = time.perf_counter()
            args = ["--worker", "setup", "--db", db, "--runs", str(a.runs), "--seed", str(a.seed)]
            args += ["--points", str(a.points), "--ml-history-budget", str(a.ml_history_budget)]
            args += ["--ml-history-fallback", str(a.ml_history_fallback)]
            res = run_job(lib, args, d, a.setup_timeout, f"setup {lib}")
            res["total_s"] = time.perf_counter() - t0
            print(
                f"[setup {lib}] {time.perf_counter() - t0:.1f} s {json.dumps(res)}",
                file=sys.stderr,
                flush=True,
            )
            if "error" in res:
                print(f"\n! {lib} setup failed: {res['error']}", flush=True)
                continue
            setups[lib] = res
            with open(manifest, "w") as f:
                json.dump({**want, "result": res}, f)
        for rep in range(a.repeats):
            for lib in (lib for lib in libs if lib in setups):
                s, d = setups[lib], os.path.join(root, lib)
                args = ["--worker", "query", "--db", os.path.join(d, "bench.db"), "--runs", str(a.runs)]
                args += ["--exp", s["exp"], "--big-run", s["big_run"]]
                t0 = time.perf_counter()
                res = run_job(lib, args, d, a.timeout, f"query {lib}")
                queries[lib].append(res)
                shown = {k: round(v, 4) for k, v in res.items() if isinstance(v, float)}
                failed = [k for k in res if k.endswith("error")]
                print(
                    f"[query {lib} {rep + 1}/{a.repeats}] {time.perf_counter() - t0:.1f} s {shown}"
                    + (f" FAILED: {failed}" if failed else ""),
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("\n".join(report(a, setups, {k: v for k, v in queries.items() if v})), flush=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load}")
    if a.json:
        everything |= {"setups": setups, "queries": queries, "load_end": os.getloadavg()}
        with open(a.json, "w") as f:
            json.dump(everything, f, indent=2)
        print(f"wrote {a.json}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000 runs and 100,000 history points")
    ap.add_argument("--repeats", type=int, default=5, help="query processes per library (median is reported)")
    ap.add_argument("--json", default="", help="write all raw results to this file")
    ap.add_argument("--keep", default="", help="keep the databases in this directory; reuse a matching setup")
    ap.add_argument(
        "--runs", type=int, default=0, help="runs in the experiment (default 10,000; quick 1,000)"
    )
    ap.add_argument("--points", type=int, default=0, help="history points (default 1,000,000; quick 100,000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--ml-history-budget", type=float, default=180.0, help="seconds for MLflow's history")
    ap.add_argument("--ml-history-fallback", type=int, default=200_000, help="MLflow points when over budget")
    ap.add_argument("--timeout", type=int, default=900, help="seconds before a query worker is stopped")
    ap.add_argument(
        "--setup-timeout", type=int, default=3600, help="seconds before a setup worker is stopped"
    )
    worker_args = ap.add_argument_group("worker (internal)")
    worker_args.add_argument("--worker", choices=("setup", "query"), help=argparse.SUPPRESS)
    worker_args.add_argument("--lib", choices=LIBS, help=argparse.SUPPRESS)
    for name in ("db", "exp", "big-run"):
        worker_args.add_argument(f"--{name}", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.runs = a.runs or (1_000 if a.quick else 10_000)
    a.points = a.points or (100_000 if a.quick else 1_000_000)
    if a.worker is None:
        parent(a)
    else:
        print(RESULT_TAG + json.dumps(worker(a)), flush=True)


if __name__ == "__main__":
    main()
