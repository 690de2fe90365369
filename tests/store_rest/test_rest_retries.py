"""Retries, outages, error mapping and authentication, against small real HTTP servers whose answers each
test scripts (uvicorn on a loopback port)."""

from __future__ import annotations

import base64
import json
import logging
import re
import time

import msgspec
import numpy as np
import pytest
from rest_scripted import Reply, Scripted, serve
from servers import free_port

from asynctrack import MlflowClient
from asynctrack.entities import Param, RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.pipeline import close_pipelines
from asynctrack.store import MetricSeries, StoreUnavailable
from asynctrack.store.rest import HttpConfig, RestStore

pytestmark = pytest.mark.anyio

RUN_ID = "a" * 32
RUN_JSON = json.dumps(
    {"run": {"info": {"run_id": RUN_ID, "experiment_id": "0", "status": "RUNNING"}, "data": {}}}
).encode()


def unavailable(retry_after: str | None = None, status: int = 503) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = json.dumps({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}).encode()
    return Reply(status, body, headers)


def points(seen) -> list[dict]:
    return [m for s in seen for m in json.loads(s.body).get("metrics", [])]


def retry_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The delays the retry loop chose, in order, from its log lines ("retry N of M in D s")."""
    found = (_RETRY_LINE.search(r.getMessage()) for r in caplog.records if r.name == "asynctrack")
    return [float(m.group(1)) for m in found if m is not None]


_RETRY_LINE = re.compile(r"retry \d+ of \d+ in ([\d.]+) s")


@pytest.mark.slow
async def test_503_and_429_retried_honouring_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    """Two answers asking to come back in 1 s (503, then 429) are waited out, then the call succeeds."""
    caplog.set_level(logging.DEBUG, logger="asynctrack")
    app = Scripted([unavailable("1"), unavailable("1", 429)], Reply(200, RUN_JSON))
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            run = await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    assert run.info.run_id == RUN_ID
    assert len(app.requests) == 3
    assert retry_delays(caplog) == [1.0, 1.0]  # Retry-After, not the back-off (which starts at 0)
    gaps = np.diff(app.times)
    assert (gaps >= 0.95).all(), gaps  # and the waits really happened


async def test_retry_after_can_be_ignored(monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    """MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER=false: the back-off applies instead of the server's 30 s
    (urllib3's first retry is immediate)."""
    caplog.set_level(logging.DEBUG, logger="asynctrack")
    monkeypatch.setenv("MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER", "false")
    app = Scripted([unavailable("30")], Reply(200, RUN_JSON))
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    assert retry_delays(caplog) == [0.0]


@pytest.mark.slow
async def test_5xx_backoff_grows_exponentially(caplog: pytest.LogCaptureFixture) -> None:
    """Without Retry-After: the first retry at once, then factor * 2**(n-1) s (MLflow's urllib3 schedule).

    The schedule is read from the retry loop's own log lines, exactly; the server's clock only shows that
    each wait lasted at least that long (an upper bound would fail on a loaded machine)."""
    caplog.set_level(logging.DEBUG, logger="asynctrack")
    config = HttpConfig(max_retries=3, backoff_factor=0.1, backoff_jitter=0.0)
    app = Scripted([Reply(500, b"oops"), Reply(502, b""), Reply(504, b"")], Reply(200, RUN_JSON))
    with serve(app) as url:
        store = await RestStore.open(url, config)
        try:
            await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    gaps = np.diff(app.times)
    assert len(gaps) == 3
    assert retry_delays(caplog) == [0.0, 0.2, 0.4]
    assert gaps[1] >= 0.19 and gaps[2] >= 0.39, gaps


async def test_retries_exhausted_raise_store_unavailable_naming_the_url():
    """After MLFLOW_HTTP_REQUEST_MAX_RETRIES (2 here) retries: StoreUnavailable naming the URL and reason."""
    app = Scripted(default=unavailable())
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            with pytest.raises(StoreUnavailable) as ei:
                await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    assert len(app.requests) == 3
    err = ei.value
    assert err.error_code == "TEMPORARILY_UNAVAILABLE"
    assert f"{url}/api/2.0/mlflow/runs/get" in err.message
    assert "after 2 retries" in err.message and "HTTP 503" in err.message and "busy" in err.message


async def test_unreachable_server_is_a_clear_error_after_retries():
    """Nothing listens: connection refused is retried, then reported as an MlflowException naming the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    store = await RestStore.open(url)
    try:
        with pytest.raises(MlflowException) as ei:
            await store.get_experiment("0")
    finally:
        await store.aclose()
    assert ei.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert f"API request to {url}/api/2.0/mlflow/experiments/get failed after 2 retries" in ei.value.message
    assert "ConnectError" in ei.value.message


@pytest.mark.slow
async def test_read_timeout_is_retried_and_named(monkeypatch):
    """A server slower than MLFLOW_HTTP_REQUEST_TIMEOUT: each attempt times out; the error says which knob."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "0.2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    app = Scripted(default=Reply(200, RUN_JSON, delay=1.0))
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            with pytest.raises(StoreUnavailable, match="MLFLOW_HTTP_REQUEST_TIMEOUT"):
                await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    assert len(app.requests) == 2


async def test_client_errors_are_permanent_and_keep_mlflow_codes():
    """A 4xx is not retried: MLflow's error JSON gives code and message; a bare 404 is ENDPOINT_NOT_FOUND."""
    body = json.dumps(
        {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": "bad key",
            "error_class": "INVALID_PARAMETER_VALUE",
        }
    ).encode()
    app = Scripted([Reply(400, body), Reply(404, b"<html>no such page</html>"), Reply(401, b"")])
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            with pytest.raises(MlflowException) as e1:
                await store.get_run(RUN_ID)
            with pytest.raises(MlflowException) as e2:
                await store.get_run(RUN_ID)
            with pytest.raises(MlflowException) as e3:
                await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    assert len(app.requests) == 3
    assert (e1.value.error_code, e1.value.message, e1.value.sqlstate) == (
        "INVALID_PARAMETER_VALUE",
        "bad key",
        "KAM00",
    )
    assert not isinstance(e1.value, StoreUnavailable)
    assert e2.value.error_code == "ENDPOINT_NOT_FOUND" and "no such page" in e2.value.message
    assert url in e2.value.message
    assert e3.value.error_code == "UNAUTHENTICATED"


async def test_malformed_success_body_is_an_error():
    app = Scripted(default=Reply(200, b"<html>not the API</html>"))
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            with pytest.raises(MlflowException, match="not MLflow's JSON"):
                await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    assert len(app.requests) == 1


async def test_log_batch_wire_format():
    """One POST to runs/log-batch: JSON content type, MLflow's shapes, non-finite values as protobuf's
    strings, every field of every point present (MLflow requires value and timestamp even when 0)."""
    app = Scripted()
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            values = np.array([0.0, float("nan"), float("inf"), float("-inf"), -0.0, 2.5])
            s = MetricSeries("m/x", values, np.zeros(6, np.int64), np.arange(6, dtype=np.int64))
            await store.log_batch(RUN_ID, [s], [Param("p", "1")], [RunTag("t", "")])
        finally:
            await store.aclose()
    (req,) = app.requests
    assert (req.method, req.path) == ("POST", "/api/2.0/mlflow/runs/log-batch")
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"].startswith("asynctrack/")
    body = json.loads(req.body)
    assert body["run_id"] == RUN_ID
    assert body["params"] == [{"key": "p", "value": "1"}] and body["tags"] == [{"key": "t", "value": ""}]
    assert [m["value"] for m in body["metrics"]] == [0.0, "NaN", "Infinity", "-Infinity", -0.0, 2.5]
    assert body["metrics"][0] == {"key": "m/x", "value": 0.0, "timestamp": 0, "step": 0}
    assert b'"value":-0.0' in req.body


async def test_basic_auth_header(monkeypatch):
    """MLFLOW_TRACKING_USERNAME/PASSWORD send HTTP basic auth, and win over a token, as in MLflow."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret:é")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "ignored")
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    expected = "Basic " + base64.standard_b64encode("alice:s3cret:é".encode()).decode()
    assert app.requests[0].headers["authorization"] == expected


async def test_bearer_token_header(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123")
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            await store.get_run(RUN_ID)
            await store.log_batch(RUN_ID, [], [Param("a", "b")], [])
        finally:
            await store.aclose()
    assert [r.headers["authorization"] for r in app.requests] == ["Bearer tok-123"] * 2


async def test_no_auth_header_without_credentials():
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    assert "authorization" not in app.requests[0].headers


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_connections_are_kept_alive(anyio_backend):
    """Twenty sequential calls reuse one pooled connection (on asyncio and trio: the store is anyio code)."""
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app) as url:
        store = await RestStore.open(url)
        try:
            for _ in range(20):
                await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    assert len({r.client_port for r in app.requests}) == 1
    assert {r.http_version for r in app.requests} == {"1.1"}


async def test_base_path_is_kept():
    """A tracking URI with a path (a server behind a reverse proxy prefix) prefixes every endpoint."""
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app) as url:
        store = await RestStore.open(url + "/mlflow/")
        try:
            await store.get_run(RUN_ID)
        finally:
            await store.aclose()
    assert app.requests[0].path == "/mlflow/api/2.0/mlflow/runs/get"
    assert app.requests[0].query == f"run_id={RUN_ID}"


def wait_for_log_line(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 60.0) -> None:
    """Until a record of the ``asynctrack`` logger (any thread's) contains ``text``: an event to wait for,
    with a timeout only for when it never comes."""
    deadline = time.monotonic() + timeout
    while not any(text in r.getMessage() for r in list(caplog.records) if r.name == "asynctrack"):
        assert time.monotonic() < deadline, f"no log line with {text!r} after {timeout} s"
        time.sleep(0.01)


@pytest.mark.slow
def test_pipeline_keeps_logging_through_an_outage(monkeypatch, tmp_path, caplog):
    """The server is down when logging starts, answers 503 for a while after it comes up, then accepts:
    once flush() returns, every point, param and tag the pipeline accepted is at the server, in order."""
    caplog.set_level(logging.DEBUG, logger="asynctrack")
    monkeypatch.chdir(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client = MlflowClient(url)
    n = 2500
    for i in range(n):
        client.log_metric(RUN_ID, "loss", float(i), timestamp=1000 + i, step=i, synchronous=False)
    client.log_param(RUN_ID, "lr", "0.1", synchronous=False)
    client.set_tag(RUN_ID, "phase", "train", synchronous=False)
    # The worker met connection refused (its request's own retries exhausted) and keeps retrying.
    wait_for_log_line(caplog, f"logging to run {RUN_ID}: store unavailable")
    app = Scripted([unavailable(), unavailable(), unavailable(), unavailable()])
    try:
        with serve(app, port=port):
            client.flush(timeout=60)
    finally:
        assert close_pipelines(timeout=5) == []
    batches = [s for s in app.requests if s.path.endswith("/runs/log-batch")]
    accepted = batches[4:]  # the first four were answered 503
    got = points(accepted)
    assert [m["step"] for m in got] == list(range(n))
    assert [m["value"] for m in got] == [float(i) for i in range(n)]
    params = [p for r in accepted for p in json.loads(r.body).get("params", [])]
    tags = [t for r in accepted for t in json.loads(r.body).get("tags", [])]
    assert params == [{"key": "lr", "value": "0.1"}] and tags == [{"key": "phase", "value": "train"}]
    assert all(len(json.loads(r.body).get("metrics", [])) <= 1000 for r in batches)


def test_pipeline_fails_only_the_rejected_operation(monkeypatch, tmp_path):
    """A 400 for the batch holding one bad param fails that param's operation only: the worker splits the
    batch and the good param and the metric around it are written."""
    monkeypatch.chdir(tmp_path)
    rejected = json.dumps(
        {"error_code": "INVALID_PARAMETER_VALUE", "message": "Changing param values"}
    ).encode()
    app = Scripted(respond=lambda seen: Reply(400, rejected) if b'"key":"bad"' in seen.body else None)
    with serve(app) as url:
        client = MlflowClient(url)
        try:
            ok1 = client.log_param(RUN_ID, "good", "1", synchronous=False)
            bad = client.log_param(RUN_ID, "bad", "2", synchronous=False)
            ok2 = client.log_metric(RUN_ID, "m", 1.0, synchronous=False)
            client.flush(timeout=30)
            ok1.wait(5)
            ok2.wait(5)
            with pytest.raises(MlflowException) as ei:
                bad.wait(5)
        finally:
            assert close_pipelines(timeout=5) == []
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    accepted = [msgspec.json.decode(r.body) for r in app.requests if b'"key":"bad"' not in r.body]
    assert [p["key"] for b in accepted for p in b.get("params", [])] == ["good"]
    assert [m["key"] for b in accepted for m in b.get("metrics", [])] == ["m"]
