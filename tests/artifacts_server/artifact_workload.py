"""One artifact workload written against MLflow's API, run by the official client or by asynctrack imported as
``mlflow`` (a subprocess, so each client has its own process and settings).

    python artifact_workload.py mlflow|asynctrack TRACKING_URL SOURCE_DIR OUT_JSON

``SOURCE_DIR`` holds ``big.bin`` and a directory ``tree``. Logs into a new run: ``big.bin`` under ``models``,
``tree`` under ``tree``, a text and a dict; then lists, downloads the whole run and single files back, and
writes what it saw (listings, downloaded files with their SHA-256) to ``OUT_JSON``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from typing import Any

client_kind, url, source, out = sys.argv[1:5]
if client_kind == "asynctrack":
    import asynctrack as mlflow
else:
    import mlflow  # type: ignore[no-redef]


def digests(root: str) -> dict[str, str]:
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root).replace(os.sep, "/")] = hashlib.sha256(f.read()).hexdigest()
    return found


def listing(client: Any, run_id: str, path: str | None = None) -> list[list[Any]]:
    return [[f.path, f.is_dir, f.file_size] for f in client.list_artifacts(run_id, path)]


mlflow.set_tracking_uri(url)
with mlflow.start_run() as run:
    mlflow.log_artifact(os.path.join(source, "big.bin"), "models")
    mlflow.log_artifacts(os.path.join(source, "tree"), "tree")
    mlflow.log_text("hello, artifacts", "notes/hello.txt")
    mlflow.log_dict({"layers": [64, 64]}, "config.json")
run_id = run.info.run_id
client = mlflow.MlflowClient()
report: dict[str, Any] = {"artifact_uri": run.info.artifact_uri}
report["listings"] = {
    p or ".": listing(client, run_id, p) for p in (None, "tree", "tree/sub", "models/big.bin", "missing")
}
everything = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=tempfile.mkdtemp())
report["downloaded"] = digests(everything)
one = client.download_artifacts(run_id, "tree/sub", tempfile.mkdtemp())
report["downloaded_dir"] = [os.path.basename(one), digests(one)]
report["text"] = mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt")
report["dict"] = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/config.json")
with open(out, "w") as f:
    json.dump(report, f, indent=1, sort_keys=True)
