"""A run's logged-model inputs and outputs on ``asynctrack server`` (embedded store and PostgreSQL): the
``models`` of log-inputs and ``POST /runs/outputs`` with MLflow 3.17.2's JSON and error codes under both
prefixes, the run's JSON (``inputs.model_inputs``, ``outputs.model_outputs``), asynctrack's REST store
against them, and a fuzz that never sees a 500. (The official client against both servers, answer for
answer: tests/interop/test_logged_models_interop.py.)"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import new_experiment, new_run
from servers import ServerProcess

from asynctrack import MlflowClient
from asynctrack._rest._messages import AJAX_PREFIX, API_PREFIX
from asynctrack.entities import LoggedModelInput, LoggedModelOutput
from asynctrack.exceptions import MlflowException

KNOWN_CODES = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "BAD_REQUEST"}


def _post(c: httpx.Client, path: str, body: Any, prefix: str = API_PREFIX) -> httpx.Response:
    return c.post(prefix + path, json=body)


def _run(c: httpx.Client, run_id: str) -> Any:
    r = c.get(API_PREFIX + "/runs/get", params={"run_id": run_id})
    assert r.status_code == 200, r.text
    return r.json()["run"]


def test_links_over_http_under_both_prefixes(client: httpx.Client) -> None:
    eid = new_experiment(client)
    rid = new_run(client, eid)
    mid = client.post(API_PREFIX + "/logged-models", json={"experiment_id": eid}).json()["model"]["info"][
        "model_id"
    ]
    for prefix in (API_PREFIX, AJAX_PREFIX):
        r = _post(client, "/runs/log-inputs", {"run_id": rid, "models": [{"model_id": mid}]}, prefix)
        assert (r.status_code, r.json()) == (200, {})
    r = _post(client, "/runs/outputs", {"run_id": rid, "models": [{"model_id": mid, "step": "3"}]})
    assert (r.status_code, r.json()) == (200, {})
    run = _run(client, rid)
    assert run["inputs"]["model_inputs"] == [{"model_id": mid}]
    assert run["outputs"] == {"model_outputs": [{"model_id": mid, "step": 3}]}
    found = client.post(API_PREFIX + "/runs/search", json={"experiment_ids": [eid]}).json()["runs"]
    assert [x["outputs"] for x in found] == [{"model_outputs": [{"model_id": mid, "step": 3}]}]
    assert "model_inputs" not in found[0]["inputs"]  # as MLflow's search_runs
    fresh = _run(client, new_run(client, eid))
    assert fresh["outputs"] == {} and "model_inputs" not in fresh["inputs"]


def test_errors_have_mlflows_codes(client: httpx.Client) -> None:
    """The codes checked against ``mlflow server`` 3.17.2 in the interop workload, plus a model without
    its id (refused here)."""
    eid = new_experiment(client)
    rid = new_run(client, eid)
    gone = new_run(client, eid)
    assert client.post(API_PREFIX + "/runs/delete", json={"run_id": gone}).status_code == 200
    missing = "0123456789abcdef0123456789abcdef"
    one = [{"model_id": "m-1", "step": 1}]
    assert _post(client, "/runs/outputs", {"run_id": rid, "models": one}).status_code == 200
    cases = {
        "twice": ({"run_id": rid, "models": one}, 400, "BAD_REQUEST"),
        "no models": ({"run_id": rid}, 400, "INVALID_PARAMETER_VALUE"),
        "no run": ({"models": one}, 400, "INVALID_PARAMETER_VALUE"),
        "missing run": ({"run_id": missing, "models": one}, 404, "RESOURCE_DOES_NOT_EXIST"),
        "deleted run": ({"run_id": gone, "models": one}, 400, "INVALID_PARAMETER_VALUE"),
        "no model id": ({"run_id": rid, "models": [{"step": 1}]}, 400, "INVALID_PARAMETER_VALUE"),
        "bad step": (
            {"run_id": rid, "models": [{"model_id": "m-2", "step": "x"}]},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
    }
    for name, (body, status, code) in cases.items():
        r = _post(client, "/runs/outputs", body)
        assert (r.status_code, r.json()["error_code"]) == (status, code), (name, r.text)
    for name, (body, status, code) in {
        "missing run": ({"run_id": missing, "models": [{"model_id": "m-1"}]}, 404, "RESOURCE_DOES_NOT_EXIST"),
        "deleted run": ({"run_id": gone, "models": [{"model_id": "m-1"}]}, 400, "INVALID_PARAMETER_VALUE"),
        "no model id": ({"run_id": rid, "models": [{}]}, 400, "INVALID_PARAMETER_VALUE"),
    }.items():
        r = _post(client, "/runs/log-inputs", body)
        assert (r.status_code, r.json()["error_code"]) == (status, code), (name, r.text)
    assert _run(client, rid)["outputs"] == {"model_outputs": [{"model_id": "m-1", "step": 1}]}


def test_rest_store_round_trip(server: ServerProcess) -> None:
    """asynctrack's MlflowClient over REST: log_inputs(models=...), log_outputs, get_run, search_runs."""
    c = MlflowClient(server.url)
    eid = c.create_experiment(f"links-{uuid.uuid4().hex}")
    run = c.create_run(eid)
    rid = run.info.run_id
    a, b = c.create_logged_model(eid, name="a"), c.create_logged_model(eid, name="b")
    c.log_inputs(rid, models=[LoggedModelInput(a.model_id), LoggedModelInput(b.model_id)])
    c.log_outputs(rid, [LoggedModelOutput(b.model_id, 4)])
    got = c.get_run(rid)
    assert got.inputs.model_inputs == [LoggedModelInput(a.model_id), LoggedModelInput(b.model_id)]
    assert got.outputs.model_outputs == [LoggedModelOutput(b.model_id, 4)]
    (found,) = c.search_runs([eid])
    assert (
        found.outputs.model_outputs == [LoggedModelOutput(b.model_id, 4)] and found.inputs.model_inputs == []
    )
    try:
        c.log_outputs(rid, [LoggedModelOutput(b.model_id, 5)])
    except MlflowException as exc:
        assert exc.error_code == "BAD_REQUEST"
    else:
        raise AssertionError("a second output of the same model was accepted")


_text = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)


@pytest.mark.slow
def test_fuzzed_link_requests_never_fail_internally(client: httpx.Client) -> None:
    rid = new_run(client)
    model = st.fixed_dictionaries({}, optional={"model_id": _text, "step": _text})
    body = st.fixed_dictionaries(
        {},
        optional={
            "run_id": st.one_of(st.just(rid), _text),
            "models": st.one_of(st.lists(st.one_of(model, _text), max_size=4), _text),
        },
    )

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(path=st.sampled_from(["/runs/outputs", "/runs/log-inputs"]), payload=body)
    def check(path: str, payload: Any) -> None:
        r = client.post(API_PREFIX + path, json=payload)
        assert r.status_code < 500, (path, payload, r.text)
        if r.status_code != 200:
            assert r.json()["error_code"] in KNOWN_CODES, (path, payload, r.text)

    check()
