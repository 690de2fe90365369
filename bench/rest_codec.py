"""The REST store's hot path: encoding one log-batch request of 1,000 metric points, against MLflow.

asynctrack builds the JSON body from numpy columns (``store/rest/_codec.py``); MLflow's REST store builds a
``LogBatch`` protobuf of ``Metric`` entities and serialises it with ``message_to_json``. Both are measured
here, in the same run, as microseconds per request body (median of ``--repeat`` rounds of ``--calls`` calls;
the spread is the lowest and highest round). MLflow runs in the interpreter given by ``--mlflow-python``
(a venv with ``mlflow`` installed, e.g. the tests' ``~/.cache/asynctrack-tests/mlflow-3.17.2/bin/python``).

    python bench/rest_codec.py --mlflow-python ~/.cache/asynctrack-tests/mlflow-3.17.2/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from _common import fmt, median, mlflow_version

from asynctrack.store import MetricSeries
from asynctrack.store.rest._codec import encode_log_batch

_MLFLOW = r"""
import json, sys, time
import numpy as np
from mlflow.entities import Metric
from mlflow.protos.service_pb2 import LogBatch
from mlflow.utils.proto_json_utils import message_to_json
calls, repeat = int(sys.argv[1]), int(sys.argv[2])
values = np.random.default_rng(0).random(1000).tolist()
metrics = [Metric("train/loss", v, i, i) for i, v in enumerate(values)]
def body():
    return message_to_json(LogBatch(run_id="r" * 32, metrics=[m.to_proto() for m in metrics]))
for _ in range(20):
    body()
rounds = []
for _ in range(repeat):
    t0 = time.perf_counter()
    for _ in range(calls):
        body()
    rounds.append((time.perf_counter() - t0) / calls * 1e6)
print(json.dumps(rounds))
"""


def asynctrack_rounds(calls: int, repeat: int) -> list[float]:
    values = np.random.default_rng(0).random(1000)
    steps = np.arange(1000, dtype=np.int64)
    series = MetricSeries("train/loss", values, steps, steps)
    for _ in range(20):
        encode_log_batch("r" * 32, [series], [], [])
    rounds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            encode_log_batch("r" * 32, [series], [], [])
        rounds.append((time.perf_counter() - t0) / calls * 1e6)
    return rounds


def mlflow_rounds(python: str, calls: int, repeat: int) -> list[float]:
    done = subprocess.run(
        [python, "-c", _MLFLOW, str(calls), str(repeat)], capture_output=True, text=True, check=True
    )
    return [float(v) for v in json.loads(done.stdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--mlflow-python", default=None, help="an interpreter with mlflow installed")
    args = parser.parse_args()
    ours = asynctrack_rounds(args.calls, args.repeat)
    print(f"{'encode 1,000 points':<24} {'median us':>10} {'min':>8} {'max':>8}")
    print(f"{'asynctrack':<24} {fmt(median(ours)):>10} {fmt(min(ours)):>8} {fmt(max(ours)):>8}")
    if args.mlflow_python is None:
        print("(MLflow not measured: pass --mlflow-python)", file=sys.stderr)
        return
    theirs = mlflow_rounds(args.mlflow_python, args.calls, args.repeat)
    name = f"mlflow {mlflow_version(args.mlflow_python)}"
    print(f"{name:<24} {fmt(median(theirs)):>10} {fmt(min(theirs)):>8} {fmt(max(theirs)):>8}")
    ratio = (median(theirs) or 0) / (median(ours) or 1)
    print(f"asynctrack is {ratio:.1f}x faster per request body")


if __name__ == "__main__":
    main()
