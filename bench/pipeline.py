"""Benchmark asynctrack's logging pipeline against MLflow 3.17.2, both on the embedded SQLite store.

Set up a venv holding both libraries (from the repository root)::

    python -m venv /opt/bench-venv
    /opt/bench-venv/bin/pip install mlflow==3.17.2 -e /work/main    # generic: pip install mlflow==3.17.2 -e .

Run it::

    /opt/bench-venv/bin/python bench/pipeline.py --quick             # smoke run, about 2 minutes
    /opt/bench-venv/bin/python bench/pipeline.py                     # full run, about 11 minutes on 2 cores
    /opt/bench-venv/bin/python bench/pipeline.py --only 1,3 --repeats 5 --json /tmp/bench.json

Every measurement runs in a fresh subprocess (``--worker SCENARIO --lib asynctrack|mlflow``) with its own
temporary directory and SQLite file and prints one JSON line, which the parent collects. The parent runs a
scenario's jobs interleaved (asynctrack, MLflow, asynctrack, ...) ``--repeats`` times and prints medians.
The ratio column is oriented so that > 1 means asynctrack is better: asynctrack/MLflow for higher-is-better
numbers, MLflow/asynctrack for lower-is-better ones (each row says which). MLflow gets much smaller counts
(it is ~1000x slower); if it cannot be imported, only asynctrack is measured. Workers use
``--blas-threads`` BLAS threads (default 1), so scenario 5's numpy work leaves a core to the logging threads.

Scenarios: 1. caller cost of ``log_metric(synchronous=False)`` in bursts that fit the queue (only the calls
are timed; untimed flush between bursts); 2. end-to-end rate from the first call until
``flush_async_logging()`` returns (scalars; asynctrack also arrays); 3. ``synchronous=True`` calls/s, from
one thread and from eight threads at once;
4. peak RSS above the baseline taken after imports and ``start_run``; 5. slowdown of a ~1 ms/step numpy
training loop logging 4 metrics per step, waited at each epoch's end (runs with and without logging compared
pair by pair, then epochs switched on and off within one run, which this VM's drifting speed moves far less:
``_interleaved``); 6. points lost to ``kill -9`` of a
process logging as fast as it can (asynctrack with its queue file, the default, and with the queue in memory,
ASYNCTRACK_QUEUE_FILE=0, as before issue 15). Scenarios 1 and 2 also run asynctrack with the queue in memory,
so the queue file's cost is shown in the same run. Afterwards the points are read back: ``lost`` = sent -
read back.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    changes,
    compiled_calls,
    fmt,
    interleaved_result,
    median_of,
    mlflow_version,
    switched_epochs,
    verdict,
    voluntary_switches,
)

SCRIPT = os.path.abspath(__file__)
RESULT_TAG = "BENCH-RESULT "
MIB = 1024 * 1024
Result = dict[str, Any]


# ---------------------------------------------------------------------------------------------- worker side
@dataclass
class Lib:
    """One library's module-level API inside a worker, with the run being logged to."""

    name: str
    mod: ModuleType
    run_id: str = ""

    def count(self, key: str) -> int:
        """Number of points of ``key`` read back from the store."""
        client = self.mod.MlflowClient()
        if self.name == "asynctrack":  # bulk read: building 10M Metric objects would dominate the run
            return len(client.get_metric_history_arrays(self.run_id, key)[0])
        return len(client.get_metric_history(self.run_id, key))


def s1_caller_cost(lib: Lib, a: argparse.Namespace) -> Result:
    """Time only the ``log_metric`` calls, in bursts of ``--burst``, flushing (untimed) between bursts."""
    m, n, elapsed, sent = lib.mod, a.n, 0.0, 0
    while sent < n:
        k = min(a.burst, n - sent)
        t0 = time.perf_counter()
        for i in range(sent, sent + k):
            m.log_metric("m", float(i), step=i, synchronous=False)
        elapsed += time.perf_counter() - t0
        m.flush_async_logging()
        sent += k
    return {"us_per_call": elapsed / n * 1e6, "calls_per_s": n / elapsed, "lost": n - lib.count("m")}


def s2_end_to_end(lib: Lib, a: argparse.Namespace) -> Result:
    """Points/s from the first call until ``flush_async_logging()`` returns (``--mode scalar|array``)."""
    m, n = lib.mod, a.n
    if a.mode == "array":
        import numpy as np

        values = np.random.default_rng(0).random(a.chunk)
        t0 = time.perf_counter()
        for start in range(0, n, a.chunk):
            k = min(a.chunk, n - start)
            m.log_metric_array("m", values[:k], steps=np.arange(start, start + k))
    else:
        t0 = time.perf_counter()
        for i in range(n):
            m.log_metric("m", float(i), step=i, synchronous=False)
    calls = time.perf_counter() - t0
    m.flush_async_logging()
    total = time.perf_counter() - t0
    return {"per_s": n / total, "seconds": total, "calls_s": calls, "lost": n - lib.count("m")}


def s3_synchronous(lib: Lib, a: argparse.Namespace) -> Result:
    """``log_metric(..., synchronous=True)`` calls per second; also the median call (robust to the stalls
    a loaded machine adds to a few calls). ``--threads`` > 1: :func:`_s3_threads`."""
    if a.threads > 1:
        return _s3_threads(lib, a)
    t0 = time.perf_counter()
    each = _timed_sync_calls(lib, "m", a.n)
    dt = time.perf_counter() - t0
    p50 = statistics.median(each)
    return {
        "calls_per_s": a.n / dt,
        "us_per_call": dt / a.n * 1e6,
        "us_per_call_p50": p50 * 1e6,
        "calls_per_s_p50": 1.0 / p50,
        "lost": a.n - lib.count("m"),
    }


def _timed_sync_calls(lib: Lib, key: str, n: int, run_id: str | None = None) -> list[float]:
    """The seconds each of ``n`` ``log_metric(key, ..., synchronous=True)`` calls took, steps 0 .. n-1."""
    clock, log, times = time.perf_counter, lib.mod.log_metric, []
    for i in range(n):
        c = clock()
        log(key, float(i), step=i, synchronous=True, run_id=run_id)
        times.append(clock() - c)
    return times


def _s3_threads(lib: Lib, a: argparse.Namespace) -> Result:
    """``--threads`` threads, released together by a barrier, each making ``--n / --threads``
    synchronous calls on its own key of the one active run: the contended case, where most calls find the
    pipeline busy and go through the queue (asynctrack's express path takes a call only when nothing is
    queued or in flight), and where a commit must wake the right waiters quickly."""
    per, threads = a.n // a.threads, a.threads
    barrier = threading.Barrier(threads + 1)
    each: list[list[float]] = [[] for _ in range(threads)]
    clock = time.perf_counter

    def body(t: int) -> None:
        barrier.wait()
        # The run by id: a thread of its own has no active run (MLflow's is per thread too).
        each[t] = _timed_sync_calls(lib, f"m{t}", per, lib.run_id)

    workers = [threading.Thread(target=body, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    t0 = clock()
    for w in workers:
        w.join()
    dt = clock() - t0
    p50 = statistics.median([x for times in each for x in times])
    return {
        "calls_per_s": per * threads / dt,
        "us_per_call_p50": p50 * 1e6,
        "lost": sum(per - lib.count(f"m{t}") for t in range(threads)),
    }


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def s4_peak_rss(lib: Lib, a: argparse.Namespace) -> Result:
    """Peak RSS growth (sampled every 10 ms) while logging ``--n`` points as fast as possible and flushing."""
    gc.collect()
    baseline, peak, stop = _rss(), [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            stop.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    m, t0 = lib.mod, time.perf_counter()
    for i in range(a.n):
        m.log_metric("m", float(i), step=i, synchronous=False)
    m.flush_async_logging()
    dt = time.perf_counter() - t0
    stop.set()
    sampler.join()
    ru_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    return {
        "peak_mb": (max(peak[0], _rss()) - baseline) / MIB,
        "ru_maxrss_mb": (ru_peak - baseline) / MIB,
        "baseline_mb": baseline / MIB,
        "per_s": a.n / dt,
        "lost": a.n - lib.count("m"),
    }


class _Fit(NamedTuple):
    """What one training run of scenario 5 measured."""

    wall: float
    cpu: float  # the training thread's CPU
    in_calls: float  # the training thread's CPU inside the logging calls (the clock readings alone when off)
    process_cpu: float  # every thread's CPU: the rest is the pipeline's threads
    waits: int  # the training thread's voluntary context switches: GIL waits, the epoch-end waits


def _epoch(lib: Lib | None, x: Any, steps: int, first_step: int) -> _Fit:
    """One epoch: ``steps`` matmuls; with ``lib``, 4 metrics per step from ``first_step``, waited at the end.

    The clock is read around the calls and around the epoch's end with or without ``lib``, so both kinds
    of epoch pay for the reading; ``in_calls`` counts the training thread's CPU in both (the epoch-end
    combine of 1,600 results included, since 2026-12-06's twelfth session)."""
    clock = time.thread_time
    in_calls = 0.0
    pending: list[Any] = []
    v0, p0 = voluntary_switches(), time.process_time()
    c0, t0 = clock(), time.perf_counter()
    for s in range(steps):
        y = x @ x
        loss = float(y[0, 0])
        b = clock()
        if lib is not None:
            step, log = first_step + s, lib.mod.log_metric
            for key, value in (("loss", loss), ("acc", loss / 2), ("lr", 1e-3), ("grad_norm", loss * 2)):
                pending.append(log(key, value, step=step, synchronous=False))
        in_calls += clock() - b
    # The epoch's end: combining and waiting cost the thread's CPU too (the wait's own standing still is
    # counted apart, as wall minus CPU).
    b = clock()
    if lib is not None and lib.name == "asynctrack":
        lib.mod.RunOperations.combine(pending).wait()
    elif lib is not None:
        for ops in pending:
            ops.wait()
    in_calls += clock() - b
    wall, cpu = time.perf_counter() - t0, clock() - c0
    return _Fit(wall, cpu, in_calls, time.process_time() - p0, voluntary_switches() - v0)


def _train(lib: Lib | None, size: int, epochs: int, steps: int, offset: int) -> _Fit:
    """One training run: ``epochs`` epochs of :func:`_epoch`, summed."""
    import numpy as np

    x = np.random.default_rng(1).random((size, size))
    fits = [_epoch(lib, x, steps, offset + epoch * steps) for epoch in range(epochs)]
    return _Fit(*(sum(column) for column in zip(*fits, strict=True)))


def _interleaved(lib: Lib, size: int, quads: int, steps: int, offset: int) -> dict[str, Any]:
    """Wall-clock slowdown with logging switched on and off epoch by epoch in one run, in ``quads`` quads
    (``_common.switched_epochs``: why quads).

    Every on epoch ends with its wait, so its writes are durable before the next epoch starts; what the
    pipeline's threads still spend during off epochs (which would flatter the ratio) is reported as
    ``spill_us_per_step``: the queue file's pages are synced by the worker's sync thread after the chunk is
    written (``_worker._schedule_ring_sync``), about 0.8 ms of its CPU that lands in the next epoch.
    ``interleaved_bound_pct`` counts it as if every microsecond of it had stopped the training thread: the
    figure the verdict is taken on. An on epoch after an off one starts with the logging code's caches
    cold and the worker asleep, which a run logging every epoch does not pay: both figures err against
    asynctrack there."""
    import numpy as np

    x = np.random.default_rng(1).random((size, size))
    epochs: list[tuple[bool, float, float]] = []
    step = offset
    for logging_on in switched_epochs(quads):
        fit = _epoch(lib if logging_on else None, x, steps, step)
        step += steps if logging_on else 0
        epochs.append((logging_on, fit.wall, 0.0 if logging_on else fit.process_cpu - fit.cpu))
    return {**interleaved_result(epochs, steps), "interleaved_points": 4 * 2 * quads * steps}


def s5_training(lib: Lib, a: argparse.Namespace) -> Result:
    """Slowdown of the training loop with logging on vs off, in ``--pairs`` interleaved pairs of runs, then
    (``--quads``) epochs switched on and off within one run (:func:`_interleaved`).

    Also a within-run estimate, which the CPU's changing speed (another tenant on the core's sibling)
    moves little, unlike run against run: the share of the thread's CPU spent in the logging calls, plus
    the share of the run the thread stood still (wall minus its CPU: GIL waits, the epoch-end waits,
    preemption), each less the same share in the pair's run without logging. Both parts are reported, with
    what explains the second: the other threads' CPU and the training thread's waits, per step."""
    _train(None, a.size, 1, a.steps, 0)  # warm-up
    off: list[_Fit] = []
    on: list[_Fit] = []
    per_run = a.epochs * a.steps
    for p in range(a.pairs):
        for logging_on in (False, True) if p % 2 == 0 else (True, False):
            if logging_on:
                on.append(_train(lib, a.size, a.epochs, a.steps, p * per_run))
            else:
                off.append(_train(None, a.size, a.epochs, a.steps, 0))
    inter = _interleaved(lib, a.size, a.quads, a.steps, a.pairs * per_run) if a.quads else {}
    pairs = list(zip(on, off, strict=True))
    walls_on, walls_off = [r.wall for r in on], [r.wall for r in off]
    slowdowns = changes(walls_on, walls_off)

    def calls(r: _Fit) -> float:
        return r.in_calls / r.cpu * 100.0

    def stood_still(r: _Fit) -> float:
        return (r.wall - r.cpu) / r.wall * 100.0

    calls_pct = [calls(r_on) - calls(r_off) for r_on, r_off in pairs]
    still_pct = [stood_still(r_on) - stood_still(r_off) for r_on, r_off in pairs]
    estimates = [c + s for c, s in zip(calls_pct, still_pct, strict=True)]
    return {
        "slowdown_pct": statistics.median(slowdowns),
        "slowdown_pct_samples": slowdowns,  # every pair's, for the verdict over all runs' pairs
        "within_run_pct": statistics.median(estimates),
        "within_run_pct_samples": estimates,
        "calls_pct": statistics.median(calls_pct),
        "stood_still_pct": statistics.median(still_pct),
        "background_us_per_step": statistics.median((r.process_cpu - r.cpu) / per_run * 1e6 for r in on),
        "waits_per_step": statistics.median(r.waits / per_run for r in on),
        "waits_per_step_off": statistics.median(r.waits / per_run for r in off),
        "slowdown_best_pct": (min(walls_on) / min(walls_off) - 1.0) * 100.0,  # fastest vs fastest
        "step_ms_off": statistics.median(walls_off) / per_run * 1e3,
        "step_ms_on": statistics.median(walls_on) / per_run * 1e3,
        **inter,
        "lost": 4 * a.pairs * per_run
        + inter.get("interleaved_points", 0)
        - sum(lib.count(k) for k in ("loss", "acc", "lr", "grad_norm")),
    }


_KILL_CHILD = """
import mmap, os, struct, sys
lib = __import__(sys.argv[1])
lib.set_tracking_uri(sys.argv[2])
run = lib.start_run()
fd = os.open(sys.argv[3], os.O_RDWR)
counter = mmap.mmap(fd, 8)
print(run.info.run_id, flush=True)
pack = struct.Struct("<q").pack_into
for i in range(10**9):
    lib.log_metric("m", float(i), step=i, synchronous=False)
    pack(counter, 0, i + 1)  # in shared memory: survives the kill, costs ~0.2 us
"""


def s6_kill(lib: Lib, a: argparse.Namespace) -> Result:
    """Points lost to a kill -9: a child process logs ``synchronous=False`` as fast as it can and counts
    its returned calls in shared memory; it is killed ``--kill-ms`` after its run exists; then this
    process opens the store (asynctrack recovers queue files there) and counts the points stored."""
    import mmap
    import signal
    import struct

    uri = f"sqlite:///{os.getcwd()}/kill.db"
    with open("counter", "wb") as f:
        f.write(b"\0" * 8)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILL_CHILD, lib.name, uri, "counter"], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    time.sleep(a.kill_ms / 1000)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    with open("counter", "rb") as f:
        returned = struct.unpack("<q", mmap.mmap(f.fileno(), 8, access=mmap.ACCESS_READ)[:8])[0]
    lib.mod.set_tracking_uri(uri)
    t0 = time.perf_counter()
    client = lib.mod.MlflowClient()
    if lib.name == "asynctrack":
        steps = client.get_metric_history_arrays(run_id, "m")[0].tolist()
    else:
        steps = [m.step for m in client.get_metric_history(run_id, "m")]
    reopen = time.perf_counter() - t0
    kept = len({s for s in steps if s < returned})
    return {
        "returned": returned,
        "lost": returned - kept,
        "lost_pct": (returned - kept) / max(returned, 1) * 100,
        "duplicates": len(steps) - len(set(steps)),
        "reopen_s": reopen,
    }


def calibrate(target_s: float = 1e-3) -> Result:
    """Size of a square float64 matmul taking about ``target_s`` (median of 50) in this process."""
    import numpy as np

    size = 64
    for _ in range(6):
        x = np.random.default_rng(1).random((size, size))
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            float((x @ x)[0, 0])
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        size = max(8, round(size * (target_s / t) ** (1 / 3) / 8) * 8)
    return {"size": size, "ms": t * 1e3}


SCENARIOS: dict[int, Callable[[Lib, argparse.Namespace], Result]] = {
    1: s1_caller_cost,
    2: s2_end_to_end,
    3: s3_synchronous,
    4: s4_peak_rss,
    5: s5_training,
    6: s6_kill,
}


def worker(a: argparse.Namespace) -> Result:
    """Measure one scenario for one library in this fresh process, whose working directory is a new temp
    dir (the parent deletes it after the process exits; MLflow puts its artifact root ./mlruns there)."""
    faulthandler.dump_traceback_later(a.timeout, exit=True)  # a hang prints every thread's stack
    if a.worker == 0:
        return calibrate()
    lib = Lib(a.lib, importlib.import_module(a.lib))
    if a.worker == 6:
        return s6_kill(lib, a)  # its run is the killed child's
    lib.mod.set_tracking_uri(f"sqlite:///{os.getcwd()}/bench.db")
    lib.run_id = lib.mod.start_run().info.run_id
    result = SCENARIOS[a.worker](lib, a)
    lib.mod.end_run()
    return result


# ---------------------------------------------------------------------------------------------- parent side
@dataclass(frozen=True)
class Job:
    """One kind of worker process; it is run ``--repeats`` times."""

    id: str
    scenario: int
    lib: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Row:
    """One line of a scenario's table: ``key`` of the ``at`` job next to ``key`` of the ``ml`` job."""

    title: str
    key: str
    at: str
    ml: str | None = None
    better: str = ""  # "higher" or "lower": how the ratio is oriented; "" for no ratio
    target: tuple[str, float] | None = None  # (">=" or "<=", value) for asynctrack


@dataclass
class Scenario:
    """What to run for one scenario and how to print it."""

    title: str
    jobs: list[Job]
    rows: list[Row]


BUFFERED = (("MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS", "1"),)
IN_MEMORY = (("ASYNCTRACK_QUEUE_FILE", "0"),)  # the queue without its file (as before issue 15)


def plan(n: int, quick: bool, size: int) -> Scenario:
    """Jobs and table rows of scenario ``n``; ``quick`` shrinks every count."""

    def q(full: int, small: int) -> str:
        return str(small if quick else full)

    at, ml = "asynctrack", "mlflow"
    if n == 1:
        at_n, ml_n = q(200_000, 40_000), q(2_000, 200)
        return Scenario(
            f"caller cost of log_metric(synchronous=False), only the calls timed: asynctrack {int(at_n):,} "
            f"calls, MLflow {int(ml_n):,}, in bursts of <= 20,000 with an (untimed) flush after each",
            [
                Job("at", 1, at, ("--n", at_n, "--burst", "20000")),
                Job("atm", 1, at, ("--n", at_n, "--burst", "20000"), IN_MEMORY),
                Job("ml", 1, ml, ("--n", ml_n, "--burst", "20000")),
            ],
            [
                Row("µs/call", "us_per_call", "at", "ml", "lower", ("<=", 1.0)),
                Row(
                    "µs/call, queue in memory (ASYNCTRACK_QUEUE_FILE=0)", "us_per_call", "atm", "ml", "lower"
                ),
                Row("calls/s", "calls_per_s", "at", "ml", "higher"),
                Row("lost points", "lost", "at", "ml"),
            ],
        )
    if n == 2:
        at_n, arr_n, ml_n, mlb_n = q(1_000_000, 100_000), q(10**7, 10**6), q(2_000, 200), q(5_000, 500)
        return Scenario(
            f"end-to-end rate, first call until flush_async_logging() returned: asynctrack {int(at_n):,} "
            f"scalars and {int(arr_n):,} array points (arrays of 100,000); MLflow {int(ml_n):,} scalars "
            f"(default settings) and {int(mlb_n):,} (MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1)",
            [
                Job("at", 2, at, ("--n", at_n)),
                Job("atm", 2, at, ("--n", at_n), IN_MEMORY),
                Job("ml", 2, ml, ("--n", ml_n)),
                Job("mlb", 2, ml, ("--n", mlb_n), BUFFERED),
                Job("arr", 2, at, ("--n", arr_n, "--mode", "array", "--chunk", "100000")),
            ],
            [
                Row("scalars/s, vs MLflow default", "per_s", "at", "ml", "higher", (">=", 500_000)),
                Row("scalars/s, queue in memory (ASYNCTRACK_QUEUE_FILE=0)", "per_s", "atm", "ml", "higher"),
                Row("scalars/s, vs MLflow buffering 1 s", "per_s", "at", "mlb", "higher"),
                Row("array points/s (asynctrack only)", "per_s", "arr", None, "", (">=", 10_000_000)),
                Row("lost scalars, vs MLflow default", "lost", "at", "ml"),
                Row("lost scalars, vs MLflow buffering 1 s", "lost", "at", "mlb"),
                Row("lost array points", "lost", "arr"),
            ],
        )
    if n == 3:
        at_n, ml_n, at8_n, ml8_n = q(3_000, 300), q(300, 50), q(8_000, 800), q(400, 80)
        return Scenario(
            f"log_metric(synchronous=True): one thread, asynctrack {int(at_n):,} calls, MLflow "
            f"{int(ml_n):,}; eight threads on one run, each its own key, asynctrack {int(at8_n):,} calls in "
            f"all, MLflow {int(ml8_n):,}",
            [
                Job("at", 3, at, ("--n", at_n)),
                Job("ml", 3, ml, ("--n", ml_n)),
                Job("at8", 3, at, ("--n", at8_n, "--threads", "8")),
                Job("ml8", 3, ml, ("--n", ml8_n, "--threads", "8")),
            ],
            [
                Row("calls/s", "calls_per_s", "at", "ml", "higher", (">=", 10_000)),
                Row("calls/s from the median call", "calls_per_s_p50", "at", "ml", "higher"),
                Row("µs per call, median call", "us_per_call_p50", "at", "ml", "lower"),
                Row("lost points", "lost", "at", "ml"),
                Row("8 threads: calls/s, all threads together", "calls_per_s", "at8", "ml8", "higher"),
                Row("8 threads: µs per call, median call", "us_per_call_p50", "at8", "ml8", "lower"),
                Row("8 threads: lost points", "lost", "at8", "ml8"),
            ],
        )
    if n == 4:
        at_n, ml_n = q(10_000_000, 500_000), q(20_000, 1_000)
        return Scenario(
            f"peak RSS above baseline while logging synchronous=False as fast as possible, then flushing: "
            f"asynctrack {int(at_n):,} metrics; MLflow only {int(ml_n):,} metrics, with buffering 1 s "
            "(the counts differ, so no ratio)",
            [Job("at", 4, at, ("--n", at_n)), Job("ml", 4, ml, ("--n", ml_n), BUFFERED)],
            [
                Row("peak RSS growth MB (VmRSS sampled every 10 ms)", "peak_mb", "at", "ml", "", ("<=", 250)),
                Row("ru_maxrss - baseline MB", "ru_maxrss_mb", "at", "ml"),
                Row("RSS baseline MB (after imports and start_run)", "baseline_mb", "at", "ml"),
                Row("metrics/s while measured", "per_s", "at", "ml"),
                Row("lost points", "lost", "at", "ml"),
            ],
        )
    if n == 6:
        return Scenario(
            "points lost to kill -9: a child logs synchronous=False as fast as it can and is killed 1.5 s "
            "after its run exists; then another process opens the store and looks for the returned calls",
            [
                Job("at", 6, at),
                Job("atm", 6, at, (), IN_MEMORY),
                Job("ml", 6, ml),
            ],
            [
                Row("points lost (returned, then not stored)", "lost", "at", "ml"),
                Row("points lost, queue in memory (QUEUE_FILE=0)", "lost", "atm", "ml"),
                Row("% of returned calls lost", "lost_pct", "at", "ml", "", ("<=", 0.0)),
                Row("% lost, queue in memory (QUEUE_FILE=0)", "lost_pct", "atm", "ml"),
                Row("calls returned before the kill", "returned", "at", "ml"),
                Row("calls returned, queue in memory", "returned", "atm"),
                Row("points stored twice", "duplicates", "at", "ml"),
                Row("s to open the store and read (recovery)", "reopen_s", "at", "ml"),
            ],
        )
    steps, ml_steps, pairs, ml_pairs = q(400, 100), q(50, 20), q(5, 2), q(3, 2)
    quads, ml_quads = q(40, 4), q(4, 2)

    def train(st: str, pa: str, qu: str) -> tuple[str, ...]:
        return ("--size", str(size), "--epochs", "5", "--steps", st, "--pairs", pa, "--quads", qu)

    return Scenario(
        f"training loop slowdown, logging on vs off interleaved in one process: {size}x{size} matmul per "
        "step, 4 metrics/step, waited at each epoch's end; asynctrack 5 x "
        f"{steps} steps x {pairs} on/off pairs of runs, then {quads} quads of epochs (off-on-on-off, "
        f"on-off-off-on); MLflow 5 x {ml_steps} steps x {ml_pairs} pairs, {ml_quads} quads",
        [
            Job("at", 5, at, train(steps, pairs, quads)),
            Job("ml", 5, ml, train(ml_steps, ml_pairs, ml_quads)),
        ],
        [
            Row(
                "slowdown %, epochs interleaved, spill counted",
                "interleaved_bound_pct",
                "at",
                "ml",
                "lower",
                ("<=", 1.0),
            ),
            Row("slowdown %, epochs interleaved", "interleaved_pct", "at", "ml", "lower"),
            Row("  spill: other threads' CPU in off epochs, us/step", "spill_us_per_step", "at", "ml"),
            Row("slowdown % (median of per-pair ratios)", "slowdown_pct", "at", "ml", "lower", ("<=", 1.0)),
            Row("slowdown % (fastest on vs fastest off)", "slowdown_best_pct", "at", "ml", "lower"),
            Row("within-run estimate % (calls, stood still)", "within_run_pct", "at", "ml", "", ("<=", 1.0)),
            Row("  of it: calls, % of the thread's CPU", "calls_pct", "at", "ml"),
            Row("  of it: stood still, % of the run", "stood_still_pct", "at", "ml"),
            Row("other threads' CPU, us/step (logging on)", "background_us_per_step", "at", "ml"),
            Row("training-thread waits/step, logging on", "waits_per_step", "at", "ml"),
            Row("training-thread waits/step, logging off", "waits_per_step_off", "at", "ml"),
            Row("ms/step, logging off", "step_ms_off", "at", "ml"),
            Row("ms/step, logging on", "step_ms_on", "at", "ml"),
            Row("lost points", "lost", "at", "ml"),
        ],
    )


def run_job(job: Job, a: argparse.Namespace) -> Result:
    """Run one worker process and return its JSON result, or ``{"error": ...}``."""
    cmd = [
        sys.executable,
        SCRIPT,
        "--worker",
        str(job.scenario),
        "--lib",
        job.lib,
        "--timeout",
        str(a.timeout),
        *job.args,
    ]
    threads = str(a.blas_threads)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **dict(job.env),
    }
    limit = a.timeout + 30  # the worker dumps its threads' stacks and exits at a.timeout
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-{job.lib}-") as tmp:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, timeout=limit)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return {"error": f"killed after {limit} s\n{err[-4000:]}"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return dict(json.loads(line[len(RESULT_TAG) :]))
    tail = "\n".join(proc.stderr.splitlines()[-80:])
    return {"error": f"exit code {proc.returncode}, no result\n{tail}"}


def _spread(results: dict[str, list[Result]], row: Row) -> str:
    """The noise: each side's lowest and highest run, when there are several."""
    parts = []
    for name, job in (("asynctrack", row.at), ("MLflow", row.ml)):
        values = [r[row.key] for r in results.get(job or "", []) if row.key in r]
        if len(values) > 1:
            parts.append(f"{name} {fmt(min(values))}-{fmt(max(values))}")
    return f"   [runs: {'; '.join(parts)}]" if parts else ""


def report(n: int, sc: Scenario, results: dict[str, list[Result]]) -> list[str]:
    """The table of one scenario, as lines."""
    head = f"   {'median of runs':<50}{'asynctrack':>12}{'MLflow':>12}"
    lines = [f"\n== Scenario {n}: {sc.title}", f"{head}   ratio (>1: asynctrack better)"]
    for row in sc.rows:
        at = median_of(results.get(row.at, []), row.key)
        ml = median_of(results.get(row.ml, []), row.key) if row.ml else None
        ratio = ""
        if row.better and at and ml and at > 0 and ml > 0:
            ratio = (
                f"{at / ml:,.1f}x (asynctrack/MLflow)"
                if row.better == "higher"
                else f"{ml / at:,.1f}x (MLflow/asynctrack)"
            )
        elif row.better and row.ml and at is not None and ml is not None:
            ratio = "n/a (a value <= 0)"
        if row.target and at is not None:
            runs = [r for r in results.get(row.at, []) if row.key in r]
            samples = [x for r in runs for x in r.get(f"{row.key}_samples", [])]
            # per-pair samples: the median's confidence interval over every run's pairs decides; else the
            # runs' whole range (confidence 1): every run's figure must meet the target to pass
            ratio += "   " + (
                verdict(samples, *row.target)
                if samples
                else verdict([r[row.key] for r in runs], *row.target, confidence=1.0)
            )
        ml_txt = "n/a" if not row.ml else fmt(ml) if row.ml in results else "skipped"
        lines.append(f"   {row.title:<50}{fmt(at):>12}{ml_txt:>12}   {ratio}{_spread(results, row)}")
    for job_id, runs in results.items():
        lines += [f"   ! {job_id} run failed: {r['error']}" for r in runs if "error" in r]
    return lines


def parent(a: argparse.Namespace) -> None:
    """Plan, run every job ``--repeats`` times interleaved, print the tables, write ``--json``."""
    version = mlflow_version()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, repeats={a.repeats}, "
        f"quick={a.quick}, BLAS threads={a.blas_threads}, asynctrack {compiled_calls()}, MLflow "
        f"{version or 'NOT importable: MLflow side skipped'}",
        flush=True,
    )
    if version and version != "3.17.2":
        print(f"warning: MLflow {version} is installed, the reference is 3.17.2")
    selected = [int(s) for s in a.only.split(",")] if a.only else sorted(SCENARIOS)
    size = 0
    if 5 in selected:
        cal = run_job(Job("cal", 0, "asynctrack"), a)
        if "error" in cal:
            raise SystemExit(f"calibration failed: {cal['error']}")
        size = int(cal["size"])
        print(f"calibrated matmul: {size}x{size} takes {cal['ms']:.2f} ms", flush=True)
    everything: dict[str, Any] = {"mlflow_version": version, "argv": sys.argv[1:], "scenarios": {}}
    for n in selected:
        sc = plan(n, a.quick, size)
        jobs = [j for j in sc.jobs if version or j.lib != "mlflow"]
        results: dict[str, list[Result]] = {j.id: [] for j in jobs}
        for rep in range(a.repeats):
            for job in jobs:
                t0 = time.perf_counter()
                res = run_job(job, a)
                results[job.id].append(res)
                status = "ERROR" if "error" in res else json.dumps(res)
                print(
                    f"[scenario {n} {job.id} {rep + 1}/{a.repeats}] {time.perf_counter() - t0:.1f} s "
                    f"{status}",
                    file=sys.stderr,
                    flush=True,
                )
        print("\n".join(report(n, sc, results)), flush=True)
        everything["scenarios"][str(n)] = {
            "title": sc.title,
            "runs": results,
            "jobs": [j.__dict__ for j in jobs],
        }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(everything, f, indent=2)
        print(f"\nwrote {a.json}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--only", default="", help="comma-separated scenario numbers, e.g. 1,3")
    ap.add_argument("--repeats", type=int, default=3, help="worker runs per job (median is reported)")
    ap.add_argument("--json", default="", help="write all raw results to this file")
    ap.add_argument("--timeout", type=int, default=600, help="seconds before a worker is stopped")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads in the workers")
    worker_args = ap.add_argument_group("worker (internal)")
    worker_args.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    worker_args.add_argument("--lib", choices=("asynctrack", "mlflow"), help=argparse.SUPPRESS)
    for name, default in (
        ("n", 0),
        ("burst", 20_000),
        ("chunk", 100_000),
        ("size", 0),
        ("epochs", 5),
        ("steps", 0),
        ("pairs", 3),
        ("quads", 0),
        ("kill_ms", 1500),
        ("threads", 1),
    ):
        worker_args.add_argument(f"--{name}", type=int, default=default, help=argparse.SUPPRESS)
    worker_args.add_argument("--mode", choices=("scalar", "array"), default="scalar", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker is None:
        parent(a)
    else:
        print(RESULT_TAG + json.dumps(worker(a)), flush=True)


if __name__ == "__main__":
    main()
