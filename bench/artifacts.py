"""Benchmark artifact logging and downloading: locally against a plain copy on the same disk, and through
``asynctrack server`` against ``mlflow server`` (both ``--serve-artifacts``) on loopback.

From the repository root, in a venv with asynctrack (and, for the server half, mlflow==3.17.2)::

    python bench/artifacts.py              # local half: 1 GiB as one file and as 1,000 files, 5 runs
    python bench/artifacts.py --quick      # 64 MiB, 100 files, 3 runs: a smoke run
    python bench/artifacts.py --size-mb 256 --repeats 3 --dir /data/tmp --json /tmp/artifacts.json
    /opt/bench-venv/bin/python bench/artifacts.py --half server     # through the servers
    /opt/bench-venv/bin/python bench/artifacts.py --half both --quick

Local half. What is timed, each repetition into fresh directories, the plain copy and asynctrack interleaved
(their order alternating), after an ``os.sync()`` so one measurement does not pay for the previous one's dirty
pages:

- one file of ``--size-mb``: ``shutil.copyfile`` vs ``MlflowClient().log_artifact(run_id, path)``
  (upload), and ``shutil.copyfile`` back vs ``client.download_artifacts(run_id, name, dst)`` (download);
- ``--files`` files of ``size / files`` each: ``shutil.copytree`` vs ``client.log_artifacts`` and
  ``shutil.copytree`` vs ``client.download_artifacts`` of the directory.

asynctrack's calls are synchronous (they return when the files are in place); the asynchronous form's caller
time (``synchronous=False``: the call returns, the copy goes on) is printed too. Medians and best times are
printed (the best is the steadier figure on a shared machine); ratios are asynctrack time / plain copy time
(the target: within 2x). Every copy is checked (sizes; the first repetition also compares
SHA-256 digests). The working directory must be on the disk to measure (default: the system temporary
directory); the script needs about 4x the size free there (6x for the server half) and scales the size down,
saying so, otherwise.

Server half. ``asynctrack server`` and ``mlflow server`` (``python -m mlflow server`` from the same venv),
both with ``--serve-artifacts``, ``--server-workers`` worker processes each (default 2), SQLite stores and
destinations on the same disk. Each repetition, each client runs in a fresh process (its import is not
timed) and times the same four transfers as above into a new run, through its own tracking URI:
asynctrack's client against asynctrack's server, MLflow's against MLflow's (the comparison: ratio =
asynctrack / mlflow, the target at most 1), and MLflow's client against asynctrack's server (the server's
share). Clients use their defaults (so no multipart upload: neither server advertises it). Downloads are
checked like the local ones; the server's copy is removed after each repetition.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Server, fmt, free_port, mlflow_version, serving  # noqa: E402

MiB = 1024 * 1024


def make_sources(root: str, size: int, files: int) -> tuple[str, str]:
    """One file of ``size`` bytes, and ``files`` files (in 10 subdirectories) adding up to the same."""
    big = os.path.join(root, "src", "weights.bin")
    many = os.path.join(root, "src", "shards")
    os.makedirs(many)
    block = os.urandom(MiB)
    with open(big, "wb") as f:
        for _ in range(size // MiB):
            f.write(block)
        f.write(block[: size % MiB])
    each = size // files
    for i in range(files):
        sub = os.path.join(many, f"part-{i % 10}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"shard-{i:05d}.bin"), "wb") as f:
            f.write((block * (each // MiB + 1))[i % 997 : i % 997 + each])
    return big, many


def tree_digest(path: str, full: bool) -> tuple[int, str]:
    """Total size of the files under ``path`` (or of the file), and their SHA-256 digest when ``full``."""
    h = hashlib.sha256()
    total = 0
    paths = (
        [path]
        if os.path.isfile(path)
        else sorted(os.path.join(d, n) for d, _, names in os.walk(path) for n in names)
    )
    for p in paths:
        total += os.path.getsize(p)
        h.update(os.path.relpath(p, path).encode())
        if full:
            with open(p, "rb") as f:
                while chunk := f.read(8 * MiB):
                    h.update(chunk)
    return total, h.hexdigest()


def timed(fn: Callable[[], Any]) -> float:
    os.sync()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


Record = Callable[[str, float], None]
Digest = tuple[int, str]


def check(got: Digest, want: Digest, full: bool) -> None:
    assert got == want if full else got[0] == want[0], f"copy differs: {got} != {want}"


def plain(out: str, big: str, many: str, size: int, many_digest: Digest, full: bool, record: Record) -> None:
    p = os.path.join(out, "plain")
    os.makedirs(p)
    record("one file: upload, plain", timed(lambda: shutil.copyfile(big, f"{p}/up.bin")))
    record("one file: download, plain", timed(lambda: shutil.copyfile(f"{p}/up.bin", f"{p}/down.bin")))
    assert os.path.getsize(f"{p}/down.bin") == size
    record("many files: upload, plain", timed(lambda: shutil.copytree(many, f"{p}/up")))
    record("many files: download, plain", timed(lambda: shutil.copytree(f"{p}/up", f"{p}/down")))
    check(tree_digest(f"{p}/down", full), many_digest, full)


def ours(
    client: Any,
    out: str,
    big: str,
    many: str,
    size: int,
    big_digest: Digest,
    many_digest: Digest,
    full: bool,
    record: Record,
) -> None:
    run_id = client.create_run("0").info.run_id
    d = os.path.join(out, "dl")
    record("one file: upload, asynctrack", timed(lambda: client.log_artifact(run_id, big)))
    record(
        "one file: download, asynctrack", timed(lambda: client.download_artifacts(run_id, "weights.bin", d))
    )
    check(tree_digest(os.path.join(d, "weights.bin"), full), big_digest, full)
    record("many files: upload, asynctrack", timed(lambda: client.log_artifacts(run_id, many, "shards")))
    record("many files: download, asynctrack", timed(lambda: client.download_artifacts(run_id, "shards", d)))
    check(tree_digest(os.path.join(d, "shards"), full), many_digest, full)
    # The asynchronous form: how long the caller waits, and how long until the file is written.
    run_async = client.create_run("0").info.run_id
    os.sync()
    started = time.perf_counter()
    ops = client.log_artifact(run_async, big, synchronous=False)
    record("one file: async call returns, asynctrack", time.perf_counter() - started)
    ops.wait()
    record("one file: async upload until done, asynctrack", time.perf_counter() - started)


def _local_half(a: argparse.Namespace, size: int) -> None:
    import asynctrack
    from asynctrack import MlflowClient

    work = tempfile.mkdtemp(prefix="asynctrack-bench-artifacts-", dir=a.dir)
    try:
        each = size / a.files / MiB
        print(f"working in {work}; one file of {size / MiB:.0f} MiB and {a.files} files of {each:.2f} MiB")
        big, many = make_sources(work, size, a.files)
        asynctrack.set_tracking_uri(f"sqlite:///{work}/t.db")
        os.chdir(work)
        client = MlflowClient()
        big_digest = tree_digest(big, True)
        many_digest = tree_digest(many, True)
        rows: dict[str, list[float]] = {}

        def record(name: str, seconds: float) -> None:
            rows.setdefault(name, []).append(seconds)

        for rep in range(a.repeats):
            out = os.path.join(work, f"rep{rep}")
            os.makedirs(out)
            full = rep == 0
            for who in ("plain", "ours") if rep % 2 == 0 else ("ours", "plain"):
                if who == "plain":
                    plain(out, big, many, size, many_digest, full, record)
                else:
                    ours(client, out, big, many, size, big_digest, many_digest, full, record)
            shutil.rmtree(out)
            shutil.rmtree(os.path.join(work, "mlruns"), ignore_errors=True)
            print(f"repetition {rep + 1}/{a.repeats} done", flush=True)

        med = {k: statistics.median(v) for k, v in rows.items()}
        best = {k: min(v) for k, v in rows.items()}
        print()
        print(f"{a.repeats} runs; {size / MiB:.0f} MiB per scenario; {a.files} files; median (best) seconds")
        head = f"{'measure':<24} {'plain copy':>17} {'asynctrack':>17} {'ratio':>13} {'asynctrack MiB/s':>17}"
        print(head)
        for scenario in ("one file", "many files"):
            for direction in ("upload", "download"):
                key = f"{scenario}: {direction}"
                p, o = med[f"{key}, plain"], med[f"{key}, asynctrack"]
                pb, ob = best[f"{key}, plain"], best[f"{key}, asynctrack"]
                cells = f"{p:>7.3f} ({pb:>6.3f}) {o:>7.3f} ({ob:>6.3f}) {o / p:>5.2f}x ({ob / pb:.2f}x)"
                print(f"{key:<24} {cells} {fmt(size / MiB / o):>17}")
        call = med["one file: async call returns, asynctrack"] * 1000
        done = med["one file: async upload until done, asynctrack"]
        print(f"one file, synchronous=False: the call returns in {call:.2f} ms; written after {done:.3f} s")
        if a.json:
            with open(a.json, "w") as f:
                json.dump(
                    {"size": size, "files": a.files, "runs": rows, "medians": med, "best": best}, f, indent=1
                )
    finally:
        os.chdir(a.dir)
        shutil.rmtree(work, ignore_errors=True)


# -- server half: each client in a process of its own, against a server on loopback

#: (label, client, server): the two stacks compared, and MLflow's client on asynctrack's server.
STACKS = (
    ("asynctrack", "asynctrack", "asynctrack"),
    ("mlflow", "mlflow", "mlflow"),
    ("mlflow client, asynctrack server", "mlflow", "asynctrack"),
)
DESTINATIONS = {"asynctrack": "at-dest", "mlflow": "ml-dest"}
SCENARIOS = ("one file: upload", "one file: download", "many files: upload", "many files: download")


def client_run(kind: str, url: str, src: str, out: str, full: bool) -> None:
    """In a child process: one repetition of the four transfers with ``kind``'s client, timed; the times
    and the run id go to ``out`` as JSON."""
    if kind == "asynctrack":
        import asynctrack as mlflow
    else:
        import mlflow  # type: ignore[no-redef]

    mlflow.set_tracking_uri(url)
    client = mlflow.MlflowClient()
    run_id = client.create_run("0").info.run_id
    big, many = os.path.join(src, "weights.bin"), os.path.join(src, "shards")
    dl = tempfile.mkdtemp(dir=os.path.dirname(out))
    times = {
        "one file: upload": timed(lambda: client.log_artifact(run_id, big)),
        "one file: download": timed(lambda: client.download_artifacts(run_id, "weights.bin", dl)),
        "many files: upload": timed(lambda: client.log_artifacts(run_id, many, "shards")),
        "many files: download": timed(lambda: client.download_artifacts(run_id, "shards", dl)),
    }
    check(tree_digest(os.path.join(dl, "weights.bin"), full), tree_digest(big, full), full)
    check(tree_digest(os.path.join(dl, "shards"), full), tree_digest(many, full), full)
    shutil.rmtree(dl)
    with open(out, "w") as f:
        json.dump({"run_id": run_id, "times": times}, f)


def _servers(work: str, workers: int) -> dict[str, Server]:
    common = ["--host", "127.0.0.1", "--workers", str(workers)]
    at_port, ml_port = free_port(), free_port()
    return {
        "asynctrack": Server(
            [sys.executable, "-m", "asynctrack", "server", *common, "--port", str(at_port)]
            + ["--backend-store-uri", f"sqlite:///{work}/at.db", "--serve-artifacts"]
            + ["--artifacts-destination", f"{work}/{DESTINATIONS['asynctrack']}"],
            at_port,
            f"{work}/asynctrack-server.log",
        ),
        "mlflow": Server(
            [sys.executable, "-m", "mlflow", "server", *common, "--port", str(ml_port)]
            + [
                "--backend-store-uri",
                f"sqlite:///{work}/ml.db",
                "--default-artifact-root",
                "mlflow-artifacts:/",
            ]
            + ["--serve-artifacts", "--artifacts-destination", f"{work}/{DESTINATIONS['mlflow']}"],
            ml_port,
            f"{work}/mlflow-server.log",
        ),
    }


def _server_half(a: argparse.Namespace, size: int) -> None:
    version = mlflow_version()
    if version is None:
        sys.exit("the server half needs mlflow importable here: run it from a venv with mlflow==3.17.2")
    work = tempfile.mkdtemp(prefix="asynctrack-bench-artifact-server-", dir=a.dir)
    rows: dict[str, dict[str, list[float]]] = {label: {} for label, _, _ in STACKS}
    try:
        each = size / a.files / MiB
        print(f"working in {work}; mlflow {version}; {a.server_workers} worker(s) per server;")
        print(f"one file of {size / MiB:.0f} MiB and {a.files} files of {each:.2f} MiB, each up then down")
        src = os.path.join(work, "src")
        make_sources(work, size, a.files)
        servers = _servers(work, a.server_workers)
        with serving(servers["asynctrack"]), serving(servers["mlflow"]):
            for rep in range(a.repeats):
                order = STACKS if rep % 2 == 0 else STACKS[::-1]
                for label, client, server in order:
                    out = os.path.join(work, f"{label.replace(' ', '-')}-{rep}.json")
                    argv = [sys.executable, os.path.abspath(__file__), "--client-run", client]
                    argv += [servers[server].url, src, out] + (["--full"] if rep == 0 else [])
                    subprocess.run(argv, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
                    with open(out) as f:
                        result = json.load(f)
                    for key, seconds in result["times"].items():
                        rows[label].setdefault(key, []).append(seconds)
                    # The server's copy goes, so the disk holds one repetition at a time.
                    shutil.rmtree(os.path.join(work, DESTINATIONS[server], "0", result["run_id"]))
                print(f"repetition {rep + 1}/{a.repeats} done", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {label: {k: statistics.median(v) for k, v in r.items()} for label, r in rows.items()}
    best = {label: {k: min(v) for k, v in r.items()} for label, r in rows.items()}
    print()
    print(f"{a.repeats} runs; {size / MiB:.0f} MiB per scenario; {a.files} files; median (best) seconds")
    head = f"{'measure':<22} {'asynctrack':>17} {'mlflow':>17} {'ratio':>13} {'MiB/s (ours)':>13}"
    print(f"{head} {'mlflow→ours':>17}")
    for key in SCENARIOS:
        o, m, x = (med[label][key] for label, _, _ in STACKS)
        ob, mb, xb = (best[label][key] for label, _, _ in STACKS)
        cells = f"{o:>7.3f} ({ob:>6.3f}) {m:>7.3f} ({mb:>6.3f}) {o / m:>5.2f}x ({ob / mb:.2f}x)"
        print(f"{key:<22} {cells} {fmt(size / MiB / o):>13} {x:>7.3f} ({xb:>6.3f})")
    print(
        "ratio: asynctrack time / mlflow time (< 1: asynctrack is faster); last column: the official client"
    )
    print("against asynctrack's server")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(
                {"size": size, "files": a.files, "runs": rows, "medians": med, "best": best}, f, indent=1
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024, help="total bytes per scenario, in MiB (1024)")
    ap.add_argument("--files", type=int, default=1000, help="files in the many-files scenario (1000)")
    ap.add_argument("--repeats", type=int, default=5, help="repetitions; medians are reported (5)")
    ap.add_argument("--quick", action="store_true", help="64 MiB, 100 files, 3 repetitions")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where to work: the disk to measure")
    ap.add_argument("--json", default="", help="write every measurement to this file")
    ap.add_argument(
        "--half",
        choices=("local", "server", "both"),
        default="local",
        help="local: against a plain copy (default); server: through asynctrack server and mlflow server",
    )
    ap.add_argument("--server-workers", type=int, default=2, help="worker processes per server (2)")
    ap.add_argument("--client-run", nargs=4, metavar=("KIND", "URL", "SRC", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.client_run:
        client_run(*a.client_run, full=a.full)
        return
    if a.quick:
        a.size_mb, a.files, a.repeats = 64, 100, 3

    free = shutil.disk_usage(a.dir).free
    wanted = a.size_mb * MiB
    copies = 4 if a.half == "local" else 6  # sources twice, the server's copy, the download
    if free < copies * wanted + 512 * MiB:
        scaled = max(16 * MiB, (free - 512 * MiB) // copies) // MiB * MiB
        print(f"only {free / 2**30:.1f} GiB free in {a.dir}: scaling {a.size_mb} MiB down to {scaled // MiB}")
        wanted = scaled
    size = wanted
    if a.half in ("local", "both"):
        _local_half(a, size)
    if a.half in ("server", "both"):
        if a.half == "both" and a.json:
            a.json = a.json.removesuffix(".json") + "-server.json"
        _server_half(a, size)


if __name__ == "__main__":
    main()
