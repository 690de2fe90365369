"""TLS and HTTP/2: real TLS servers with certificates from a throwaway CA (trustme), MLflow's TLS variables,
and HTTP/2 negotiated by ALPN with a server that speaks it (hypercorn; uvicorn speaks HTTP/1.1 only)."""

from __future__ import annotations

import json
import logging

import anyio
import pytest
import trustme
from rest_scripted import Reply, Scripted, Tls, serve

from asynctrack.exceptions import MlflowException
from asynctrack.store.rest import RestStore

pytestmark = pytest.mark.anyio

RUN_ID = "b" * 32
RUN_JSON = json.dumps({"run": {"info": {"run_id": RUN_ID, "experiment_id": "0"}, "data": {}}}).encode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, its server certificate for 127.0.0.1, and a client certificate (one PEM, key included)."""
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.com")
    files = {
        "ca": root / "ca.pem",
        "cert": root / "server.pem",
        "key": root / "server.key",
        "client": root / "client.pem",
        "other_ca": root / "other-ca.pem",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["cert"]))
    server.private_key_pem.write_to_path(str(files["key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(files["client"]))
    trustme.CA().cert_pem.write_to_path(str(files["other_ca"]))
    return {k: str(v) for k, v in files.items()}


def server_tls(pki, *, require_client_cert=False):
    return Tls(pki["cert"], pki["key"], pki["ca"] if require_client_cert else None)


async def get_run(url):
    store = await RestStore.open(url)
    try:
        return await store.get_run(RUN_ID)
    finally:
        await store.aclose()


async def test_server_cert_path_trusts_a_private_ca(pki, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", pki["ca"])
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app, tls=server_tls(pki)) as url:
        assert url.startswith("https://")
        assert (await get_run(url)).info.run_id == RUN_ID


async def test_requests_ca_bundle_is_honoured_like_mlflow(pki, monkeypatch):
    """MLflow (through requests) trusts REQUESTS_CA_BUNDLE when no server cert path is set; so do we."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pki["ca"])
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app, tls=server_tls(pki)) as url:
        assert (await get_run(url)).info.run_id == RUN_ID


async def test_untrusted_certificate_fails_at_once_with_a_hint(pki, monkeypatch, caplog):
    """A certificate from an unknown CA is a permanent, explained error: no retries, no request served."""
    caplog.set_level(logging.DEBUG, logger="asynctrack")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app, tls=server_tls(pki)) as url:
        with pytest.raises(MlflowException) as ei:
            await get_run(url)
    retries = [
        r.getMessage() for r in caplog.records if r.name == "asynctrack" and " retry " in r.getMessage()
    ]
    assert retries == []  # not one retry (five, with back-off, were allowed)
    message = ei.value.message
    assert url in message and "certificate could not be verified" in message
    assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in message and "MLFLOW_TRACKING_INSECURE_TLS" in message
    assert app.requests == []


async def test_wrong_ca_fails_too(pki, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", pki["other_ca"])
    with serve(Scripted(), tls=server_tls(pki)) as url:
        with pytest.raises(MlflowException, match="certificate could not be verified"):
            await get_run(url)


async def test_insecure_tls_skips_verification(pki, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app, tls=server_tls(pki)) as url:
        assert (await get_run(url)).info.run_id == RUN_ID


async def test_insecure_tls_and_cert_path_together_are_rejected(pki, monkeypatch):
    """As MLflow: both variables set is INVALID_PARAMETER_VALUE, when the store opens."""
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", pki["ca"])
    with pytest.raises(MlflowException) as ei:
        await RestStore.open("https://127.0.0.1:1")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "MLFLOW_TRACKING_INSECURE_TLS" in ei.value.message


async def test_missing_cert_file_is_reported_when_the_store_opens(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(tmp_path / "nope.pem"))
    with pytest.raises(MlflowException, match="nope.pem"):
        await RestStore.open("https://127.0.0.1:1")


async def test_client_certificate_for_mutual_tls(pki, monkeypatch):
    """A server that requires a client certificate accepts MLFLOW_TRACKING_CLIENT_CERT_PATH's, and refuses
    a client without one."""
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", pki["ca"])
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app, tls=server_tls(pki, require_client_cert=True)) as url:
        with pytest.raises(MlflowException):
            await get_run(url)
        monkeypatch.setenv("MLFLOW_TRACKING_CLIENT_CERT_PATH", pki["client"])
        assert (await get_run(url)).info.run_id == RUN_ID


async def test_http2_negotiated_over_tls_and_multiplexed(pki, monkeypatch):
    """Against a server offering h2 by ALPN, requests use HTTP/2, and concurrent ones share one connection."""
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", pki["ca"])
    app = Scripted(default=Reply(200, RUN_JSON, delay=0.2))
    with serve(app, tls=server_tls(pki), server="hypercorn") as url:
        store = await RestStore.open(url)
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(store.get_run, RUN_ID)
        finally:
            await store.aclose()
    assert len(app.requests) == 8
    assert {r.http_version for r in app.requests} == {"2"}
    assert len({r.client_port for r in app.requests}) == 1


async def test_plain_http_stays_http11_with_the_same_server():
    """Without TLS there is no ALPN: the store speaks HTTP/1.1 (no cleartext HTTP/2 upgrade)."""
    app = Scripted(default=Reply(200, RUN_JSON))
    with serve(app, server="hypercorn") as url:
        assert (await get_run(url)).info.run_id == RUN_ID
    assert app.requests[0].http_version == "1.1"
