"""Fuzzing a real server with Hypothesis-generated requests: every answer is a success or MLflow's error
JSON with a known code, never an internal error, and the server keeps serving."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import new_experiment, new_run
from servers import ServerProcess

from asynctrack._rest._messages import API_PREFIX
from asynctrack.server._routes import ENDPOINTS

KNOWN_CODES = {
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_DOES_NOT_EXIST",
    "RESOURCE_ALREADY_EXISTS",
    "BAD_REQUEST",
    "ENDPOINT_NOT_FOUND",
    "INVALID_STATE",
}

# Values a field may take: every JSON type, edge numbers, keys that are nearly valid, ids that exist.
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["", "NaN", "Infinity", "-Infinity", "1", "-1", "1.5", "abc", "../x", "a/./b", "x" * 300]
    ),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = sorted(
    {name for _, _, msg, _ in ENDPOINTS for name in msg.__struct_fields__}
    | {"key", "value", "timestamp", "step", "dataset", "name", "digest"}
)


def _metric_like() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "key": st.one_of(st.sampled_from(["m", "a b", "../m"]), _scalars),
            "value": _scalars,
            "timestamp": _scalars,
            "step": _scalars,
        },
    )


@st.composite
def _requests(draw: st.DrawFn, ids: dict[str, str]) -> tuple[str, str, Any]:
    path, methods, _, _ = draw(st.sampled_from(ENDPOINTS))
    method = draw(st.sampled_from(methods + ("POST",) if draw(st.integers(0, 9)) == 0 else methods))
    id_values = st.sampled_from([ids["run_id"], ids["experiment_id"], "0", "nope", "12345678901234567890"])
    body = draw(
        st.dictionaries(
            st.sampled_from(_FIELDS),
            st.one_of(
                id_values,
                _values,
                st.lists(_metric_like(), max_size=5),
                st.lists(
                    st.fixed_dictionaries({}, optional={"key": _scalars, "value": _scalars}), max_size=4
                ),
            ),
            max_size=6,
        )
    )
    return method, API_PREFIX + path, body


def _send(client: httpx.Client, method: str, path: str, body: Any, raw: bytes | None) -> httpx.Response:
    if method == "GET":
        params = {k: (v if isinstance(v, list) else [v]) for k, v in body.items()}
        flat = [(k, json.dumps(x) if not isinstance(x, str) else x) for k, vs in params.items() for x in vs]
        return client.get(path, params=flat)
    content = raw if raw is not None else json.dumps(body).encode()
    return client.request(method, path, content=content, headers={"content-type": "application/json"})


def _check(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "application/json", response.text
    data = response.json()
    if response.status_code == 200:
        assert isinstance(data, dict) and "error_code" not in data
        return
    assert data["error_code"] in KNOWN_CODES, data
    assert isinstance(data["message"], str) and "Traceback" not in data["message"]
    # MLflow's status for INVALID_STATE (renaming a deleted experiment) is 500; nothing else may be.
    assert response.status_code < 500 or data["error_code"] == "INVALID_STATE", data


@pytest.mark.slow  # 300 generated requests per store (~10 s)
def test_fuzzed_requests_never_fail_internally(server: ServerProcess) -> None:
    """300 generated requests over every endpoint: JSON bodies of random shape and type (with real and
    unknown ids mixed in), random query strings, wrong methods and non-JSON bytes."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        eid = new_experiment(client)
        ids = {"experiment_id": eid, "run_id": new_run(client, eid)}

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            request=_requests(ids), raw=st.one_of(st.none(), st.binary(max_size=40)), mangle=st.integers(0, 9)
        )
        def run(request: tuple[str, str, Any], raw: bytes | None, mangle: int) -> None:
            method, path, body = request
            if mangle == 0 and method != "GET":  # JSON with NaN literals, which is not JSON
                raw = json.dumps({**body, "value": math.nan}).encode()
            elif mangle != 1:
                raw = None
            _check(_send(client, method, path, body, raw))

        run()
        assert client.get("/health").text == "OK"
