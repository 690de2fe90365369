"""MLflow 3 logged models written against MLflow's API, run by the official client or by asynctrack.

    python logged_models_workload.py {mlflow|asynctrack} URL PREFIX OUT.json

Creates models (MlflowClient and fluent), finalizes them, sets and deletes tags, logs params, links metrics
(``log_metric(..., model_id=...)``, a dataset, the active model), then records what the server answers:
each model's fields, searches with MLflow's filters, order_by and pages, and the errors of bad requests
(status and error code). Ids and times are replaced by names, so two servers' answers compare field by field.
"""

from __future__ import annotations

import importlib
import json
import sys
import urllib.error
import urllib.request
from typing import Any

client_name, url, prefix, out = sys.argv[1:5]
mlflow: Any = importlib.import_module("mlflow" if client_name == "mlflow" else "asynctrack")
mlflow.set_tracking_uri(url)
client = mlflow.MlflowClient(url)

experiment_id = client.create_experiment(f"{prefix}-logged-models")
mlflow.set_experiment(experiment_id=experiment_id)
run = client.create_run(experiment_id, run_name="trainer")
rid = run.info.run_id

a = client.create_logged_model(
    experiment_id,
    name="alpha",
    source_run_id=rid,
    tags={"team": "x", "n": 1},
    params={"lr": 0.1},
    model_type="Classifier",
)
b = client.create_logged_model(
    experiment_id, name="beta", params={"lr": "0.2", "depth": "3"}, tags={"team": "y"}
)
c = client.create_logged_model(experiment_id, name="gamma", model_type="Agent")
client.finalize_logged_model(a.model_id, "READY")
client.finalize_logged_model(b.model_id, mlflow.entities.LoggedModelStatus.FAILED)
client.set_logged_model_tags(c.model_id, {"team": "x", "stage": "dev"})
client.delete_logged_model_tag(a.model_id, "n")
client.log_model_params(c.model_id, {"lr": "0.1"})
client.log_metric(rid, "acc", 0.9, timestamp=1000, step=1, model_id=a.model_id)
client.log_metric(
    rid, "acc", 0.95, timestamp=2000, step=2, model_id=a.model_id, dataset_name="test", dataset_digest="d1"
)
client.log_metric(
    rid, "acc", 0.5, timestamp=1500, step=1, model_id=b.model_id, dataset_name="test", dataset_digest="d1"
)
client.log_metric(rid, "loss", 0.3, timestamp=1600, step=0, model_id=c.model_id)
with mlflow.start_run(run_id=rid):
    d = mlflow.initialize_logged_model(name="delta", params={"k": "v"}, tags={"t": "1"})
    with mlflow.set_active_model(model_id=d.model_id):
        mlflow.log_metric("score", 7.0, step=3, timestamp=3000)
    mlflow.log_metric("plain", 1.0, step=0, timestamp=3100)
e = client.create_logged_model(experiment_id, name="epsilon")
client.delete_logged_model(e.model_id)

# A run's model inputs and outputs: MlflowClient's log_inputs(models=...) and log_outputs, then what the
# fluent API links by itself (a resumed run's output at a metric's step; a model or dataset a point names
# becomes an input of the run).
entities = mlflow.entities
client.log_inputs(rid, models=[entities.LoggedModelInput(b.model_id)])
client.log_inputs(rid, models=[entities.LoggedModelInput(b.model_id)])
client.log_outputs(rid, [entities.LoggedModelOutput(a.model_id, 2)])
run2 = client.create_run(experiment_id, run_name="evaluator")
rid2 = run2.info.run_id
client.log_outputs(rid2, [entities.LoggedModelOutput(c.model_id, 5)])
dataset = entities.Dataset(name="evalset", digest="e1", source_type="code", source="{}")
with mlflow.start_run(run_id=rid2):
    mlflow.log_metric("auto", 1.0, step=5, timestamp=4000)  # linked to gamma, the run's output at step 5
    mlflow.log_metric("auto", 2.0, step=4, timestamp=4100)  # no output at step 4: the run's only
    mlflow.log_metric("named", 0.5, step=1, timestamp=4200, model_id=a.model_id, dataset=dataset)
    mlflow.log_metric("named", 0.6, step=2, timestamp=4300, model_id=a.model_id, dataset=dataset)
deleted_run = client.create_run(experiment_id, run_name="gone")
client.delete_run(deleted_run.info.run_id)

names = {m.model_id: m.name for m in (a, b, c, d, e)}
runs = {rid: "trainer", rid2: "evaluator"}

# A registered model version from a logged model: source models:/<model_id>.
registered = f"{prefix}-from-logged-model"
client.create_registered_model(registered)
version = client.create_model_version(registered, f"models:/{a.model_id}", model_id=a.model_id)
from_model = {
    "source": version.source == f"models:/{a.model_id}",
    "run": runs.get(version.run_id or "", version.run_id),
    # Not compared: MLflow 3.17.2's SQL registry keeps no model_id on a version (None in its answers);
    # asynctrack keeps the one given (docs/api-coverage.md, deliberate differences).
    "model_kept": names.get(version.model_id or "", version.model_id),
    "download": client.get_model_version_download_uri(registered, version.version) == a.artifact_location,
}


def links(r: Any) -> dict[str, Any]:
    inputs = r.inputs.model_inputs if r.inputs else []
    outputs = r.outputs.model_outputs if r.outputs else []
    return {
        "inputs": sorted(names.get(m.model_id, m.model_id) for m in inputs),
        "outputs": sorted([names.get(m.model_id, m.model_id), m.step] for m in outputs),
        "datasets": sorted([x.dataset.name, x.dataset.digest, len(x.tags)] for x in r.inputs.dataset_inputs)
        if r.inputs
        else [],
    }


def model(m: Any) -> dict[str, Any]:
    return {
        "name": m.name,
        "status": str(m.status),
        "model_type": m.model_type or None,
        "source_run_id": runs.get(m.source_run_id or "", m.source_run_id or None),
        "status_message": m.status_message or None,
        "tags": {k: v for k, v in sorted(m.tags.items()) if not k.startswith("mlflow.")},
        "params": dict(sorted(m.params.items())),
        "metrics": sorted(
            [
                x.key,
                x.value,
                x.step,
                x.timestamp,
                x.dataset_name or None,
                x.dataset_digest or None,
                runs.get(x.run_id or "", x.run_id),
                names.get(x.model_id or "", x.model_id),
            ]
            for x in m.metrics or []
        ),
        "artifact_location": m.artifact_location.endswith(f"/models/{m.model_id}/artifacts"),
        "model_uri": m.model_uri == f"models:/{m.model_id}",
        "experiment": m.experiment_id == experiment_id,
    }


def search(filter_string: str | None = None, **kw: Any) -> list[str]:
    return [
        names.get(m.model_id, "?") for m in client.search_logged_models([experiment_id], filter_string, **kw)
    ]


pages = []
token = None
while True:
    page = client.search_logged_models([experiment_id], max_results=2, page_token=token)
    pages.append([names[m.model_id] for m in page])
    token = page.token
    if not token:
        break


def call(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url + "/api/2.0/mlflow" + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, None
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text).get("error_code")
        except ValueError:
            return exc.code, None


missing_run = "0123456789abcdef0123456789abcdef"
scratch = client.create_run(experiment_id, run_name="scratch").info.run_id  # its links are not compared
errors = {
    "version from models:/<id> without model_id": call(
        "POST", "/model-versions/create", {"name": registered, "source": f"models:/{a.model_id}"}
    ),
    "version from models:/<id> of another model": call(
        "POST",
        "/model-versions/create",
        {"name": registered, "source": f"models:/{a.model_id}", "model_id": b.model_id},
    ),
    "log-inputs unknown model": call(
        "POST", "/runs/log-inputs", {"run_id": rid2, "models": [{"model_id": "m-unknown"}]}
    ),
    "log-outputs unknown model": call(
        "POST", "/runs/outputs", {"run_id": rid2, "models": [{"model_id": "m-unknown", "step": 1}]}
    ),
    "log-outputs twice": call(
        "POST", "/runs/outputs", {"run_id": rid2, "models": [{"model_id": c.model_id, "step": 6}]}
    ),
    "log-outputs without models": call("POST", "/runs/outputs", {"run_id": rid2}),
    "log-outputs empty models": call("POST", "/runs/outputs", {"run_id": rid2, "models": []}),
    "log-outputs without run": call("POST", "/runs/outputs", {"models": [{"model_id": "m-1", "step": 1}]}),
    "log-outputs missing run": call(
        "POST", "/runs/outputs", {"run_id": missing_run, "models": [{"model_id": "m-1", "step": 1}]}
    ),
    "log-outputs deleted run": call(
        "POST",
        "/runs/outputs",
        {"run_id": deleted_run.info.run_id, "models": [{"model_id": "m-1", "step": 1}]},
    ),
    "log-inputs model without id": call("POST", "/runs/log-inputs", {"run_id": scratch, "models": [{}]}),
    "log-outputs model without id": call(
        "POST", "/runs/outputs", {"run_id": scratch, "models": [{"step": 3}]}
    ),
    "log-inputs model to missing run": call(
        "POST", "/runs/log-inputs", {"run_id": missing_run, "models": [{"model_id": "m-1"}]}
    ),
    "log-inputs model to deleted run": call(
        "POST", "/runs/log-inputs", {"run_id": deleted_run.info.run_id, "models": [{"model_id": "m-1"}]}
    ),
    "create without experiment": call("POST", "/logged-models", {}),
    "create in missing experiment": call("POST", "/logged-models", {"experiment_id": "987654"}),
    "create with a bad name": call("POST", "/logged-models", {"experiment_id": experiment_id, "name": "a/b"}),
    "get missing": call("GET", "/logged-models/m-0000"),
    "get deleted": call("GET", f"/logged-models/{e.model_id}"),
    "finalize missing": call("PATCH", "/logged-models/m-0000", {"status": "LOGGED_MODEL_READY"}),
    "delete missing tag": call("DELETE", f"/logged-models/{a.model_id}/tags/nope"),
    "tags on missing": call("PATCH", "/logged-models/m-0000/tags", {"tags": [{"key": "a", "value": "b"}]}),
    "params on missing": call(
        "POST", "/logged-models/m-0000/params", {"params": [{"key": "a", "value": "b"}]}
    ),
    "search without experiments": call("POST", "/logged-models/search", {}),
    "search bad entity": call(
        "POST", "/logged-models/search", {"experiment_ids": [experiment_id], "filter": "foo.x = 1"}
    ),
    "search bad op": call(
        "POST", "/logged-models/search", {"experiment_ids": [experiment_id], "filter": "metrics.acc LIKE 'a'"}
    ),
    "search bad order": call(
        "POST",
        "/logged-models/search",
        {"experiment_ids": [experiment_id], "order_by": [{"field_name": "params.lr"}]},
    ),
    "search bad token": call(
        "POST", "/logged-models/search", {"experiment_ids": [experiment_id], "page_token": "bm90IGpzb24="}
    ),
    "search mismatched token": call(
        "POST",
        "/logged-models/search",
        {
            "experiment_ids": [experiment_id],
            "filter": "name = 'x'",
            "page_token": pages and client.search_logged_models([experiment_id], max_results=1).token,
        },
    ),
}

result = {
    "models": {names[m.model_id]: model(client.get_logged_model(m.model_id)) for m in (a, b, c, d)},
    "run_metrics": client.get_run(rid).data.metrics,
    "run2_metrics": client.get_run(rid2).data.metrics,
    "links": {runs[r]: links(client.get_run(r)) for r in (rid, rid2)},
    "from_model": from_model,
    "search_links": {
        runs[r.info.run_id]: links(r) for r in client.search_runs([experiment_id]) if r.info.run_id in runs
    },
    "search": {
        expr: search(expr or None)
        for expr in (
            "",
            "metrics.acc > 0.6",
            "metrics.acc >= 0.5 AND params.lr = '0.2'",
            "params.lr = '0.1'",
            "tags.team = 'x'",
            "tags.team IN ('y', 'z')",
            "tags.team NOT IN ('y')",
            "name LIKE 'a%'",
            "name ILIKE 'G%'",
            "name != 'beta'",
            "model_type = 'Agent'",
            "attributes.name = 'delta'",
            "creation_time > 0",
            "last_updated_timestamp > 0 AND name = 'alpha'",
            "status = '2'",
        )
    },
    "order": {
        label: search(order_by=ob)
        for label, ob in {
            "acc asc": [{"field_name": "metrics.acc", "ascending": True}],
            "acc desc": [{"field_name": "metrics.acc", "ascending": False}],
            "acc on test": [{"field_name": "metrics.acc", "ascending": False, "dataset_name": "test"}],
            "name": [{"field_name": "name"}],
            "creation asc": [{"field_name": "creation_timestamp", "ascending": True}],
        }.items()
    },
    "datasets": {
        "test": search(datasets=[{"dataset_name": "test"}]),
        "test d1 acc": search(
            "metrics.acc > 0.7", datasets=[{"dataset_name": "test", "dataset_digest": "d1"}]
        ),
        "other": search(datasets=[{"dataset_name": "other"}]),
    },
    "pages": pages,
    "errors": errors,
}
with open(out, "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
