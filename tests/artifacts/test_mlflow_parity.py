"""What asynctrack leaves on disk and answers, call for call, equals what MLflow 3.17.2 does.

``mlflow_workload.py`` logs every kind of artifact (text, JSON and YAML dicts, numpy and PIL images in both
``log_image`` forms, tables appended to, matplotlib figures, files and directories) and then lists,
downloads and loads them back, provoking MLflow's errors on the way; it runs once with the real ``mlflow``
(its own venv, see tests/servers.py) and once with asynctrack imported as ``mlflow``, and the two records
must be equal: the layout under ``<root>/<experiment_id>/<run_id>/artifacts``, every file's bytes and mode
(decoded pixels for images), listings, download paths, tags and error types, codes and messages.

Where asynctrack is stricter on purpose (paths MLflow accepts but that hide a traversal) is tested in
test_path_safety.py instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from servers import mlflow_python

HERE = Path(__file__).parent


def run_workload(python: str, which: str, tmp: Path) -> dict[str, Any]:
    work = tmp / which
    work.mkdir()
    out = tmp / f"{which}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run(
        [python, str(HERE / "mlflow_workload.py"), which, str(work), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_workload(str(mlflow_python()), "mlflow", tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_workload(sys.executable, "asynctrack", tmp_path_factory.mktemp("asynctrack"))


@pytest.mark.slow  # the real mlflow in a subprocess writes the reference (~10 s)
def test_same_files_and_answers_as_mlflow(reference: dict[str, Any], ours: dict[str, Any]) -> None:
    """Every key of the record, compared one by one so a failure names what differs."""
    assert sorted(ours) == sorted(reference)
    different = {
        k: {"mlflow": reference[k], "asynctrack": ours[k]} for k in reference if ours[k] != reference[k]
    }
    assert not different, json.dumps(different, indent=1)


@pytest.mark.slow
def test_the_record_covers_the_layout(ours: dict[str, Any]) -> None:
    """The comparison is not vacuous: the record holds MLflow's layout and the image-series files."""
    assert ours["artifact_uri"] == "CWD/mlruns/0/RUN/artifacts"
    assert ours["experiment_location"] == "CWD/mlruns/0"
    assert ours["custom_artifact_uri"] == "CWD/custom_root/RUN2/artifacts"
    assert "images/my~key+step+3+timestamp+T+UUID.png" in ours["tree"]
    assert ours["tree"]["images/my~key+step+3+timestamp+T+UUID+compressed.webp"]["size"] == [256, 170]
    assert (
        ours["tree"]["tables/t.json"]["content"] == '{"columns":["col","s"],"data":[[1,"a"],[2,"b"],[3,"c"]]}'
    )
    assert ours["tree"]["empty/"] == "empty dir"
    assert ours["tree"]["a.txt"]["mode"] == "0o640" and ours["mtime_kept"] == 1_600_000_000
