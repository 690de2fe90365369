"""The proxied artifact API both ways, with real servers and the real ``mlflow`` package.

One workload (``artifact_workload.py``: log_artifact of a large file, log_artifacts of a tree, log_text,
log_dict, list_artifacts, download_artifacts, load_text, load_dict) runs four ways: the official client
against ``mlflow server --serve-artifacts`` (the reference), the official client against
``asynctrack server --serve-artifacts``, and asynctrack against both. Multipart upload is switched on for
every client (``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD``, 4 MiB threshold, 1 MiB parts): MLflow's server
refuses it for a local destination and the clients fall back to one request; asynctrack's server takes it.
Every answer must equal the reference, every downloaded byte the source's.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from artifact_server_helpers import MiB, workload_env
from servers import ServerProcess, mlflow_python

# Every test here compares with an official mlflow server (~20 s to start on 2 cores).
pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
MULTIPART = {
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
    "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(4 * MiB),
    "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(MiB),
}


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _run(client: str, url: str, sources: Path, out: Path) -> dict[str, Any]:
    python = str(mlflow_python()) if client == "mlflow" else sys.executable
    done = subprocess.run(
        [python, str(HERE / "artifact_workload.py"), client, url, str(sources), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=workload_env(**MULTIPART),
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


@pytest.fixture(scope="module")
def reference(
    mlflow_artifacts_server: ServerProcess, sources: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return _run("mlflow", mlflow_artifacts_server.url, sources, tmp_path_factory.mktemp("ref") / "out.json")


def test_reference_run_is_what_was_logged(reference: dict[str, Any], sources: Path) -> None:
    """The reference itself: MLflow's client and server give back exactly the bytes logged (empty
    directories are not uploaded by an HTTP client)."""
    expected = {"models/big.bin": _digests(sources)["big.bin"]}
    expected.update({f"tree/{k}": v for k, v in _digests(sources / "tree").items()})
    got = {k: v for k, v in reference["downloaded"].items() if k.startswith(("models/", "tree/"))}
    assert got == expected
    assert reference["artifact_uri"].startswith("mlflow-artifacts:/0/")


@pytest.mark.parametrize(
    ("client", "server"), [("mlflow", "asynctrack"), ("asynctrack", "mlflow"), ("asynctrack", "asynctrack")]
)
def test_same_answers_and_bytes_as_mlflow(
    client: str,
    server: str,
    reference: dict[str, Any],
    at_server: ServerProcess,
    at_dest: Path,
    mlflow_artifacts_server: ServerProcess,
    sources: Path,
    tmp_path: Path,
) -> None:
    """Listings, downloads (a whole run, a directory, a text, a dict) and artifact URIs match the
    reference; what asynctrack's server stored on disk is byte for byte the source."""
    url = at_server.url if server == "asynctrack" else mlflow_artifacts_server.url
    report = _run(client, url, sources, tmp_path / "out.json")
    run_id = report["artifact_uri"].split("/")[2]
    assert report["artifact_uri"] == f"mlflow-artifacts:/0/{run_id}/artifacts"
    for key in ("listings", "downloaded", "downloaded_dir", "text", "dict"):
        assert report[key] == reference[key], key
    if server == "asynctrack":
        stored = _digests(at_dest / "0" / run_id / "artifacts")
        assert stored == reference["downloaded"]
        # The multipart upload ran through the server (its state directory exists) and finished (empty).
        assert [p.name for p in (at_dest / ".artifact.uploading.mpu").iterdir()] == []
