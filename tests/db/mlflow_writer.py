"""Run by the mlflow 3.17.2 venv's interpreter (tests/servers.py ``mlflow_python()``), never imported by
asynctrack's tests: logs a known history with the real ``mlflow`` package, either into ``sqlite:///<db>``
or to a tracking server URL, so copy tests read what MLflow itself wrote.

Usage: python mlflow_writer.py TRACKING_URI

What it logs is a seeded function of the names below (``expected_*`` in test_copy.py mirrors it): two
experiments (one deleted afterwards, one with a tag), runs with params, tags, metric histories of several
hundred points with repeated steps, NaN and +-inf, a deleted run, a finished and a failed run, and a dataset
input on one run.
"""

from __future__ import annotations

import math
import sys

import mlflow
from mlflow.entities import Metric, Param, RunTag


def values(e: int, r: int, k: int, n: int) -> list[float]:
    out = [math.sin(0.01 * i * (k + 1)) + e + 0.1 * r for i in range(n)]
    if n > 10:
        out[7] = float("nan")
        out[8] = float("inf")
        out[9] = float("-inf")
    return out


def main(uri: str) -> None:
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    for e, name in enumerate(["mnist", "cifar"]):
        eid = client.create_experiment(name, tags={"team": f"t{e}"})
        for r in range(3):
            run = client.create_run(
                eid, run_name=f"run-{e}-{r}", tags={"seed": str(r)}, start_time=1_700_000_000_000 + r
            )
            rid = run.info.run_id
            for k, key in enumerate(["loss", "acc"]):
                n = 300 + 150 * r + 50 * k
                vals = values(e, r, k, n)
                # Steps repeat every 100 points after the first 200 (a second pass), timestamps increase.
                metrics = [
                    Metric(key, v, 1_700_000_000_000 + 10 * i, i if i < 200 else i - 100)
                    for i, v in enumerate(vals)
                ]
                for start in range(0, n, 1000):
                    client.log_batch(rid, metrics=metrics[start : start + 1000])
            client.log_batch(
                rid,
                params=[Param("lr", f"0.{e}{r}"), Param("depth", str(r + 3))],
                tags=[RunTag("stage", ["dev", "prod", "dev"][r])],
            )
            if r == 0:
                client.set_terminated(rid, "FINISHED", end_time=1_700_000_500_000)
            elif r == 1:
                client.set_terminated(rid, "FAILED", end_time=1_700_000_600_000)
                if e == 0:
                    dataset = mlflow.data.from_numpy(
                        __import__("numpy").arange(6.0), name="train", source="s3://b/train"
                    )
                    with mlflow.start_run(run_id=rid):
                        mlflow.log_input(dataset, context="training")
                    client.set_terminated(rid, "FAILED", end_time=1_700_000_600_000)
            else:
                client.delete_run(rid)
        if e == 1:
            client.delete_experiment(eid)


if __name__ == "__main__":
    main(sys.argv[1])
