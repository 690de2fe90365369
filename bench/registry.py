"""Benchmark the model registry: search_model_versions and get_model_version_by_alias, and search_runs with a
``datasets.name`` filter, asynctrack vs MLflow 3.17.2, each on its embedded SQLite store, in the same run.

MLflow runs from its own venv (``tests/servers.py``'s ``mlflow_python()``, made on first use, or
``--mlflow-python``); asynctrack from this interpreter. From the repository root::

    /work/venv/bin/python bench/registry.py                  # 1,000 models x 10 versions, 5 repeats
    /work/venv/bin/python bench/registry.py --models 100 --runs 500 --repeats 3     # a quick look

Setup, once per library, in its own subprocess, through each library's ``MlflowClient`` (timed and
reported): ``--models`` registered models ``model-0000``... with ``--versions`` versions each (source
``s3://bucket/model-NNNN/V``, run id ``run-<V mod 7>``, tag ``quality`` = ``good`` for one version in ten,
the others ``ok``), and alias ``champion`` on each model's version 2; then ``--runs`` runs (default 10,000)
in experiment ``bench-datasets``, each logging one dataset input (``log_inputs``) named ``ds-<i mod 100>``
(context ``train``).

Queries, ``--repeats`` times, interleaved asynctrack, MLflow, ..., each in a fresh subprocess that opens
the prepared database and warms up (one untimed (a) and (c)), then times:

(a) ``search_model_versions("tags.quality = 'good' AND name LIKE 'model-0%'",
    order_by=["last_updated_timestamp DESC"], max_results=200)`` (a filter over every model, ordered);
(b) ``search_model_versions("name = 'model-<k>'", order_by=["version_number ASC"])`` for 50 models (one
    model's versions, the common case), per query;
(c) ``get_model_version_by_alias("model-<k>", "champion")`` for 200 models, per call;
(d) paging through every version, 1,000 a page, until the token runs out;
(e) ``search_runs([bench-datasets], "datasets.name = 'ds-NN'", max_results=1000)`` for 10 dataset names,
    per query (each matches ``--runs`` / 100 runs of the ``--runs``).

Medians are printed with the spread (min-max); ratios are MLflow time / asynctrack time (> 1: asynctrack is
faster). Answers are checked: (a) the same versions in both and as computed from the data, (c) version 2
every time, (d) every version once, (e) exactly the runs that logged that dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import fmt, mlflow_version  # noqa: E402

SCRIPT = os.path.abspath(__file__)
RESULT_TAG = "BENCH-RESULT "
FILTER_A = "tags.quality = 'good' AND name LIKE 'model-0%'"
ORDER_A = ["last_updated_timestamp DESC"]
Result = dict[str, Any]


DATASET_EXPERIMENT = "bench-datasets"


def model_name(i: int) -> str:
    return f"model-{i:04d}"


def dataset_name(k: int) -> str:
    return f"ds-{k:02d}"


def expected_a(models: int, versions: int) -> list[tuple[str, str]]:
    """The versions (a) answers, from the data as set up: tag good on versions 1, 11, 21..., and the 200
    last updated of those are the 200 created last (versions are created in (model, version) order)."""
    matches = [
        (model_name(m), str(v))
        for m in range(models)
        if model_name(m).startswith("model-0")
        for v in range(1, versions + 1)
        if v % 10 == 1
    ]
    return sorted(matches[-200:])


def setup(a: argparse.Namespace) -> Result:
    import importlib

    mod = importlib.import_module(a.lib)
    mod.set_tracking_uri(f"sqlite:///{a.db}")
    client = mod.MlflowClient()
    client.search_registered_models(max_results=1)  # opens (creates) the store: not timed
    t0 = time.perf_counter()
    for m in range(a.models):
        name = model_name(m)
        client.create_registered_model(name, tags={"team": f"t{m % 10}"})
        for v in range(1, a.versions + 1):
            quality = "good" if v % 10 == 1 else "ok"
            client.create_model_version(
                name, f"s3://bucket/{name}/{v}", run_id=f"run-{v % 7}", tags={"quality": quality}
            )
        if a.versions >= 2:
            client.set_registered_model_alias(name, "champion", 2)
        if m % 100 == 99:
            print(
                f"progress: {m + 1} models in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True
            )
    out: Result = {"setup_s": time.perf_counter() - t0}
    ent = importlib.import_module(f"{a.lib}.entities")
    experiment_id = client.create_experiment(DATASET_EXPERIMENT)
    t0 = time.perf_counter()
    for i in range(a.runs):
        run = client.create_run(experiment_id)
        k = i % 100
        dataset = ent.Dataset(dataset_name(k), f"digest{k:02d}", "local", '{"uri": "/data/train.csv"}')
        tag = ent.InputTag("mlflow.data.context", "train")
        client.log_inputs(run.info.run_id, [ent.DatasetInput(dataset, [tag])])
        if i % 1000 == 999:
            print(f"progress: {i + 1} runs in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    out["runs_setup_s"] = time.perf_counter() - t0
    return out


def query(a: argparse.Namespace) -> Result:
    import importlib

    mod = importlib.import_module(a.lib)
    mod.set_tracking_uri(f"sqlite:///{a.db}")
    client = mod.MlflowClient()
    step = max(1, a.models // 50)
    picks_b = [model_name(i) for i in range(0, a.models, step)][:50]
    picks_c = [model_name(i % a.models) for i in range(0, 200 * 7, 7)]

    def a_search() -> list[Any]:
        return list(client.search_model_versions(FILTER_A, max_results=200, order_by=ORDER_A))

    a_search()
    client.get_model_version_by_alias(picks_c[0], "champion")
    out: Result = {}
    t0 = time.perf_counter()
    found = a_search()
    out["a_ms"] = (time.perf_counter() - t0) * 1e3
    out["a_answer"] = sorted((mv.name, str(mv.version)) for mv in found)
    stamps = [mv.last_updated_timestamp for mv in found]
    out["a_ordered"] = stamps == sorted(stamps, reverse=True)
    t0 = time.perf_counter()
    counts = [
        len(client.search_model_versions(f"name = '{n}'", order_by=["version_number ASC"])) for n in picks_b
    ]
    out["b_ms"] = (time.perf_counter() - t0) * 1e3 / len(picks_b)
    out["b_ok"] = counts == [a.versions] * len(picks_b)
    t0 = time.perf_counter()
    got = [str(client.get_model_version_by_alias(n, "champion").version) for n in picks_c]
    out["c_ms"] = (time.perf_counter() - t0) * 1e3 / len(picks_c)
    out["c_ok"] = got == ["2"] * len(picks_c)
    seen: list[tuple[str, str]] = []
    token, pages, t0 = None, 0, time.perf_counter()
    while pages == 0 or token:
        page = client.search_model_versions("", max_results=1000, page_token=token)
        seen += [(mv.name, str(mv.version)) for mv in page]
        token, pages = page.token, pages + 1
    out["d_s"] = time.perf_counter() - t0
    out["d_ok"] = len(seen) == len(set(seen)) == a.models * a.versions
    if a.runs:
        experiment = client.get_experiment_by_name(DATASET_EXPERIMENT)
        picks_e = [dataset_name(k) for k in range(3, 100, 10)]
        client.search_runs([experiment.experiment_id], f"datasets.name = '{picks_e[0]}'", max_results=1000)
        t0 = time.perf_counter()
        sizes = [
            len(client.search_runs([experiment.experiment_id], f"datasets.name = '{name}'", max_results=1000))
            for name in picks_e
        ]
        out["e_ms"] = (time.perf_counter() - t0) * 1e3 / len(picks_e)
        out["e_ok"] = sizes == [len(range(k, a.runs, 100)) for k in range(3, 100, 10)]
        out["e_sizes"] = sizes
    return out


def run_job(python: str, lib: str, args: list[str], cwd: str, timeout: int) -> Result:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": os.path.dirname(HERE)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    cmd = [python, SCRIPT, "--lib", lib, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    for line in done.stderr.splitlines():
        if line.startswith("progress: "):
            print(f"  [{lib}] {line[10:]}", file=sys.stderr, flush=True)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return dict(json.loads(line[len(RESULT_TAG) :]))
    return {"error": f"exit {done.returncode}: {done.stderr[-3000:]}"}


def _stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def parent(a: argparse.Namespace) -> None:
    if a.mlflow_python:
        ml_python = a.mlflow_python
    else:
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
        from servers import mlflow_python

        ml_python = str(mlflow_python())
    pythons = {"asynctrack": sys.executable, "mlflow": ml_python}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load}; {a.models:,} models x "
        f"{a.versions} versions = {a.models * a.versions:,} versions; {a.runs:,} runs with a dataset; "
        f"repeats={a.repeats}; MLflow "
        f"{mlflow_version(ml_python)} (its own venv: {ml_python})",
        flush=True,
    )
    root = tempfile.mkdtemp(prefix="bench-registry-")
    results: dict[str, list[Result]] = {"asynctrack": [], "mlflow": []}
    setups: dict[str, Result] = {}
    try:
        for lib, python in pythons.items():
            d = os.path.join(root, lib)
            os.makedirs(d)
            common = [
                "--db",
                os.path.join(d, "bench.db"),
                "--models",
                str(a.models),
                "--versions",
                str(a.versions),
                "--runs",
                str(a.runs),
            ]
            setups[lib] = run_job(python, lib, ["--worker", "setup", *common], d, a.timeout)
            print(f"[setup {lib}] {json.dumps(setups[lib])[:3000]}", file=sys.stderr, flush=True)
        for rep in range(a.repeats):
            for lib, python in pythons.items():
                d = os.path.join(root, lib)
                common = [
                    "--db",
                    os.path.join(d, "bench.db"),
                    "--models",
                    str(a.models),
                    "--versions",
                    str(a.versions),
                    "--runs",
                    str(a.runs),
                ]
                res = run_job(python, lib, ["--worker", "query", *common], d, a.timeout)
                results[lib].append(res)
                shown = {k: round(v, 3) for k, v in res.items() if isinstance(v, float)}
                print(f"[query {lib} {rep + 1}/{a.repeats}] {shown}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    failed = {lib: [r["error"] for r in rs if "error" in r] for lib, rs in results.items()}
    if any(failed.values()) or any("error" in s for s in setups.values()):
        print("FAILED:", json.dumps({"setups": setups, "queries": failed})[:6000])
        sys.exit(1)
    rows = [
        ("setup (all versions through MlflowClient), s", "setup_s", None),
        ("(a) filtered + ordered search, ms", "a_ms", None),
        ("(b) one model's versions, ms per query", "b_ms", None),
        ("(c) get by alias, ms per call", "c_ms", None),
        ("(d) page through all versions, s", "d_s", None),
        ("setup (runs with a dataset input through MlflowClient), s", "runs_setup_s", None),
        (f"(e) search_runs datasets.name over {a.runs:,} runs, ms per query", "e_ms", None),
    ]
    version = mlflow_version(ml_python)
    print(
        f"\n| measure | asynctrack median (min-max) | MLflow {version} median (min-max) "
        "| MLflow / asynctrack |"
    )
    print("|---|---|---|---|")
    for title, key, _ in rows:
        if key in ("e_ms", "runs_setup_s") and not a.runs:
            continue
        if key in ("setup_s", "runs_setup_s"):
            at, ml = setups["asynctrack"][key], setups["mlflow"][key]
            print(f"| {title} | {fmt(at)} | {fmt(ml)} | {ml / at:.1f}x |")
            continue
        at_m, at_lo, at_hi = _stats([r[key] for r in results["asynctrack"]])
        ml_m, ml_lo, ml_hi = _stats([r[key] for r in results["mlflow"]])
        print(
            f"| {title} | {fmt(at_m)} ({fmt(at_lo)}-{fmt(at_hi)}) | {fmt(ml_m)} ({fmt(ml_lo)}-{fmt(ml_hi)}) "
            f"| {ml_m / at_m:.1f}x |"
        )
    want = [list(x) for x in expected_a(a.models, a.versions)]  # as it comes back through JSON
    checks = {
        "(a) same answer in both and as computed": all(
            r["a_answer"] == want for rs in results.values() for r in rs
        ),
        "(a) ordered": all(r["a_ordered"] for rs in results.values() for r in rs),
        "(b) every version of each model": all(r["b_ok"] for rs in results.values() for r in rs),
        "(c) alias resolves to version 2": all(r["c_ok"] for rs in results.values() for r in rs),
        "(d) every version exactly once": all(r["d_ok"] for rs in results.values() for r in rs),
    }
    if a.runs:
        checks["(e) exactly the runs with that dataset"] = all(
            r["e_ok"] for rs in results.values() for r in rs
        )
    for lib, rs in results.items():
        for r in rs:
            if a.runs and not r.get("e_ok"):
                print(f"(e) {lib}: runs found per dataset {r.get('e_sizes')}", file=sys.stderr)
    print("\nanswers: " + ", ".join(f"{k}: {'ok' if v else 'WRONG'}" for k, v in checks.items()))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not all(checks.values()):
        sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=10, help="versions per model")
    ap.add_argument(
        "--runs", type=int, default=10_000, help="runs with a dataset input, for (e); 0: skip (e)"
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--mlflow-python", default="", help="an interpreter with mlflow==3.17.2")
    ap.add_argument("--lib", default="", help=argparse.SUPPRESS)
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    ap.add_argument("--db", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        res = setup(a) if a.worker == "setup" else query(a)
        print(RESULT_TAG + json.dumps(res), flush=True)
    else:
        parent(a)


if __name__ == "__main__":
    main()
