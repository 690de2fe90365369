"""The model registry four ways, as the tracking interop (``test_interop.py``): the official client and
asynctrack, each against ``mlflow server`` 3.17.2 and ``asynctrack server``; every answer of
``registry_scenario.py`` (models, versions, stages, aliases, tags, both searches with paging, ``models:/``
downloads, and MLflow's error codes and messages) must equal the reference (official client on MLflow)
field by field, times aside.

Differences kept on purpose, so left out of the workload: where MLflow's server answers 500 (and its
client then retries for minutes) asynctrack answers 400 INVALID_PARAMETER_VALUE: ``tags.x IS NULL`` in a
version search, and ``archive_existing_versions`` with a stage that is not Staging or Production.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import ServerProcess, mlflow_python, mlflow_server, running

# Every test here starts official mlflow servers (~20 s on 2 cores).
pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def mlflow_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(mlflow_server(tmp_path_factory.mktemp("mlflow-registry"))) as server:
        yield server


def _scenario(client: str, url: str, prefix: str, out: Path) -> dict[str, Any]:
    python = str(mlflow_python()) if client == "mlflow" else sys.executable
    done = subprocess.run(
        [python, str(HERE / "registry_scenario.py"), client, url, prefix, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def reference(mlflow_srv: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("registry-ref") / "answers.json"
    return _scenario("mlflow", mlflow_srv.url, "zqref", out)


@pytest.mark.parametrize(
    ("client", "server"),
    [
        ("mlflow", "asynctrack-sqlite"),
        ("mlflow", "asynctrack-postgres"),
        ("asynctrack", "mlflow"),
        ("asynctrack", "asynctrack-sqlite"),
        ("asynctrack", "asynctrack-postgres"),
    ],
)
def test_registry_answers_equal_mlflow(
    client: str,
    server: str,
    reference: dict[str, Any],
    mlflow_srv: ServerProcess,
    asynctrack_on: Callable[[str], ServerProcess],
    tmp_path: Path,
) -> None:
    url = mlflow_srv.url if server == "mlflow" else asynctrack_on(server.split("-")[1]).url
    answers = _scenario(client, url, f"{client}-on-{server}", tmp_path / "answers.json")
    assert sorted(answers) == sorted(reference)
    for key in reference:  # key by key, so a failure names the answer
        assert answers[key] == reference[key], key
    # The workload checks itself against known values too, so an empty or all-error reference fails.
    assert reference["error:duplicate model"][0] == "RESOURCE_ALREADY_EXISTS"
    assert reference["error:missing version"][0] == "RESOURCE_DOES_NOT_EXIST"
    assert reference["error:reserved alias"][0] == "INVALID_PARAMETER_VALUE"
    assert reference["by_alias"]["version"] == "3"
    assert reference["download:alias"] == [["MLmodel", "weights.txt"], "weights 0"]
    assert [v["version"] for v in reference["final_versions"]] == ["1", "3", "4"]
