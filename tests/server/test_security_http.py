"""Cross-site writes, DNS rebinding and content types, against a real ``asynctrack server`` (and, where the
issue compares, a real ``mlflow server`` 3.17.2): every refused request changes nothing."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from security_helpers import ARTIFACTS, EVIL, experiment_named, refused, sample_writes, state_of
from server_helpers import API, make_server
from servers import ServerProcess, free_port, mlflow_server, running

ALLOWED = "https://app.example.com"
SEARCH = API + "/experiments/search?max_results=1"
INVALID_HOST = "Invalid Host header - possible DNS rebinding attack detected"
BLOCKED = "Cross-origin request blocked"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("guarded")
    dest = tmp / "dest"
    extra = [
        "--serve-artifacts",
        "--artifacts-destination",
        str(dest),
        "--cors-allowed-origins",
        f"{ALLOWED},https://*.trusted.example",
    ]
    with running(make_server(tmp, extra=extra)) as srv:
        yield srv, dest


@pytest.fixture
def web(guarded: tuple[ServerProcess, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guarded[0].url, timeout=30) as c:
        yield c


def _send(
    client: httpx.Client, method: str, path: str, body: object, raw: bytes | None, headers: dict[str, str]
) -> httpx.Response:
    if body is not None:
        return client.request(method, path, json=body, headers=headers)
    return client.request(method, path, content=raw, headers=headers)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "localhost.evil.example", "", "a b"])
def test_foreign_host_is_refused_on_every_method_and_nothing_changes(
    web: httpx.Client, guarded: tuple[ServerProcess, Path], host: str
) -> None:
    writes = sample_writes(web)
    before = state_of(web, guarded[1])
    for method, path, body, raw in writes:
        response = _send(web, method, path, body, raw, {"Host": host})
        refused(response, 403, "PERMISSION_DENIED", INVALID_HOST)
    for path in (API + "/experiments/search?max_results=5", ARTIFACTS + "/artifacts", "/", "/nowhere"):
        refused(web.get(path, headers={"Host": host}), 403, "PERMISSION_DENIED", INVALID_HOST)
    assert state_of(web, guarded[1]) == before


def test_default_allowed_hosts_are_loopback_names_this_machine_and_ip_literals(
    web: httpx.Client, guarded: tuple[ServerProcess, Path]
) -> None:
    port = guarded[0].port
    for host in (
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        "localhost",
        "LOCALHOST:80",
        f"[::1]:{port}",
        "10.1.2.3:5000",
        "203.0.113.9",
        f"{socket.gethostname()}:{port}",
    ):
        response = web.get(API + "/experiments/search", params={"max_results": 1}, headers={"Host": host})
        assert response.status_code == 200, (host, response.text)
    # Health checks come with whatever Host their balancer uses, as in MLflow.
    assert web.get("/health", headers={"Host": "evil.example"}).status_code == 200
    assert web.get("/version", headers={"Host": "evil.example"}).status_code == 200


@pytest.mark.slow
def test_allowed_hosts_option_replaces_the_defaults(tmp_path: Path) -> None:
    extra = ["--allowed-hosts", "mlflow.example.com,*.corp.example:5000,127.0.0.1"]
    with running(make_server(tmp_path, extra=extra)) as srv, httpx.Client(base_url=srv.url) as c:
        verdicts = {
            host: c.get(
                API + "/experiments/search", params={"max_results": 1}, headers={"Host": host}
            ).status_code
            for host in (
                "mlflow.example.com",
                "mlflow.example.com:443",
                "a.corp.example:5000",
                "a.b.corp.example:5000",
                "a.corp.example:5001",
                "a.corp.example",
                "localhost",
                "10.0.0.1",
                f"127.0.0.1:{srv.port}",
            )
        }
    assert verdicts == {
        "mlflow.example.com": 200,
        "mlflow.example.com:443": 200,
        "a.corp.example:5000": 200,
        "a.b.corp.example:5000": 200,
        "a.corp.example:5001": 403,
        "a.corp.example": 403,
        "localhost": 403,
        "10.0.0.1": 403,
        f"127.0.0.1:{srv.port}": 200,
    }


@pytest.mark.slow
def test_allowed_hosts_star_allows_any_host(tmp_path: Path) -> None:
    with (
        running(make_server(tmp_path, extra=["--allowed-hosts", "*"])) as srv,
        httpx.Client(base_url=srv.url) as c,
    ):
        assert (
            c.get(API + "/experiments/search?max_results=1", headers={"Host": "evil.example"}).status_code
            == 200
        )


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": "http://localhost:3000"},  # another local program's page: another site
        {"Origin": "https://app.example.com.evil.example"},
        {"Origin": "http://app.example.com"},  # scheme matters for allowed origins
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
    ids=lambda h: "+".join(f"{k}={v}" for k, v in h.items()),
)
def test_cross_origin_writes_are_refused_and_nothing_changes(
    web: httpx.Client, guarded: tuple[ServerProcess, Path], headers: dict[str, str]
) -> None:
    writes = sample_writes(web)
    before = state_of(web, guarded[1])
    for method, path, body, raw in writes:
        refused(_send(web, method, path, body, raw, headers), 403, "PERMISSION_DENIED", BLOCKED)
    assert state_of(web, guarded[1]) == before


def test_same_origin_and_allowed_origins_write_and_get_cors_headers(
    web: httpx.Client, guarded: tuple[ServerProcess, Path]
) -> None:
    port = guarded[0].port
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        host = origin.removeprefix("http://")
        name = f"same-{origin}"
        response = web.post(
            API + "/experiments/create",
            json={"name": name},
            headers={"Origin": origin, "Host": host, "Sec-Fetch-Site": "same-origin"},
        )
        assert response.status_code == 200, response.text
        assert "access-control-allow-origin" not in response.headers
        assert experiment_named(web, name) is not None
    for origin in (ALLOWED, "https://ci.trusted.example", "https://APP.example.com/"):
        name = f"allowed-{origin}"
        response = web.post(
            API + "/experiments/create",
            json={"name": name},
            headers={"Origin": origin, "Sec-Fetch-Site": "cross-site"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "origin" in response.headers["vary"].lower()
        assert experiment_named(web, name) is not None


def test_cross_origin_reads_are_answered_without_cors_headers(web: httpx.Client) -> None:
    """A foreign page may make the browser send a GET, but without Access-Control-Allow-Origin the browser
    does not let it read the answer."""
    response = web.get(API + "/experiments/search", params={"max_results": 1}, headers={"Origin": EVIL})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    allowed = web.get(API + "/experiments/search", params={"max_results": 1}, headers={"Origin": ALLOWED})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED


@pytest.mark.parametrize("path", [API + "/experiments/create", ARTIFACTS + "/artifacts/a/b.txt", "/nowhere"])
def test_preflight(web: httpx.Client, guarded: tuple[ServerProcess, Path], path: str) -> None:
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization",
    }
    ok = web.options(path, headers={"Origin": ALLOWED, **ask})
    assert ok.status_code == 204, ok.text
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "PUT" in ok.headers["access-control-allow-methods"]
    assert ok.headers["access-control-allow-headers"] == "content-type, authorization"
    assert ok.content == b""
    same = f"http://127.0.0.1:{guarded[0].port}"
    assert web.options(path, headers={"Origin": same, **ask}).status_code == 204
    for origin in (EVIL, "null", "http://localhost:1"):
        response = web.options(path, headers={"Origin": origin, **ask})
        refused(response, 403, "PERMISSION_DENIED", BLOCKED)
        assert "access-control-allow-origin" not in response.headers


def test_security_headers_on_every_response(web: httpx.Client) -> None:
    for response in (
        web.get("/health"),
        web.get(API + "/experiments/search?max_results=1"),
        web.get("/nowhere"),
        web.post(API + "/experiments/create", content=b"{}"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "SAMEORIGIN"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "json"],
)
def test_writes_need_json(
    web: httpx.Client, guarded: tuple[ServerProcess, Path], content_type: str | None
) -> None:
    """MLflow's 400 for a write that is not JSON, on every state-changing endpoint but the artifact files'."""
    before = state_of(web, guarded[1])
    headers = {} if content_type is None else {"Content-Type": content_type}
    name = f"typed-{content_type}"
    for method, path in (
        ("POST", API + "/experiments/create"),
        ("POST", "/ajax-api/2.0/mlflow/experiments/create"),
        ("PATCH", API + "/experiments/create"),
        ("PUT", API + "/experiments/create"),
        ("DELETE", API + "/experiments/create"),
        ("POST", ARTIFACTS + "/mpu/create/x"),
        ("POST", "/nowhere"),
    ):
        response = web.request(method, path, content=b'{"name": "%s"}' % name.encode(), headers=headers)
        message = (
            "Bad Request. Content-Type header is missing."
            if not content_type
            else "Bad Request. Content-Type must be one of ['application/json']."
        )
        assert refused(response, 400, "INVALID_PARAMETER_VALUE", message)["message"] == message
    assert state_of(web, guarded[1]) == before


def test_json_with_parameters_and_artifact_files_of_any_type_are_accepted(
    web: httpx.Client, guarded: tuple[ServerProcess, Path]
) -> None:
    response = web.post(
        API + "/experiments/create",
        content=b'{"name": "charset"}',
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    dest = guarded[1]
    for i, content_type in enumerate(
        [None, "text/plain", "image/png", "application/octet-stream", "text/html"]
    ):
        headers = {} if content_type is None else {"Content-Type": content_type}
        put = web.put(ARTIFACTS + f"/artifacts/typed/{i}.bin", content=b"x" * i, headers=headers)
        assert put.status_code == 200, put.text
        assert (dest / "typed" / f"{i}.bin").read_bytes() == b"x" * i
    # Multipart: create and complete are JSON, the parts are raw bytes without a type (MLflow's client).
    created = web.post(ARTIFACTS + "/mpu/create/typed", json={"path": "big.bin", "num_parts": 1})
    assert created.status_code == 200, created.text
    upload_id = created.json()["upload_id"]
    part = web.put(ARTIFACTS + f"/mpu/parts/{upload_id}/1", content=b"part")
    assert part.status_code == 200, part.text
    done = web.post(
        ARTIFACTS + "/mpu/complete/typed",
        json={
            "path": "big.bin",
            "upload_id": upload_id,
            "parts": [{"part_number": 1, "etag": part.headers["etag"]}],
        },
    )
    assert done.status_code == 200, done.text
    assert (dest / "typed" / "big.bin").read_bytes() == b"part"
    assert web.delete(ARTIFACTS + "/artifacts/typed/0.bin").status_code == 200
    assert not (dest / "typed" / "0.bin").exists()


@pytest.mark.slow  # an official mlflow server (~15 s to start)
def test_same_answers_as_mlflow_server(tmp_path: Path) -> None:
    """The statuses MLflow 3.17.2 gives: 400 for a write that is not JSON (same JSON body), 403 for a
    foreign Origin and for a foreign Host (MLflow's text is where our message starts)."""
    ours = make_server(tmp_path / "ours")
    theirs = mlflow_server(tmp_path / "mlflow")
    (tmp_path / "ours").mkdir()
    (tmp_path / "mlflow").mkdir()
    probes: list[tuple[str, str, dict[str, str], bytes]] = [
        ("POST", API + "/experiments/create", {}, b'{"name": "a"}'),
        ("POST", API + "/experiments/create", {"Content-Type": "text/plain"}, b'{"name": "a"}'),
        (
            "POST",
            API + "/experiments/create",
            {"Content-Type": "application/json", "Origin": EVIL},
            b'{"name": "b"}',
        ),
        (
            "POST",
            API + "/runs/delete",
            {"Content-Type": "application/json", "Origin": EVIL},
            b'{"run_id": "r"}',
        ),
        ("GET", API + "/experiments/search?max_results=1", {"Host": "evil.example"}, b""),
        (
            "POST",
            API + "/experiments/create",
            {"Content-Type": "application/json", "Host": "evil.example"},
            b"{}",
        ),
    ]
    answers: dict[str, list[httpx.Response]] = {}
    for label, server in (("asynctrack", ours), ("mlflow", theirs)):
        with running(server) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
            answers[label] = [c.request(m, p, headers=h, content=b) for m, p, h, b in probes]
    for probe, a, m in zip(probes, answers["asynctrack"], answers["mlflow"], strict=True):
        assert a.status_code == m.status_code, (probe, a.text, m.text)
        if m.status_code == 400:
            assert a.json()["error_code"] == m.json()["error_code"]
            assert a.json()["message"] == m.json()["message"]
        else:
            assert m.status_code == 403
            assert a.json()["error_code"] == "PERMISSION_DENIED"
            assert a.json()["message"].startswith(m.text.strip()), (a.text, m.text)


@pytest.mark.slow  # a server process per bad option (~20 s)
def test_bad_security_options_fail_before_serving(tmp_path: Path) -> None:
    base = make_server(tmp_path).argv
    for flag, value, says in (
        ("--max-artifact-size", "0", "positive size"),
        ("--max-artifact-size", "12Q", "positive size"),
        ("--header-timeout", "0", "positive number of seconds"),
        ("--body-timeout", "nan", "positive number of seconds"),
        ("--keep-alive-timeout", "-1", "positive number of seconds"),
        ("--max-connections", "0", "positive integer"),
        ("--workers", "0", "positive integer"),
        ("--max-body-size", "-5", "positive integer"),
        ("--allowed-hosts", ",", "comma-separated list"),
        ("--allowed-hosts", "good.example,bad host", "'bad host' is not a host name"),
        ("--cors-allowed-origins", " , ", "comma-separated list"),
    ):
        done = subprocess.run([*base, flag, value], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, (flag, value, done.stdout)
        assert says in done.stderr, (flag, value, done.stderr)


@pytest.mark.slow
def test_mlflow_server_variables_set_the_defaults(tmp_path: Path) -> None:
    """MLFLOW_SERVER_ALLOWED_HOSTS and MLFLOW_SERVER_CORS_ALLOWED_ORIGINS, as MLflow's server reads them."""
    server = make_server(tmp_path)
    server.env["MLFLOW_SERVER_ALLOWED_HOSTS"] = "mlflow.example.com,127.0.0.1"
    server.env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] = ALLOWED
    with running(server) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        assert c.get(SEARCH, headers={"Host": "mlflow.example.com"}).status_code == 200
        refused(c.get(SEARCH, headers={"Host": "localhost"}), 403, "PERMISSION_DENIED", INVALID_HOST)
        ok = c.post(API + "/experiments/create", json={"name": "env-cors"}, headers={"Origin": ALLOWED})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ALLOWED
        refused(
            c.post(API + "/experiments/create", json={"name": "x"}, headers={"Origin": EVIL}),
            403,
            "PERMISSION_DENIED",
            BLOCKED,
        )


def test_refusals_carry_the_security_headers_too(web: httpx.Client) -> None:
    for response in (
        web.get(SEARCH, headers={"Host": "evil.example"}),
        web.post(API + "/experiments/create", json={"name": "x"}, headers={"Origin": EVIL}),
        web.options(SEARCH, headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}),
    ):
        assert response.status_code in (204, 403)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "SAMEORIGIN"


@pytest.mark.slow
def test_ui_command_takes_the_security_options(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "asynctrack", "ui", "--host", "127.0.0.1", "--port", str(port)]
    argv += [
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'ui.db'}",
        "--allowed-hosts",
        "mlflow.example.com",
    ]
    with running(ServerProcess(argv, port, tmp_path / "ui.log")) as srv, httpx.Client(base_url=srv.url) as c:
        assert c.get("/", headers={"Host": "mlflow.example.com"}).status_code == 200
        refused(c.get("/", headers={"Host": f"127.0.0.1:{port}"}), 403, "PERMISSION_DENIED", INVALID_HOST)
