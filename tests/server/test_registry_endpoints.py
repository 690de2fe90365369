"""The registry's REST endpoints on a real ``asynctrack server``: MLflow's methods and prefixes, the
checks on a new version's source (no registering files a run does not vouch for), and a Hypothesis fuzz
of every registry endpoint that must never see an internal error."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import call, new_experiment, new_run
from servers import ServerProcess

from asynctrack._rest._messages import AJAX_PREFIX, API_PREFIX
from asynctrack.server._registry import REGISTRY_ENDPOINTS

KNOWN_CODES = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "BAD_REQUEST"}


def _send(
    client: httpx.Client, method: str, path: str, body: Any, prefix: str = API_PREFIX
) -> httpx.Response:
    if method == "GET":
        params = [
            (k, x if isinstance(x, str) else json.dumps(x))
            for k, v in body.items()
            for x in (v if isinstance(v, list) else [v])
        ]
        return client.get(prefix + path, params=params)
    return client.request(method, prefix + path, json=body)


@pytest.fixture
def registry(client: httpx.Client) -> httpx.Client:
    """The client, for a server whose backend store has a registry (both stores have)."""
    return client


def _model(client: httpx.Client) -> str:
    name = f"model-{uuid.uuid4().hex[:8]}"
    call(client, "POST", "/registered-models/create", {"name": name})
    return name


def test_methods_and_prefixes_are_mlflows(registry: httpx.Client) -> None:
    name = _model(registry)
    run_id = new_run(registry)
    created = _send(
        registry,
        "POST",
        "/model-versions/create",
        {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id},
        AJAX_PREFIX,
    )
    assert created.status_code == 200, created.text
    assert created.json()["model_version"]["version"] == "1"
    patched = _send(
        registry, "PATCH", "/model-versions/update", {"name": name, "version": "1", "description": "d"}
    )
    assert patched.json()["model_version"]["description"] == "d"
    assert _send(
        registry, "POST", "/registered-models/alias", {"name": name, "alias": "a", "version": "1"}
    ).is_success
    got = _send(registry, "GET", "/registered-models/alias", {"name": name, "alias": "a"})
    assert got.json()["model_version"]["aliases"] == ["a"]
    assert _send(registry, "DELETE", "/registered-models/alias", {"name": name, "alias": "a"}).is_success
    wrong = registry.post(API_PREFIX + "/model-versions/update", json={"name": name, "version": "1"})
    assert wrong.status_code == 405
    assert _send(registry, "DELETE", "/registered-models/delete", {"name": name}).is_success
    gone = _send(registry, "GET", "/registered-models/get", {"name": name})
    assert (gone.status_code, gone.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(
    "source",
    [
        "/etc",  # a local path outside the run's artifact directory
        "file:///etc/passwd",
        "{root}/../../..",  # climbing out of it
        "runs:/{other}/model",  # another run's files
        "runs://host/{run}/model",
        "mlflow-artifacts:/0/{other}/artifacts/model",
        "s3://bucket/a/%2E%2E/%2e%2e/secret",  # encoded '..'
        "models://remote/m/1",
    ],
)
def test_sources_a_run_does_not_vouch_for_are_refused(registry: httpx.Client, source: str) -> None:
    experiment = new_experiment(registry)
    run_id, other = new_run(registry, experiment), new_run(registry, experiment)
    root = call(registry, "GET", "/runs/get", run_id=run_id)["run"]["info"]["artifact_uri"]
    name = _model(registry)
    body = {"name": name, "source": source.format(root=root, run=run_id, other=other), "run_id": run_id}
    response = _send(registry, "POST", "/model-versions/create", body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Invalid model version source" in response.json()["message"]
    assert _send(registry, "GET", "/model-versions/search", {"filter": f"name = '{name}'"}).json() == {}


def test_sources_inside_the_run_are_accepted(registry: httpx.Client) -> None:
    run_id = new_run(registry)
    root = call(registry, "GET", "/runs/get", run_id=run_id)["run"]["info"]["artifact_uri"]
    name = _model(registry)
    for source in (f"{root}/model", f"runs:/{run_id}/model", "s3://bucket/models/m"):
        body = {"name": name, "source": source, "run_id": run_id}
        assert _send(registry, "POST", "/model-versions/create", body).status_code == 200, source


def test_a_tag_without_a_value_is_the_empty_string(registry: httpx.Client) -> None:
    """MLflow's client leaves an empty value out of the JSON; MLflow's handlers read it as "" (MLflow's own
    test_set_registered_model_tag_with_empty_string_as_value and its model-version twin)."""
    name = _model(registry)
    assert (
        _send(registry, "POST", "/registered-models/set-tag", {"name": name, "key": "k"}).status_code == 200
    )
    body = {"name": name, "source": "s3://bucket/m"}
    assert _send(registry, "POST", "/model-versions/create", body).status_code == 200
    tag = {"name": name, "version": "1", "key": "k"}
    assert _send(registry, "POST", "/model-versions/set-tag", tag).status_code == 200
    assert call(registry, "GET", "/registered-models/get", name=name)["registered_model"]["tags"] == [
        {"key": "k", "value": ""}
    ]
    version = call(registry, "GET", "/model-versions/get", name=name, version="1")["model_version"]
    assert version["tags"] == [{"key": "k", "value": ""}]


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["", "1", "-1", "0", "99999999999999999999999", "latest", "None", "Production", "x" * 300]
    ),
    st.sampled_from(
        ["name = 'a'", "tags.x LIKE '%'", "version_number > 1", "name IN ('a', 'b')", "run_id ="]
    ),
    st.sampled_from(["runs:/abc/model", "models:/m/1", "models:/m@champ", "/tmp", "s3://b/../x", "a b"]),
    st.text(max_size=12),
)
_FIELDS = sorted({name for _, _, msg, _ in REGISTRY_ENDPOINTS for name in msg.__struct_fields__})


@st.composite
def _requests(draw: st.DrawFn, names: list[str]) -> tuple[str, str, dict[str, Any]]:
    path, methods, _, _ = draw(st.sampled_from(REGISTRY_ENDPOINTS))
    method = draw(st.sampled_from(methods))
    value = st.one_of(
        _scalars,
        st.sampled_from(names),
        st.lists(_scalars, max_size=3),
        st.lists(st.fixed_dictionaries({}, optional={"key": _scalars, "value": _scalars}), max_size=3),
    )
    body = draw(st.dictionaries(st.sampled_from(_FIELDS), value, max_size=5))
    if draw(st.booleans()):
        body["name"] = draw(st.sampled_from(names))
    return method, path, body


@pytest.mark.slow  # 400 generated requests per store (~6-15 s)
def test_fuzzed_registry_requests_never_fail_internally(
    registry: httpx.Client, server: ServerProcess
) -> None:
    """400 generated requests over every registry endpoint, against models that exist (with versions,
    tags and an alias) and ones that do not: every answer is a success or MLflow's error JSON, never 500."""
    run_id = new_run(registry)
    names = [_model(registry) for _ in range(2)] + ["missing-model"]
    for name in names[:2]:
        for _ in range(2):
            body = {
                "name": name,
                "source": f"runs:/{run_id}/model",
                "run_id": run_id,
                "tags": [{"key": "k", "value": "v"}],
            }
            call(registry, "POST", "/model-versions/create", body)
        _send(registry, "POST", "/registered-models/alias", {"name": name, "alias": "champ", "version": "1"})

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(request=_requests(names))
    def run(request: tuple[str, str, dict[str, Any]]) -> None:
        method, path, body = request
        response = _send(registry, method, path, body)
        assert response.headers["content-type"] == "application/json", response.text
        data = response.json()
        if response.status_code == 200:
            assert "error_code" not in data
            return
        assert response.status_code < 500, data
        assert data["error_code"] in KNOWN_CODES, data
        assert "Traceback" not in data["message"]

    run()
    assert registry.get("/health").text == "OK"
