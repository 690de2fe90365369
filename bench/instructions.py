"""What a logging call costs the calling thread, counted in CPU instructions: a figure that does not move
with a shared machine's noise.

Wall-clock caller costs (``pipeline.py`` scenario 1, the training-loop slowdowns of scenario 5 and
``training.py``) move by several percent between identical runs on a busy VM. Instructions executed by the
calling thread do not: each case runs under ``valgrind --tool=callgrind --separate-threads=yes`` twice, with
``N`` and ``2N`` calls, in fresh processes with ``PYTHONHASHSEED=0``, and the difference of the calling
thread's totals divided by ``N`` is the cost of one call, start-up and imports cancelled out. The
background threads (our worker, MLflow's thread pool) are counted separately and not included: this is
what the training loop itself executes.

Instructions are not time (cache misses after a training step are what they miss, see docs/benchmarks.md),
but a change that removes work shows here exactly, run after run. Cases, each for asynctrack and MLflow
3.17.2 (its own integration for the last one is not in its venv, so that case is asynctrack's only):

1. ``log_metric(key, value, step=i, synchronous=False)`` to the active run;
2. ``log_metrics`` of 11 floats at one step, ``synchronous=False``;
3. an integration's step: ``TrainingRun.log_metrics`` of 11 floats (what the Lightning logger, the
   Transformers and Keras callbacks call once per logged step).

Usage (needs valgrind; run with the bench venv's Python, which has both packages)::

    /opt/bench-venv/bin/python bench/instructions.py            # N = 2000
    /opt/bench-venv/bin/python bench/instructions.py --calls 500 --only asynctrack
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

_CHILD = """
import os, sys
lib_name, case, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lib = __import__(lib_name)
lib.set_tracking_uri(f"sqlite:///{os.getcwd()}/i.db")
metrics = {f"train/m{i}": 0.1 * i for i in range(10)}
metrics["epoch"] = 0.0
if case == "log_metric":
    lib.start_run()
    log = lib.log_metric
    call = lambda s: log("loss", 0.5, step=s, synchronous=False)
elif case == "log_metrics":
    lib.start_run()
    log = lib.log_metrics
    call = lambda s: log(metrics, step=s, synchronous=False)
else:
    from asynctrack.integrations._run import TrainingRun
    run = TrainingRun()
    call = lambda s: run.log_metrics(metrics, s)
call(0)  # first use: the run, the pipeline, the interned keys
for s in range(1, n + 1):
    call(s)
os._exit(0)  # no exit flush: only the calls are compared
"""

CASES = {
    "log_metric": "log_metric, one point",
    "log_metrics": "log_metrics, 11 points",
    "integration": "integration step (TrainingRun.log_metrics), 11 points",
}


def _caller_instructions(lib: str, case: str, calls: int, workdir: str) -> int:
    """The calling (main) thread's instruction count for a process making ``calls`` calls."""
    out = os.path.join(workdir, f"cg-{lib}-{case}-{calls}")
    env = dict(os.environ, PYTHONHASHSEED="0", MLFLOW_ENABLE_ASYNC_LOGGING="true")
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-c",
            _CHILD,
            lib,
            case,
            str(calls),
        ],
        cwd=tempfile.mkdtemp(dir=workdir),
        env=env,
        check=True,
        capture_output=True,
    )
    with open(f"{out}-01") as f:  # thread 1: the main thread
        for line in f:
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"no summary in {out}-01")


def per_call(lib: str, case: str, calls: int, workdir: str) -> float:
    low = _caller_instructions(lib, case, calls, workdir)
    high = _caller_instructions(lib, case, 2 * calls, workdir)
    return (high - low) / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000, help="N: the processes make N and 2N calls")
    ap.add_argument("--only", choices=["asynctrack", "mlflow"], help="measure one library")
    a = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("bench/instructions.py needs valgrind (apt-get install -y valgrind)")
    libs = [a.only] if a.only else ["asynctrack", "mlflow"]
    print(f"instructions on the calling thread per call (callgrind, N={a.calls} vs {2 * a.calls} calls)")
    print(f"   {'case':<58}{'asynctrack':>12}{'MLflow':>12}   ratio")
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as workdir:
        for case, title in CASES.items():
            got: dict[str, float] = {}
            for lib in libs:
                if lib == "mlflow" and case == "integration":
                    continue
                got[lib] = per_call(lib, case, a.calls, workdir)
            ours, theirs = got.get("asynctrack"), got.get("mlflow")
            ratio = f"{theirs / ours:.1f}x fewer" if ours and theirs else ""
            cells = [f"{v:>12,.0f}" if v is not None else f"{'-':>12}" for v in (ours, theirs)]
            print(f"   {title:<58}{cells[0]}{cells[1]}   {ratio}", flush=True)


if __name__ == "__main__":
    main()
