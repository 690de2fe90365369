"""Hypothesis against the endpoints added for MLflow's own REST tests (artifacts/list, /get-artifact,
upload-artifact, get-history-bulk, search-datasets, log-inputs) on a real server: every answer is a success
or MLflow's error JSON with a known code, never a 500, and nothing appears outside the artifacts
destination."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import make_server, new_experiment, new_run
from servers import ServerProcess, running

KNOWN_CODES = {
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_DOES_NOT_EXIST",
    "BAD_REQUEST",
    "ENDPOINT_NOT_FOUND",
    "PERMISSION_DENIED",
}

_paths = st.one_of(
    st.sampled_from(
        [
            "",
            "a.txt",
            "d/e.txt",
            "../x",
            "..",
            "/etc/passwd",
            "%2e%2e/x",
            "a/%2F../b",
            "x\\y",
            "a#b",
            "C:x",
            ".",
        ]
    ),
    st.text(max_size=20),
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=12), _paths)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("fuzz-new")
    dest = tmp / "box" / "dest"
    dest.mkdir(parents=True)
    with running(make_server(tmp, extra=["--serve-artifacts", "--artifacts-destination", str(dest)])) as srv:
        yield srv, dest


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        return
    data = response.json()
    assert data["error_code"] in KNOWN_CODES, data
    assert "Traceback" not in data["message"]


@pytest.mark.slow  # 250 generated requests (~10 s)
def test_fuzzed_requests_to_new_endpoints(served: tuple[ServerProcess, Path]) -> None:
    server, dest = served
    with httpx.Client(base_url=server.url, timeout=30) as client:
        eid = new_experiment(client)
        run_id = new_run(client, eid)
        ids = st.one_of(st.sampled_from([run_id, eid, "0", "nope", "0" * 32]), _scalars)
        outside = dest.parent
        before = _files(outside) - {p for p in _files(outside) if p.startswith("dest")}

        @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            which=st.integers(0, 5),
            run=ids,
            path=_paths,
            extra=st.dictionaries(
                st.sampled_from(["max_results", "page_token", "metric_key", "run_uuid"]), _scalars
            ),
            body=_json,
            data=st.binary(max_size=64),
            datasets=st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "dataset": st.one_of(
                            _json,
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    k: _scalars for k in ("name", "digest", "source_type", "source", "schema")
                                },
                            ),
                        ),
                        "tags": st.lists(
                            st.fixed_dictionaries({}, optional={"key": _scalars, "value": _scalars})
                        ),
                    },
                ),
                max_size=3,
            ),
        )
        def one(
            which: int, run: Any, path: str, extra: dict[str, Any], body: Any, data: bytes, datasets: Any
        ) -> None:
            params = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in extra.items()}
            run_text = run if isinstance(run, str) else json.dumps(run)
            if which == 0:
                r = client.get(
                    "/api/2.0/mlflow/artifacts/list", params={"run_id": run_text, "path": path, **params}
                )
            elif which == 1:
                r = client.get("/get-artifact", params={"run_id": run_text, "path": path, **params})
            elif which == 2:
                r = client.post(
                    "/ajax-api/2.0/mlflow/upload-artifact",
                    params={"run_uuid": run_text, "path": path},
                    content=data,
                    headers={"Content-Type": "application/octet-stream"},
                )
            elif which == 3:
                r = client.get(
                    "/ajax-api/2.0/mlflow/metrics/get-history-bulk",
                    params={"run_id": [run_text, run_id], **params},
                )
            elif which == 4:
                payload = body if isinstance(body, dict) else {"experiment_ids": body}
                r = client.post("/ajax-api/2.0/mlflow/experiments/search-datasets", json=payload)
            else:
                r = client.post("/api/2.0/mlflow/runs/log-inputs", json={"run_id": run, "datasets": datasets})
            _check(r)

        one()
        after = _files(outside) - {p for p in _files(outside) if p.startswith("dest")}
        assert after == before
        assert client.get("/health").text == "OK"
