"""An offline training process: ``ASYNCTRACK_OFFLINE=1 python offline_logger.py URI``.

Logs an experiment with a parent run (params, tags, 5,000 points) and a nested child run, as MLflow code
would, with the tracking server unreachable or absent. Prints the local run ids.
"""

from __future__ import annotations

import sys

import asynctrack as mlflow


def main(uri: str) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("offline-exp")
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"lr": 0.1, "layers": 3})
        mlflow.set_tag("stage", "offline")
        for i in range(5000):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False)
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("acc", 0.5, step=0)
        mlflow.flush_async_logging()
    print("parent", parent.info.run_id, flush=True)
    print("child", child.info.run_id, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
