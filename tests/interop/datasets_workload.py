"""Dataset inputs written against MLflow's API, run by the official client or by asynctrack (as ``mlflow``).

    python datasets_workload.py {mlflow|asynctrack} URL PREFIX OUT.json

Logs datasets (from_pandas and from_numpy with explicit sources, Dataset entities through
``MlflowClient.log_inputs``, a repeated dataset, a second run sharing one), then records what the server
answers: each run's ``inputs.dataset_inputs``, run searches with ``datasets.*`` filters, search-datasets,
and log-inputs errors. Ids are replaced by names, so two servers' answers compare field by field.
"""

from __future__ import annotations

import importlib
import json
import sys
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pandas as pd

client_name, url, prefix, out = sys.argv[1:5]
mlflow: Any = importlib.import_module("mlflow" if client_name == "mlflow" else "asynctrack")
entities: Any = importlib.import_module(f"{mlflow.__name__}.entities")
mlflow.set_tracking_uri(url)
client = mlflow.MlflowClient(url)

experiment_id = client.create_experiment(f"{prefix}-datasets")
mlflow.set_experiment(experiment_id=experiment_id)

df = pd.DataFrame({"s": ["a", "b", "c"], "i": [1, 2, 3], "f": [0.5, 1.5, np.nan]})
train = mlflow.data.from_pandas(df, source="/data/train.csv", name="train", targets="i")
features = np.arange(24, dtype=np.float32).reshape(6, 4)
evaluation = mlflow.data.from_numpy(features, source="s3://bucket/eval.npy", targets=np.arange(6))

with mlflow.start_run(run_name="first") as first:
    mlflow.log_input(train, "training", {"foo": "bar"})
    mlflow.log_input(evaluation, context="eval")
    mlflow.log_input(train, "again")  # the same (name, digest): kept once, first tags
with mlflow.start_run(run_name="second") as second:
    mlflow.log_input(train, "eval")

third = client.create_run(experiment_id, run_name="third")
entity = entities.Dataset(name="manual", digest="d1", source_type="source_type1", source="source1")
client.log_inputs(
    third.info.run_id,
    [
        entities.DatasetInput(dataset=entity, tags=[entities.InputTag(key="tag1", value="value1")]),
        entities.DatasetInput(dataset=entity, tags=[entities.InputTag(key="dup", value="x")]),
    ],
)
names = {first.info.run_id: "first", second.info.run_id: "second", third.info.run_id: "third"}


def inputs(run_id: str) -> list[dict[str, Any]]:
    run = client.get_run(run_id)
    return [
        {
            "dataset": {
                k: getattr(d.dataset, k)
                for k in ("name", "digest", "source_type", "source", "schema", "profile")
            },
            "tags": [[t.key, t.value] for t in d.tags],
        }
        for d in run.inputs.dataset_inputs
    ]


def search(expr: str) -> list[str]:
    runs = client.search_runs([experiment_id], expr)
    assert all(r.inputs is not None for r in runs)
    return sorted(names[r.info.run_id] for r in runs)


def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        data = json.loads(exc.read())
        return exc.code, {"error_code": data.get("error_code"), "message": data.get("message")}


status, summaries = post(
    "/ajax-api/2.0/mlflow/experiments/search-datasets", {"experiment_ids": [experiment_id]}
)
summary_rows = sorted(
    [s["name"], s["digest"], s.get("context"), s["experiment_id"] == experiment_id]
    for s in summaries.get("dataset_summaries", [])
)
errors = {}
for label, dataset in {
    "no source": {"name": "n", "digest": "d", "source_type": "t"},
    "long name": {"name": "n" * 501, "digest": "d", "source_type": "t", "source": "s"},
}.items():
    errors[label] = post(
        "/api/2.0/mlflow/runs/log-inputs", {"run_id": third.info.run_id, "datasets": [{"dataset": dataset}]}
    )
errors["no run_id"] = post("/api/2.0/mlflow/runs/log-inputs", {"datasets": []})

result = {
    "inputs": {name: inputs(run_id) for run_id, name in names.items()},
    "search": {
        expr: search(expr)
        for expr in (
            "datasets.name = 'train'",
            "datasets.context = 'eval'",
            "dataset.context = 'training'",
            f"datasets.digest IN ('{evaluation.digest}', 'zz')",
            "datasets.name LIKE 'ma%'",
            "datasets.name != 'train'",
            "datasets.context NOT IN ('eval')",
        )
    },
    "search_datasets": [status, summary_rows],
    "errors": errors,
}
with open(out, "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
