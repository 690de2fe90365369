"""MLflow interop in both directions, with real servers on loopback and the real ``mlflow`` package.

One workload (``scenario.py``, written against MLflow's API) runs four ways:

- the official client against ``mlflow server`` (the reference),
- the official client against ``asynctrack server``,
- asynctrack imported as ``mlflow`` against ``mlflow server``,
- asynctrack imported as ``mlflow`` against ``asynctrack server``;

each run's answers, and everything the server holds afterwards as read back by the official client
(``dump.py``), must equal the reference field by field (ids and times aside).

The one difference we keep on purpose: MLflow's SQL store saves +-infinity as +-1.7976931348623157e308 (the
largest double), asynctrack stores infinities as they are. The comparison reads both as infinity.
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

# Every test here starts official mlflow servers or runs mlflow's client (~20 s on 2 cores).
pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
_MAX = 1.7976931348623157e308


@pytest.fixture(scope="module")
def mlflow_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(mlflow_server(tmp_path_factory.mktemp("mlflow-server"))) as server:
        yield server


def _normalize(value: Any) -> Any:
    if isinstance(value, float) and abs(value) == _MAX:
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    return value


def _scenario(client: str, url: str, prefix: str, out: Path) -> dict[str, Any]:
    python = str(mlflow_python()) if client == "mlflow" else sys.executable
    done = subprocess.run(
        [python, str(HERE / "scenario.py"), client, url, prefix, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return _normalize(json.loads(out.read_text()))  # type: ignore[no-any-return]


def _dump(url: str, prefix: str, out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(mlflow_python()), str(HERE / "dump.py"), url, prefix, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=HERE,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return _normalize(json.loads(out.read_text()))  # type: ignore[no-any-return]


def _assert_same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert sorted(actual) == sorted(expected)
    for key in expected:  # key by key, so a failure names the field
        assert actual[key] == expected[key], key


@pytest.fixture(scope="module")
def reference(
    mlflow_srv: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("reference")
    answers = _scenario("mlflow", mlflow_srv.url, "ref", tmp / "answers.json")
    return answers, _dump(mlflow_srv.url, "ref", tmp / "dump.json")


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
def test_same_answers_and_same_data_as_mlflow(
    client: str,
    server: str,
    reference: tuple[dict[str, Any], dict[str, Any]],
    mlflow_srv: ServerProcess,
    asynctrack_on: Callable[[str], ServerProcess],
    tmp_path: Path,
) -> None:
    url = mlflow_srv.url if server == "mlflow" else asynctrack_on(server.split("-")[1]).url
    prefix = f"{client}-on-{server}"
    expected_answers, expected_dump = reference
    answers = _scenario(client, url, prefix, tmp_path / "answers.json")
    _assert_same(answers, expected_answers)
    _assert_same(_dump(url, prefix, tmp_path / "dump.json"), expected_dump)
    # The workload is not trivial: it checks itself against known values too.
    assert expected_answers["error_param_relogged"] == "INVALID_PARAMETER_VALUE"
    assert expected_answers["error_unknown_run"] == "RESOURCE_DOES_NOT_EXIST"
    assert len(expected_answers["history:child:acc"]) == 200
    assert expected_dump["exp:-a"]["runs"]["batch"]["history"]["m"][999] == ["m", 499.5, 999]
