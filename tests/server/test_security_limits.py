"""Limits against a real ``asynctrack server``: deeply nested JSON, slow and half-sent requests over real
sockets, the connection cap, client-chosen artifact locations, and the startup warning when exposed."""

from __future__ import annotations

import select
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from security_helpers import experiment_named
from server_helpers import API, call, make_server
from servers import ServerProcess, running

from asynctrack.server._timeouts import BodyTimeoutGuard

TIMEOUT = "2"  # the server's header and body timeouts in these tests, in seconds
BOUND = 30.0  # a closed connection must be seen closed well before this (generous: the machine is shared)


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("strict")
    dest = tmp / "dest"
    extra = ["--serve-artifacts", "--artifacts-destination", str(dest)]
    extra += ["--header-timeout", TIMEOUT, "--body-timeout", TIMEOUT]
    with running(make_server(tmp, extra=extra)) as srv:
        yield srv, dest


@pytest.fixture
def http(strict: tuple[ServerProcess, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=strict[0].url, timeout=60) as c:
        yield c


def _connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=BOUND)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket.timeout if it never does)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# -- deeply nested JSON


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_400_with_one_short_log_line(
    http: httpx.Client, strict: tuple[ServerProcess, Path], depth: int
) -> None:
    log = strict[0].log
    before = log.read_text()
    for path, field in (
        ("/experiments/create", "name"),
        ("/runs/log-batch", "metrics"),
        ("/runs/search", "filter"),
    ):
        body = b'{"%s": ' % field.encode() + b"[" * depth + b"]" * depth + b"}"
        response = http.post(API + path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        data = response.json()
        assert data["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "nested too deeply" in data["message"]
    # A bare nested array too (no field to blame).
    response = http.post(
        API + "/experiments/create",
        content=b"[" * depth + b"]" * depth,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    added = log.read_text()[len(before) :]
    assert "Traceback" not in added and "RecursionError" not in added
    lines = [line for line in added.splitlines() if "nested too deeply" in line]
    assert len(lines) == 4 and all(len(line) < 200 for line in lines), lines


def test_ordinary_nesting_still_decodes(http: httpx.Client) -> None:
    """The bound is far above anything MLflow's messages need: a 50-level tag value inside a batch is fine."""
    eid = call(http, "POST", "/experiments/create", {"name": f"nest-{uuid.uuid4().hex}"})["experiment_id"]
    body = {"experiment_ids": [eid], "order_by": [], "filter": "", "max_results": 1, "extra": [[[[[[[]]]]]]]}
    assert http.post(API + "/runs/search", json=body).status_code == 200


# -- slow clients


@pytest.mark.slow
def test_connection_sending_nothing_is_closed(strict: tuple[ServerProcess, Path]) -> None:
    with _connect(strict[0]) as sock:
        assert _read_until_closed(sock) == b""


@pytest.mark.slow
def test_headers_trickled_byte_by_byte_are_cut_off(strict: tuple[ServerProcess, Path]) -> None:
    """Each byte arrives well within any idle timeout, but the headers as a whole take too long."""
    with _connect(strict[0]) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        deadline = time.monotonic() + BOUND
        closed = False
        while time.monotonic() < deadline and not closed:
            readable, _, _ = select.select([sock], [], [], 0.25)
            if readable:
                closed = sock.recv(65536) == b""
                continue
            try:
                sock.sendall(b"a")
            except OSError:  # reset: closed too
                closed = True
        assert closed


@pytest.mark.slow
def test_kept_alive_connection_then_stalled_headers_is_closed(strict: tuple[ServerProcess, Path]) -> None:
    """After a first answered request, a second request's headers that never complete close the connection."""
    with _connect(strict[0]) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while not first.endswith(b"OK"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /health HTTP/1.1\r\nHo")
        assert _read_until_closed(sock) == b""


@pytest.mark.slow
def test_idle_kept_alive_connection_is_closed(strict: tuple[ServerProcess, Path]) -> None:
    """After an answer, a connection that sends nothing more is closed (--keep-alive-timeout, 5 s)."""
    with _connect(strict[0]) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"OK")


@pytest.mark.slow
def test_half_sent_body_gets_408_and_the_connection_is_closed(
    http: httpx.Client, strict: tuple[ServerProcess, Path]
) -> None:
    name = f"half-{uuid.uuid4().hex}"
    with _connect(strict[0]) as sock:
        body = b'{"name": "%s"}' % name.encode()
        sock.sendall(
            b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (len(body) + 10) + body
        )
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"--body-timeout" in answer and b"connection: close" in answer.lower()
    assert experiment_named(http, name) is None


@pytest.mark.slow
def test_half_sent_artifact_upload_leaves_nothing(strict: tuple[ServerProcess, Path]) -> None:
    dest = strict[1]
    with _connect(strict[0]) as sock:
        sock.sendall(
            b"PUT /api/2.0/mlflow-artifacts/artifacts/slow/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: %d\r\n\r\n" % (10 * 1024 * 1024)
        )
        sock.sendall(b"x" * (5 * 1024 * 1024))
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    leftovers = list((dest / "slow").rglob("*")) if (dest / "slow").exists() else []
    assert leftovers == []  # neither the file nor its temporary


@pytest.mark.slow
def test_slow_but_steady_body_is_accepted(http: httpx.Client, strict: tuple[ServerProcess, Path]) -> None:
    """The body timeout bounds each wait, not the whole body: pieces 0.5 s apart (under 2 s) get through."""
    name = f"steady-{uuid.uuid4().hex}"
    body = b'{"name": "%s"}' % name.encode()
    with _connect(strict[0]) as sock:
        sock.sendall(
            b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        )
        for i in range(0, len(body), 10):
            sock.sendall(body[i : i + 10])
            time.sleep(0.5)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert experiment_named(http, name) is not None


@pytest.mark.slow
def test_connection_cap_answers_503_then_recovers(tmp_path: Path) -> None:
    extra = ["--max-connections", "4", "--header-timeout", "120"]
    with running(make_server(tmp_path, extra=extra)) as srv:
        idle = [_connect(srv) for _ in range(4)]
        try:
            deadline = time.monotonic() + BOUND
            status = 0
            while status != 503 and time.monotonic() < deadline:
                with httpx.Client(base_url=srv.url, timeout=BOUND) as c:
                    status = c.get("/health").status_code
            assert status == 503
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + BOUND
        while status != 200 and time.monotonic() < deadline:
            with httpx.Client(base_url=srv.url, timeout=BOUND) as c:
                status = c.get("/health").status_code
        assert status == 200


# -- artifact locations chosen by clients


def test_artifact_location_outside_the_roots_is_refused(
    http: httpx.Client, strict: tuple[ServerProcess, Path]
) -> None:
    dest = strict[1]
    for location in (
        "/etc",
        "/tmp",
        "file:///etc/passwd",
        "file://evil.example/share",
        f"{dest}/../outside",
        f"{dest}/%2e%2e/outside",
        f"file://{dest}/%252e%252e/outside",
        f"{dest}/ok#/../../etc",
        f"{dest}/ok?x=/../../etc",
        "relative/dir",
        "mlflow-artifacts://evil.example/x",
        "mlflow-artifacts:/../x",
        "mlflow-artifacts:/a/%2E%2E/%2E%2E/x",
        "s3://attacker-bucket/x",
        "https://evil.example/upload",
        "runs:/0123/artifacts",
        "/" + "a" * 3000,
        f"{dest}/bad\x00name",
    ):
        name = f"loc-{uuid.uuid4().hex}"
        response = http.post(API + "/experiments/create", json={"name": name, "artifact_location": location})
        assert response.status_code == 400, (location, response.text)
        data = response.json()
        assert data["error_code"] == "INVALID_PARAMETER_VALUE"
        assert data["message"].startswith("Invalid artifact_location"), data
        assert experiment_named(http, name) is None
    # A symlink inside the destination that leads outside does not make the outside a root.
    dest.mkdir(exist_ok=True)
    link = dest / f"link-{uuid.uuid4().hex}"
    link.symlink_to("/etc")
    response = http.post(
        API + "/experiments/create", json={"name": uuid.uuid4().hex, "artifact_location": str(link / "x")}
    )
    assert response.status_code == 400, response.text


def test_artifact_location_under_a_root_is_kept(
    http: httpx.Client, strict: tuple[ServerProcess, Path]
) -> None:
    dest = strict[1]
    for location in ("mlflow-artifacts:/team-a/project", str(dest / "team-b"), f"file://{dest}/team-c"):
        eid = call(
            http, "POST", "/experiments/create", {"name": uuid.uuid4().hex, "artifact_location": location}
        )["experiment_id"]
        got = call(http, "GET", "/experiments/get", experiment_id=eid)["experiment"]
        assert got["artifact_location"] == location


# -- startup


@pytest.mark.slow
def test_warning_when_listening_beyond_loopback(tmp_path: Path) -> None:
    exposed = make_server(tmp_path, extra=["--host", "0.0.0.0"])
    with running(exposed):
        pass
    text = exposed.log.read_text()
    assert "WARNING" in text and "reachable from other machines" in text and "no authentication" in text
    local = make_server(tmp_path)
    with running(local):
        pass
    assert "reachable from other machines" not in local.log.read_text()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_body_timeout_on_both_event_loops() -> None:
    """The body bound works on asyncio (asyncio's timeout) and on trio (anyio's), for an app under another
    ASGI server: a body that never comes ends in 408 and the route sees a disconnect."""
    seen: list[str] = []

    async def route(scope: Any, receive: Any, send: Any) -> None:
        seen.append((await receive())["type"])
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"route"})

    async def never() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [(b"content-length", b"10")]}
    with anyio.fail_after(BOUND):
        await BodyTimeoutGuard(route, 0.2)(scope, never, send)
    assert seen == ["http.disconnect"]
    assert sent[0]["status"] == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert b"--body-timeout" in sent[1]["body"]


def _download_request(server: ServerProcess, name: str) -> socket.socket:
    sock = _connect(server)
    sock.sendall(
        b"GET /api/2.0/mlflow-artifacts/artifacts/dl/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % name.encode()
    )
    return sock


@pytest.mark.slow  # waits out the server's send timeout (~10 s)
def test_download_that_is_never_read_is_cut_off(strict: tuple[ServerProcess, Path]) -> None:
    """A client that asks for a large file and stops reading: once the socket buffers are full, the server
    waits --body-timeout (2 s here) for it to take more, then closes the connection."""
    server, dest = strict
    size = 64 * 1024 * 1024  # far more than loopback's socket buffers hold
    (dest / "dl").mkdir(parents=True, exist_ok=True)
    with open(dest / "dl" / "big.bin", "wb") as f:
        f.truncate(size)
    with _download_request(server, "big.bin") as sock:
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
        time.sleep(10)  # not reading: the server's wait for us runs out meanwhile (a wait, not a measurement)
        received = len(first) + len(_read_until_closed(sock))
    assert received < size
    assert "took no response data" in server.log.read_text()


@pytest.mark.slow
def test_download_read_slowly_but_steadily_completes(strict: tuple[ServerProcess, Path]) -> None:
    server, dest = strict
    size = 6 * 1024 * 1024
    (dest / "dl").mkdir(parents=True, exist_ok=True)
    (dest / "dl" / "steady.bin").write_bytes(b"s" * size)
    with _download_request(server, "steady.bin") as sock:
        data = b""
        while chunk := sock.recv(256 * 1024):
            data += chunk
            if data.endswith(b"s" * 16) and len(data) >= size:
                break
            time.sleep(0.1)  # about 2.5 MB/s: each 1 MiB piece is taken well within 2 s
    assert data.endswith(b"s" * size)
