"""Datasets and the sampled history against the real MLflow 3.17.2 (its package and ``mlflow server``).

- ``datasets_workload.py`` four ways (official client -> mlflow server as the reference, official client ->
  asynctrack server, asynctrack -> mlflow server, asynctrack -> asynctrack server): every answer equal.
- ``asynctrack.data`` datasets against ``mlflow.data``'s for the same data: name, digest, source type,
  source, schema and profile equal, computed by the real package in its own venv.
- get-history-bulk-interval's points for many history sizes and ``max_results``, both servers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from postgres_db import STORE_BACKENDS
from servers import ServerProcess, mlflow_python, mlflow_server

import asynctrack

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def mlflow_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = mlflow_server(tmp_path_factory.mktemp("mlflow-ds"))
    server.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # GenAI jobs: six idle workers otherwise
    server.start()
    try:
        yield server
    finally:
        server.kill()  # its data is thrown away; a graceful stop takes mlflow about 10 s


def _workload(client: str, url: str, prefix: str, out: Path) -> dict[str, Any]:
    python = str(mlflow_python()) if client == "mlflow" else sys.executable
    done = subprocess.run(
        [python, str(HERE / "datasets_workload.py"), client, url, prefix, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())  # type: ignore[no-any-return]


@pytest.mark.slow  # an official mlflow server (~20 s to start on 2 cores) and four workload processes
def test_dataset_inputs_four_ways(
    mlflow_srv: ServerProcess, asynctrack_on: Callable[[str], ServerProcess], tmp_path: Path
) -> None:
    reference = _workload("mlflow", mlflow_srv.url, "ref", tmp_path / "ref.json")
    assert reference["inputs"]["first"] and reference["search"]["datasets.name = 'train'"] == [
        "first",
        "second",
    ]
    ours = {backend: asynctrack_on(backend).url for backend in STORE_BACKENDS}
    for label, client, url in (
        *((f"official client -> asynctrack server on {b}", "mlflow", u) for b, u in ours.items()),
        ("asynctrack -> mlflow server", "asynctrack", mlflow_srv.url),
        *((f"asynctrack -> asynctrack server on {b}", "asynctrack", u) for b, u in ours.items()),
    ):
        got = _workload(client, url, label.replace(" ", "-"), tmp_path / f"{client}-{abs(hash(label))}.json")
        for part in ("inputs", "search", "search_datasets"):
            assert got[part] == reference[part], (label, part)
        for case, (status, body) in reference["errors"].items():
            got_status, got_body = got["errors"][case]
            assert got_status == status, (label, case)
            if status == 200:  # MLflow stores a dataset with absent fields (protobuf's empty strings)
                assert got_body == body, (label, case)
                continue
            assert got_body["error_code"] == body["error_code"], (label, case)
            assert body["message"] in got_body["message"] or got_body["message"] in body["message"], (
                label,
                case,
            )


_DATA_SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    import numpy as np, pandas as pd
    warnings.simplefilter("ignore")
    import {module} as m
    x = np.arange(30, dtype=np.float64).reshape(6, 5)
    x[1, 1] = np.nan
    x[2, 2] = -0.0
    cases = {{
        "np": m.data.from_numpy(x, source="/data/x.npy"),
        "np_targets_named": m.data.from_numpy(x, targets=np.arange(6), source="/d", name="train"),
        "np_dict": m.data.from_numpy({{"b": x.astype(np.float32), "a": np.arange(6, dtype=np.int16)}}, source="s3://b/k"),
        "np_bool_url": m.data.from_numpy(np.array([True, False, True]), source="https://example.com/d.csv"),
        "np_big": m.data.from_numpy(np.arange(25_000, dtype=np.int64).reshape(-1, 5), source="gs://b/k"),
        "np_str": m.data.from_numpy(np.array(["a", "bb", "c"]), source="/s"),
        "pd": m.data.from_pandas(
            pd.DataFrame({{"s": ["a", "b", None], "i": [1, 2, 3], "f": [0.5, np.nan, 1.0],
                          "b": [True, False, True], "i32": np.array([1, 2, 3], np.int32),
                          "f32": np.array([1, 2, 3], np.float32),
                          "dt": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"])}}),
            source="/data/train.csv", targets="i", name="frame"),
        "pd_big": m.data.from_pandas(
            pd.DataFrame({{"v": np.arange(12_000) * 0.5, "w": ["x"] * 12_000}}), source="/b"),
        "pd_file_uri": m.data.from_pandas(pd.DataFrame({{"a": [1, 2], "b": ["x", "y"]}}), source="file:///tmp/a.csv"),
    }}
    json.dump({{k: v.to_dict() for k, v in cases.items()}}, open(sys.argv[1], "w"), indent=1, sort_keys=True)
    """
)


def test_datasets_have_mlflows_fields_and_digests(tmp_path: Path) -> None:
    """The same data through ``mlflow.data`` (the real package) and ``asynctrack.data``: every field equal,
    the digest above all (MLflow's MD5 of pandas' element hashes and the dimensions)."""
    results = {}
    for module, python in (("mlflow", str(mlflow_python())), ("asynctrack", sys.executable)):
        script = tmp_path / f"datasets_with_{module}.py"
        script.write_text(_DATA_SCRIPT.format(module=module))
        done = subprocess.run(
            [python, str(script), str(tmp_path / f"{module}.json")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        results[module] = json.loads((tmp_path / f"{module}.json").read_text())
    assert results["asynctrack"] == results["mlflow"]


def test_numeric_digests_without_pandas_equal_pandas_hashes(tmp_path: Path) -> None:
    """Without pandas, numeric arrays are hashed in numpy by pandas' rule: the same digest either way."""
    from asynctrack.data import _digest

    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(7)
    arrays = [
        rng.normal(size=(50, 3)),
        np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf]),
        rng.integers(-100, 100, size=40).astype(np.int8),
        rng.integers(0, 2**40, size=30).astype(np.uint64),
        np.array([True, False]),
        rng.normal(size=10).astype(np.float32),
    ]
    for array in arrays:
        np.testing.assert_array_equal(_digest._hash_numeric(array), pd.util.hash_array(array))
    with pytest.raises(asynctrack.MlflowException, match="needs pandas"):
        _digest._hash_numeric(np.array(["a"]))


def _log_steps(http: httpx.Client, run_id: str, n: int) -> None:
    for start in range(0, n, 1000):
        metrics = [
            {"key": "m", "value": float(i), "timestamp": 1, "step": i}
            for i in range(start, min(n, start + 1000))
        ]
        response = http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
        assert response.status_code == 200, response.text


def _sampled_steps(
    server: ServerProcess, sizes: list[int], queries: list[tuple[int, int | None, int | None]]
) -> Any:
    out = {}
    with httpx.Client(base_url=server.url, timeout=120) as http:
        experiment = http.post("/api/2.0/mlflow/experiments/create", json={"name": "sampling"}).json()
        for n in sizes:
            run = http.post(
                "/api/2.0/mlflow/runs/create",
                json={"experiment_id": experiment["experiment_id"], "start_time": 1},
            ).json()["run"]["info"]["run_id"]
            _log_steps(http, run, n)
            for max_results, start, end in queries:
                params: dict[str, Any] = {"run_ids": [run], "metric_key": "m", "max_results": max_results}
                if start is not None:
                    params.update(start_step=start, end_step=end)
                got = http.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", params=params)
                assert got.status_code == 200, got.text
                out[f"{n}/{max_results}/{start}/{end}"] = [m["step"] for m in got.json().get("metrics", [])]
    return out


@pytest.mark.slow  # an official mlflow server (~20 s to start on 2 cores)
def test_bulk_interval_sampling_equals_mlflow_3_17_2(
    mlflow_srv: ServerProcess, asynctrack_on: Callable[[str], ServerProcess]
) -> None:
    """MLflow 3.17.2 samples rows into NTILE buckets: 10 steps with max_results=5 give [0, 2, 4, 6, 9];
    the same rule for every size, window and max_results here."""
    sizes = [1, 2, 5, 7, 10, 11, 24, 99, 100, 101, 1003]
    queries = [
        (1, None, None),
        (2, None, None),
        (3, None, None),
        (5, None, None),
        (10, None, None),
        (64, None, None),
    ]
    queries += [(5, 2, 9), (4, 3, 3), (7, 50, 1000)]
    reference = _sampled_steps(mlflow_srv, sizes, queries)
    assert reference["10/5/None/None"] == [0, 2, 4, 6, 9]
    for backend in STORE_BACKENDS:
        assert _sampled_steps(asynctrack_on(backend), sizes, queries) == reference, backend
