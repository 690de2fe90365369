"""A model-registry workload, written against MLflow's API, run by the official ``mlflow`` package or by
``asynctrack`` imported as ``mlflow``, against any tracking URI.

Usage: ``python registry_scenario.py MODULE URI PREFIX OUT.json`` (model names start with PREFIX). It
writes every answer in canonical form: times left out, run ids replaced by labels, a source under a run's
artifact location written relative to it, errors as ``[error_code, message]`` with the prefix removed,
so runs against different servers or with different clients compare field by field. At the end it reads
back every model and version of the prefix (the registry's state), as ``dump.py`` does for tracking.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import tempfile
from typing import Any


class Canon:
    """Replaces run ids, the prefix and run artifact roots by stable labels, wherever they appear."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.labels: dict[str, str] = {}

    def add(self, value: str, label: str) -> None:
        self.labels[value] = label

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            for raw, label in sorted(self.labels.items(), key=lambda kv: -len(kv[0])):
                value = value.replace(raw, label)
            return value.replace(self.prefix, "<p>")
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        return value


def version_view(mv: Any, canon: Canon) -> dict[str, Any]:
    return canon(
        {
            "name": mv.name,
            "version": str(mv.version),
            "stage": mv.current_stage,
            "description": mv.description,
            "source": mv.source,
            "run_id": mv.run_id,
            "status": str(mv.status),
            "tags": dict(sorted(mv.tags.items())),
            "aliases": sorted(mv.aliases),
            "run_link": mv.run_link or None,
            "user_id": mv.user_id or None,
        }
    )


def model_view(rm: Any, canon: Canon) -> dict[str, Any]:
    return canon(
        {
            "name": rm.name,
            "description": rm.description,
            "tags": dict(sorted(rm.tags.items())),
            "aliases": dict(sorted(rm.aliases.items())),
            "latest_versions": [version_view(v, canon) for v in rm.latest_versions],
        }
    )


def _message(code: str, text: str) -> str:
    """An error message without what cannot be compared: the order MLflow prints a Python set in (it
    changes with hash seeds), the database driver's detail MLflow appends after " Error: ", and the
    "CODE: " prefix MLflow's client puts before a server's message (asynctrack keeps the code in
    ``error_code`` only, docs/server.md)."""
    text = text.removeprefix(f"{code}: ")
    text = re.sub(r"\{('[^{}]*')\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", text)
    return text.split(" Error: (")[0]


def error(canon: Canon, fn: Any) -> Any:
    try:
        fn()
    except Exception as exc:
        code = str(getattr(exc, "error_code", type(exc).__name__))
        return canon([code, _message(code, str(getattr(exc, "message", exc)))])
    return "no error"


def main(module: str, uri: str, prefix: str, out_path: str) -> None:
    mlflow = importlib.import_module(module)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    canon = Canon(prefix)
    out: dict[str, Any] = {}

    mlflow.set_experiment(f"{prefix}-exp")
    runs = []
    for i in range(2):
        with mlflow.start_run(run_name=f"train-{i}") as run:
            mlflow.log_text("artifact_path: model\nflavors: {}\n", "model/MLmodel")
            mlflow.log_text(f"weights {i}", "model/weights.txt")
        runs.append(run)
        canon.add(run.info.artifact_uri, f"<run{i}-artifacts>")
        canon.add(run.info.run_id, f"<run{i}>")
    run0, run1 = runs
    m, m2 = f"{prefix}-model", f"{prefix}-other"

    out["register"] = version_view(mlflow.register_model(f"runs:/{run0.info.run_id}/model", m), canon)
    out["register_again"] = version_view(
        mlflow.register_model(f"runs:/{run1.info.run_id}/model", m, tags={"from": "fluent"}), canon
    )
    out["create_model"] = model_view(
        client.create_registered_model(m2, tags={"team": "a", "n": "1"}, description="second"), canon
    )
    out["create_from_runs_uri"] = version_view(
        client.create_model_version(m2, f"runs:/{run1.info.run_id}/model", run1.info.run_id, {"k": "v"}),
        canon,
    )
    out["create_from_models_uri"] = version_view(client.create_model_version(m2, f"models:/{m}/1"), canon)
    out["create_third"] = version_view(
        client.create_model_version(m2, f"runs:/{run0.info.run_id}/model", run0.info.run_id, description="d"),
        canon,
    )
    out["get_model"] = model_view(client.get_registered_model(m), canon)
    out["update_model"] = model_view(client.update_registered_model(m2, "changed"), canon)
    client.set_registered_model_tag(m2, "team", "b")
    client.set_registered_model_tag(m2, "extra", "x")
    client.delete_registered_model_tag(m2, "n")
    client.delete_registered_model_tag(m2, "never-set")
    out["after_tags"] = model_view(client.get_registered_model(m2), canon)

    out["stage_staging"] = version_view(client.transition_model_version_stage(m2, 1, "staging"), canon)
    out["stage_production"] = version_view(
        client.transition_model_version_stage(m2, "2", "Production"), canon
    )
    out["stage_archive"] = version_view(
        client.transition_model_version_stage(m2, 3, "Production", archive_existing_versions=True), canon
    )
    out["after_stages"] = [version_view(client.get_model_version(m2, v), canon) for v in (1, 2, 3)]
    out["latest_all"] = sorted((v.version, v.current_stage) for v in client.get_latest_versions(m2))
    out["latest_production"] = [
        version_view(v, canon) for v in client.get_latest_versions(m2, ["Production"])
    ]

    client.set_registered_model_alias(m2, "champion", 3)
    client.set_registered_model_alias(m2, "challenger", "1")
    client.set_registered_model_alias(m2, "challenger", 2)  # moves
    out["by_alias"] = version_view(client.get_model_version_by_alias(m2, "champion"), canon)
    out["by_latest_alias"] = version_view(client.get_model_version_by_alias(m2, "latest"), canon)
    out["model_with_aliases"] = model_view(client.get_registered_model(m2), canon)
    client.set_model_version_tag(m2, "3", "quality", "good")
    client.set_model_version_tag(m2, 3, "other", "x")
    client.delete_model_version_tag(m2, 3, "other")
    out["update_version"] = version_view(client.update_model_version(m2, 3, "best so far"), canon)
    out["download_uri_run"] = canon(client.get_model_version_download_uri(m2, 1))
    out["download_uri_models"] = canon(client.get_model_version_download_uri(m2, 2))

    for label, uri in {
        "version": f"models:/{m2}/1",
        "alias": f"models:/{m2}@champion",
        "latest": f"models:/{m}/latest",
        "stage": f"models:/{m2}/Production",
    }.items():
        with tempfile.TemporaryDirectory() as dst:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst)
            files = sorted(f for f in os.listdir(local) if f != "registered_model_meta")
            with open(os.path.join(local, "weights.txt")) as fh:
                out[f"download:{label}"] = [files, fh.read()]

    searches = {
        "all": ("", None),
        "like": (f"name LIKE '{prefix}-mod%'", None),
        "tag": ("tags.team = 'b'", None),
        "in": (f"name IN ('{m}', '{m2}')", ["name DESC"]),
        "ilike": (f"name ILIKE '{prefix.upper()}-OTHER'", None),
        "by time": (f"name LIKE '{prefix}%'", ["last_updated_timestamp DESC"]),
    }
    for label, (flt, order) in searches.items():
        full = (
            f"{flt} AND name LIKE '{prefix}%'"
            if flt and "name" not in flt
            else flt or f"name LIKE '{prefix}%'"
        )
        found = client.search_registered_models(full, order_by=order)
        out[f"models:{label}"] = [model_view(x, canon) for x in found]
    page1 = client.search_registered_models(f"name LIKE '{prefix}%'", max_results=1)
    page2 = client.search_registered_models(f"name LIKE '{prefix}%'", max_results=1, page_token=page1.token)
    out["models:paged"] = canon([[x.name for x in page1], [x.name for x in page2], page2.token or None])
    out["models:fluent"] = canon(
        [x.name for x in mlflow.search_registered_models(filter_string=f"name LIKE '{prefix}%'")]
    )

    version_searches = {
        "by name": (f"name = '{m2}'", None),
        "by run": (f"run_id = '{run0.info.run_id}'", ["name ASC", "version_number ASC"]),
        "run in": (f"run_id IN ('{run1.info.run_id}')", ["version_number DESC"]),
        "number": (f"name = '{m2}' AND version_number >= 2", ["version_number ASC"]),
        "number string": (f"name = '{m2}' AND version_number = '3'", None),
        "tag": (f"name LIKE '{prefix}%' AND tags.quality = 'good'", None),
        "tag like": (f"name LIKE '{prefix}%' AND tags.k LIKE 'v%'", None),
        "source": (f"name LIKE '{prefix}%' AND source_path LIKE 'models:/%'", None),
        "not in": (f"name LIKE '{prefix}%' AND name NOT IN ('{m}')", ["creation_timestamp ASC"]),
    }
    for label, (flt, order) in version_searches.items():
        found = client.search_model_versions(flt, order_by=order)
        out[f"versions:{label}"] = [version_view(v, canon) for v in found]
    vpage1 = client.search_model_versions(f"name = '{m2}'", max_results=2, order_by=["version_number ASC"])
    vpage2 = client.search_model_versions(
        f"name = '{m2}'", max_results=2, order_by=["version_number ASC"], page_token=vpage1.token
    )
    out["versions:paged"] = [[v.version for v in vpage1], [v.version for v in vpage2], vpage2.token or None]
    out["versions:fluent"] = [
        (v.name.replace(prefix, "<p>"), v.version)
        for v in mlflow.search_model_versions(filter_string=f"name = '{m2}'", order_by=["version_number ASC"])
    ]

    client.delete_registered_model_alias(m2, "challenger")
    client.delete_model_version(m2, 2)
    out["after_version_delete"] = model_view(client.get_registered_model(m2), canon)
    out["new_after_delete"] = version_view(
        client.create_model_version(m2, f"runs:/{run0.info.run_id}/model", run0.info.run_id), canon
    )
    renamed = f"{prefix}-renamed"
    client.rename_registered_model(m2, renamed)  # MLflow's client answers None
    out["rename"] = model_view(client.get_registered_model(renamed), canon)
    out["renamed_version"] = version_view(client.get_model_version(renamed, 3), canon)

    errors = {
        "duplicate model": lambda: client.create_registered_model(m),
        "missing model": lambda: client.get_registered_model(f"{prefix}-nope"),
        "missing version": lambda: client.get_model_version(m, 99),
        "deleted version": lambda: client.get_model_version(renamed, 2),
        "version not a number": lambda: client.get_model_version(m, "one"),
        "bad model name": lambda: client.create_registered_model(f"{prefix}/slash"),
        "rename to existing": lambda: client.rename_registered_model(renamed, m),
        "missing alias": lambda: client.get_model_version_by_alias(renamed, "nobody"),
        "reserved alias": lambda: client.set_registered_model_alias(renamed, "latest", 1),
        "version alias": lambda: client.set_registered_model_alias(renamed, "v1", 1),
        "bad alias": lambda: client.set_registered_model_alias(renamed, "a b", 1),
        "alias to missing version": lambda: client.set_registered_model_alias(renamed, "x", 42),
        "bad stage": lambda: client.transition_model_version_stage(renamed, 1, "Gold"),
        "version of missing model": lambda: client.create_model_version(f"{prefix}-nope", "s3://b/x"),
        "source run mismatch": lambda: client.create_model_version(
            renamed, f"runs:/{run0.info.run_id}/model", run1.info.run_id
        ),
        "source with dots": lambda: client.create_model_version(renamed, "s3://bucket/a/../../etc"),
        "bad model filter key": lambda: client.search_registered_models("run_id = 'x'"),
        "bad model filter comparator": lambda: client.search_registered_models("name > 'x'"),
        "bad version filter key": lambda: client.search_model_versions("stage = 'x'"),
        "bad version number": lambda: client.search_model_versions("version_number = 1.5"),
        "bad tag comparator": lambda: client.search_model_versions("tags.a > 'x'"),
        "bad order key": lambda: client.search_model_versions("", order_by=["run_id ASC"]),
        "bad model order key": lambda: client.search_registered_models(order_by=["description ASC"]),
        "too many models": lambda: client.search_registered_models(max_results=1001),
        "missing tag version": lambda: client.set_model_version_tag(renamed, 99, "a", "b"),
        "latest of missing": lambda: client.get_latest_versions(f"{prefix}-nope"),
        "download missing": lambda: client.get_model_version_download_uri(renamed, 2),
    }
    for label, fn in errors.items():
        out[f"error:{label}"] = error(canon, fn)

    client.delete_registered_model(m)
    out["final_models"] = [
        model_view(x, canon) for x in client.search_registered_models(f"name LIKE '{prefix}%'")
    ]
    out["final_versions"] = [
        version_view(v, canon)
        for v in client.search_model_versions(f"name LIKE '{prefix}%'", order_by=["name", "version_number"])
    ]
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
