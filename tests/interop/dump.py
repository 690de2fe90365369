"""Read everything a tracking server holds with the official ``mlflow`` client, in canonical form.

Usage: ``python dump.py URI PREFIX OUT.json`` (only experiments whose name starts with PREFIX). Runs of
this against two servers that received the same workload must print the same thing: ids are replaced by
experiment and run names, times and artifact locations left out, every metric's full history included.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import ViewType
from scenario import VOLATILE_TAGS, Names, history_view


def main(uri: str, prefix: str, out_path: str) -> None:
    client = MlflowClient(uri)
    names = Names()
    experiments = client.search_experiments(
        view_type=ViewType.ALL, max_results=1000, filter_string=f"name LIKE '{prefix}%'"
    )
    for e in experiments:
        names.add(e.experiment_id, f"exp:{e.name.removeprefix(prefix)}")
    out: dict[str, Any] = {}
    for e in sorted(experiments, key=lambda e: e.name):
        runs = client.search_runs([e.experiment_id], run_view_type=ViewType.ALL, max_results=1000)
        for r in runs:
            names.add(r.info.run_id, f"run:{r.info.run_name}")
        out[f"exp:{e.name.removeprefix(prefix)}"] = {
            "stage": e.lifecycle_stage,
            "tags": dict(sorted(e.tags.items())),
            "runs": {
                r.info.run_name: {
                    "status": r.info.status,
                    "stage": r.info.lifecycle_stage,
                    "params": dict(sorted(r.data.params.items())),
                    "tags": names({k: v for k, v in sorted(r.data.tags.items()) if k not in VOLATILE_TAGS}),
                    "latest": names(dict(sorted(r.data.metrics.items()))),
                    "latest_steps": {m.key: m.step for m in sorted(r.data._metric_objs, key=lambda m: m.key)},
                    "history": {
                        key: history_view(client.get_metric_history(r.info.run_id, key))
                        for key in sorted(r.data.metrics)
                    },
                }
                for r in sorted(runs, key=lambda r: r.info.run_name)
            },
        }
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
