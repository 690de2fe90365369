"""One tracking workload, written against MLflow's API, run by either the official ``mlflow`` package or
``asynctrack`` imported as ``mlflow``, against any tracking URI.

Usage: ``python scenario.py MODULE URI PREFIX OUT.json`` (MODULE: ``mlflow`` or ``asynctrack``; experiment
names start with PREFIX, so several runs can share one server).

It writes what the API answered (searches, histories, error codes) in a canonical form: run and
experiment ids replaced by names, times and artifact locations left out, so two runs of it against
different servers, or with different client packages, can be compared field by field.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from typing import Any


def canonical_float(x: float) -> Any:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


class Names:
    """Replaces ids by stable labels wherever they appear (also inside tag values)."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}

    def add(self, ident: str, label: str) -> None:
        self.labels[ident] = label

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.labels.get(value, value)
        if isinstance(value, float):
            return canonical_float(value)
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        return value


VOLATILE_TAGS = {"mlflow.source.name", "mlflow.user", "mlflow.source.git.commit"}


def run_view(run: Any, names: Names) -> dict[str, Any]:
    info, data = run.info, run.data
    return {
        "run": names(info.run_id),
        "run_name": info.run_name,
        "experiment": names(info.experiment_id),
        "status": info.status,
        "lifecycle_stage": info.lifecycle_stage,
        "has_end_time": info.end_time is not None,
        "metrics": names(dict(sorted(data.metrics.items()))),
        "params": dict(sorted(data.params.items())),
        "tags": names({k: v for k, v in sorted(data.tags.items()) if k not in VOLATILE_TAGS}),
    }


def history_view(metrics: Any) -> list[Any]:
    return [[m.key, canonical_float(m.value), m.step] for m in metrics]


def error_code(fn: Any) -> str:
    try:
        fn()
    except Exception as exc:  # both packages raise MlflowException; keep only the code
        return str(getattr(exc, "error_code", type(exc).__name__))
    return "no error"


def main(module: str, uri: str, prefix: str, out_path: str) -> None:
    mlflow = importlib.import_module(module)
    from_entities = importlib.import_module(f"{module}.entities")
    Metric, Param, RunTag, ViewType = (
        from_entities.Metric,
        from_entities.Param,
        from_entities.RunTag,
        from_entities.ViewType,
    )
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    names = Names()
    out: dict[str, Any] = {}

    exp_a = mlflow.create_experiment(f"{prefix}-a", tags={"team": "tracking", "purpose": "interop"})
    names.add(exp_a, "exp:a")
    mlflow.set_experiment(f"{prefix}-a")
    with mlflow.start_run(run_name="parent") as parent:
        names.add(parent.info.run_id, "run:parent")
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"batch_size": 32, "optimizer": "adam"})
        mlflow.set_tag("stage", "train")
        mlflow.set_tags({"owner": "ci", "empty": ""})
        for step in range(50):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("special", float("nan"), step=0)
        mlflow.log_metric("special", float("inf"), step=1)
        mlflow.log_metric("special", -float("inf"), step=2)
        with mlflow.start_run(run_name="child", nested=True) as child:
            names.add(child.info.run_id, "run:child")
            for step in range(200):
                mlflow.log_metric("acc", step / 200, step=step, synchronous=False)
            mlflow.log_metrics({"a": 1.5, "b": -2.25}, step=3, synchronous=False)
            mlflow.log_params({"depth": 4, "width": "wide"}, synchronous=False)
            mlflow.set_tags({"kind": "child"}, synchronous=False)
            mlflow.flush_async_logging()
        out["error_param_relogged"] = error_code(lambda: mlflow.log_param("lr", 0.02))

    batch_run = client.create_run(exp_a, run_name="batch", tags={"via": "client"})
    names.add(batch_run.info.run_id, "run:batch")
    client.log_batch(
        batch_run.info.run_id,
        metrics=[Metric("m", float(i) * 0.5, 1_700_000_000_000 + i, i) for i in range(1000)],
        params=[Param(f"p{i}", str(i)) for i in range(100)],
        tags=[RunTag(f"t{i}", f"v{i}") for i in range(20)],
    )
    client.set_terminated(batch_run.info.run_id, status="FAILED")

    for label, rid in (
        ("parent", parent.info.run_id),
        ("child", child.info.run_id),
        ("batch", batch_run.info.run_id),
    ):
        out[f"get_run:{label}"] = run_view(client.get_run(rid), names)
    out["history:parent:loss"] = history_view(client.get_metric_history(parent.info.run_id, "loss"))
    out["history:parent:special"] = history_view(client.get_metric_history(parent.info.run_id, "special"))
    out["history:child:acc"] = history_view(client.get_metric_history(child.info.run_id, "acc"))
    out["history:batch:m"] = history_view(client.get_metric_history(batch_run.info.run_id, "m"))

    searches = {
        "all by start": ("", ["attributes.start_time ASC"]),
        "loss filter": ("metrics.loss < 0.5", ["metrics.loss ASC"]),
        "param and tag": ("params.depth = '4' AND tags.kind LIKE 'ch%'", []),
        "status": ("attributes.status = 'FAILED'", []),
        "run name": ("attributes.run_name ILIKE '%AREN%'", []),
        "by metric desc": ("", ["metrics.m DESC", "attributes.run_name ASC"]),
        "nested": (f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", []),
    }
    for label, (flt, order) in searches.items():
        runs = client.search_runs([exp_a], filter_string=flt, order_by=order)
        out[f"search:{label}"] = [names(r.info.run_id) for r in runs]
    page1 = client.search_runs([exp_a], max_results=2, order_by=["attributes.run_name ASC"])
    page2 = client.search_runs(
        [exp_a], max_results=2, order_by=["attributes.run_name ASC"], page_token=page1.token
    )
    out["search:paged"] = [[names(r.info.run_id) for r in page1], [names(r.info.run_id) for r in page2]]
    fluent = mlflow.search_runs([exp_a], filter_string="metrics.acc > 0", output_format="list")
    out["fluent_search"] = [names(r.info.run_id) for r in fluent]

    client.delete_run(batch_run.info.run_id)
    out["deleted_only"] = [
        names(r.info.run_id) for r in client.search_runs([exp_a], run_view_type=ViewType.DELETED_ONLY)
    ]
    out["active_after_delete"] = sorted(names(r.info.run_id) for r in client.search_runs([exp_a]))
    client.restore_run(batch_run.info.run_id)
    out["active_after_restore"] = sorted(names(r.info.run_id) for r in client.search_runs([exp_a]))

    exp_b = client.create_experiment(f"{prefix}-b")
    names.add(exp_b, "exp:b")
    client.set_experiment_tag(exp_b, "note", "second")
    client.rename_experiment(exp_b, f"{prefix}-b2")
    client.delete_experiment(exp_b)
    out["deleted_experiment"] = client.get_experiment(exp_b).lifecycle_stage
    client.restore_experiment(exp_b)
    e = client.get_experiment_by_name(f"{prefix}-b2")
    out["experiment_b"] = {
        "name": e.name.removeprefix(prefix),
        "stage": e.lifecycle_stage,
        "tags": e.tags,
        "id": names(e.experiment_id),
    }
    out["experiments"] = sorted(
        (x.name.removeprefix(prefix), x.lifecycle_stage)
        for x in client.search_experiments(filter_string=f"name LIKE '{prefix}%'")
    )

    out["error_unknown_run"] = error_code(lambda: client.get_run("0123456789abcdef0123456789abcdef"))
    out["error_unknown_experiment"] = error_code(lambda: client.get_experiment("987654321"))
    out["error_duplicate_experiment"] = error_code(lambda: client.create_experiment(f"{prefix}-a"))
    out["error_bad_filter"] = error_code(
        lambda: client.search_runs([exp_a], filter_string="metrics.loss <<< 1")
    )
    out["error_bad_key"] = error_code(lambda: client.log_param(parent.info.run_id, "bad/../key", "x"))

    with open(out_path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
