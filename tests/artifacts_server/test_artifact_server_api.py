"""The artifact API of ``asynctrack server`` request by request: shapes and errors as ``mlflow server``'s
(probed against MLflow 3.17.2 with the same requests), multipart upload, the server's modes, streaming in
bounded memory, and asynctrack's HTTP repository against it."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from artifact_server_helpers import ARTIFACTS, MPU, MiB, serving_args
from servers import ServerProcess, asynctrack_server, running

import asynctrack
from asynctrack import MlflowClient
from asynctrack.artifacts._http import HttpArtifactRepository
from asynctrack.cli._main import main
from asynctrack.exceptions import MlflowException
from asynctrack.pipeline import _registry, close_pipelines

TRACKING = "/api/2.0/mlflow"


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error_code"] == code, body
    return str(body["message"])


# -- the API's shapes, as mlflow server's


@pytest.mark.slow
def test_upload_list_download_delete(http: httpx.Client) -> None:
    """Upload answers 200; a listing has base names, sizes for files (0 for an empty one: MLflow's server
    leaves the field out) and none for directories; an empty listing, a file's and a missing path's are
    ``{}``; a download is the bytes, as an attachment that browsers may not sniff."""
    base = f"{ARTIFACTS}/api-shapes"
    for path, data in (("a/b.txt", b"hello"), ("a/empty.bin", b""), ("a/d/e.txt", b"x" * 10)):
        assert http.put(f"{base}/{path}", content=data).status_code == 200
    assert http.get(ARTIFACTS, params={"path": "api-shapes/a"}).json() == {
        "files": [
            {"path": "b.txt", "is_dir": False, "file_size": 5},
            {"path": "d", "is_dir": True},
            {"path": "empty.bin", "is_dir": False, "file_size": 0},
        ]
    }
    for path in ("api-shapes/a/b.txt", "api-shapes/missing", "api-shapes/a/d/e.txt/"):
        assert http.get(ARTIFACTS, params={"path": path}).json() == {}
    got = http.get(f"{base}/a/b.txt")
    assert got.content == b"hello"
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-length"] == "5"
    assert http.get(f"{base}/a/empty.bin").content == b""
    assert http.head(f"{base}/a/b.txt").headers["content-length"] == "5"
    ranged = http.get(f"{base}/a/d/e.txt", headers={"Range": "bytes=2-4"})
    assert (ranged.status_code, ranged.content) == (206, b"xxx")
    assert http.get("/ajax-api/2.0/mlflow-artifacts/artifacts/api-shapes/a/b.txt").content == b"hello"
    assert http.delete(f"{base}/a/d").status_code == 200
    assert http.delete(f"{base}/a/never-there").status_code == 200  # as MLflow: nothing to delete is fine
    assert [f["path"] for f in http.get(ARTIFACTS, params={"path": "api-shapes/a"}).json()["files"]] == [
        "b.txt",
        "empty.bin",
    ]


def test_unicode_and_spaces_round_trip(http: httpx.Client) -> None:
    assert http.put(f"{ARTIFACTS}/uni/hé llo wörld.txt", content=b"u").status_code == 200
    assert http.get(ARTIFACTS, params={"path": "uni"}).json()["files"][0]["path"] == "hé llo wörld.txt"
    assert http.get(f"{ARTIFACTS}/uni/h%C3%A9%20llo%20w%C3%B6rld.txt").content == b"u"


def test_errors_are_mlflows_json(http: httpx.Client) -> None:
    """A missing file is 404 RESOURCE_DOES_NOT_EXIST with MLflow's message; a directory, a path ending in
    '/', a file over a directory, a reserved name and deleting the whole destination are 400; a wrong
    method is 405; presigned downloads are MLflow's 501 for a local destination."""
    http.put(f"{ARTIFACTS}/errs/dir/f.txt", content=b"f")
    assert _error(http.get(f"{ARTIFACTS}/errs/nope.txt"), 404, "RESOURCE_DOES_NOT_EXIST") == (
        "No such artifact: 'errs/nope.txt'"
    )
    assert "refers to a directory" in _error(
        http.get(f"{ARTIFACTS}/errs/dir"), 400, "INVALID_PARAMETER_VALUE"
    )
    _error(http.put(f"{ARTIFACTS}/errs/dir", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    _error(http.put(f"{ARTIFACTS}/errs/new-dir/", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    _error(http.put(f"{ARTIFACTS}/errs/dir/f.txt/g", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    _error(http.put(f"{ARTIFACTS}/errs/.artifact.uploading.x", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    _error(http.delete(f"{ARTIFACTS}/"), 400, "INVALID_PARAMETER_VALUE")
    _error(http.post(f"{ARTIFACTS}/errs/dir/f.txt", json={}), 405, "BAD_REQUEST")
    _error(http.get("/api/2.0/mlflow-artifacts/presigned/errs/dir/f.txt"), 501, "NOT_IMPLEMENTED")
    assert http.get(f"{ARTIFACTS}/errs/dir/f.txt").content == b"f"


# -- multipart upload


def _create(http: httpx.Client, directory: str, name: str, parts: int) -> dict[str, Any]:
    response = http.post(f"{MPU}/create/{directory}", json={"path": f"/home/me/{name}", "num_parts": parts})
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def test_multipart_parts_in_any_order_retried_and_checked(http: httpx.Client, at_dest: Path) -> None:
    """Parts arrive out of order and one twice (the later copy wins); complete refuses a stale ETag or a
    missing part, then joins the parts in order; the upload is gone afterwards (abort: 404)."""
    chunks = [os.urandom(MiB), os.urandom(MiB), os.urandom(12345)]
    created = _create(http, "mpu-test/models", "weights.bin", 3)
    upload_id = created["upload_id"]
    urls = {c["part_number"]: c["url"] for c in created["credentials"]}
    assert sorted(urls) == [1, 2, 3] and all(u.startswith("http://127.0.0.1:") for u in urls.values())
    etags = {n: http.put(urls[n], content=chunks[n - 1]).headers["etag"] for n in (3, 1)}
    body = {"path": "weights.bin", "upload_id": upload_id}
    complete = f"{MPU}/complete/mpu-test/models"
    listed = [{"part_number": n, "etag": ""} for n in (1, 2, 3)]
    assert "Part 2" in _error(
        http.post(complete, json={**body, "parts": listed}), 400, "INVALID_PARAMETER_VALUE"
    )
    stale = http.put(urls[2], content=b"first try").headers["etag"]
    etags[2] = http.put(urls[2], content=chunks[1]).headers["etag"]
    assert etags[2] != stale
    with_stale = [{"part_number": n, "etag": stale if n == 2 else etags[n]} for n in (1, 2, 3)]
    message = _error(http.post(complete, json={**body, "parts": with_stale}), 400, "INVALID_PARAMETER_VALUE")
    assert "has changed" in message
    good = [{"part_number": n, "etag": etags[n]} for n in (3, 1, 2)]
    wrong_name = {"path": "other.bin", "upload_id": upload_id, "parts": good}
    _error(http.post(complete, json=wrong_name), 400, "INVALID_PARAMETER_VALUE")
    assert http.post(complete, json={**body, "parts": good}).status_code == 200
    assert (at_dest / "mpu-test" / "models" / "weights.bin").read_bytes() == b"".join(chunks)
    assert http.get(f"{ARTIFACTS}/mpu-test/models/weights.bin").content == b"".join(chunks)
    _error(http.post(f"{MPU}/abort/mpu-test/models", json=body), 404, "RESOURCE_DOES_NOT_EXIST")
    assert not (at_dest / ".artifact.uploading.mpu" / upload_id).exists()


def test_multipart_abort_and_bad_part_numbers(http: httpx.Client, at_dest: Path) -> None:
    created = _create(http, "mpu-abort", "x.bin", 2)
    url = created["credentials"][0]["url"]
    _error(http.put(url.rsplit("/", 1)[0] + "/3", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    _error(http.put(url.rsplit("/", 1)[0] + "/zero", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    assert http.put(url, content=b"part").status_code == 200
    body = {"path": "C:\\Users\\me\\x.bin", "upload_id": created["upload_id"]}  # a Windows client's path
    assert http.post(f"{MPU}/abort/mpu-abort", json=body).status_code == 200
    _error(http.put(url, content=b"late"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert not (at_dest / "mpu-abort").exists()
    _error(http.post(f"{MPU}/create/mpu-abort", json={"num_parts": 1}), 400, "INVALID_PARAMETER_VALUE")
    too_many = {"path": "x.bin", "num_parts": 10_001}
    _error(http.post(f"{MPU}/create/mpu-abort", json=too_many), 400, "INVALID_PARAMETER_VALUE")


# -- modes


def test_serving_gives_new_experiments_mlflow_artifacts_locations(http: httpx.Client) -> None:
    """As mlflow server with --serve-artifacts: experiments (the default one too) at
    mlflow-artifacts:/<id>, runs at mlflow-artifacts:/<experiment>/<run>/artifacts."""
    eid = http.post(f"{TRACKING}/experiments/create", json={"name": f"art-{time.time_ns()}"}).json()[
        "experiment_id"
    ]
    for experiment in (eid, "0"):
        got = http.get(f"{TRACKING}/experiments/get", params={"experiment_id": experiment}).json()
        assert got["experiment"]["artifact_location"] == f"mlflow-artifacts:/{experiment}"
    run = http.post(f"{TRACKING}/runs/create", json={"experiment_id": eid}).json()["run"]["info"]
    assert run["artifact_uri"] == f"mlflow-artifacts:/{eid}/{run['run_id']}/artifacts"


@pytest.fixture(scope="module")
def not_serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(asynctrack_server(tmp_path_factory.mktemp("not-serving"))) as server:
        yield server


def test_without_serve_artifacts_the_api_answers_503(
    not_serving: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """As mlflow server --no-serve-artifacts: 503 (as JSON, FEATURE_DISABLED); experiments keep local
    artifact locations; asynctrack's client does not retry a disabled feature."""
    with httpx.Client(base_url=not_serving.url, timeout=30) as c:
        message = _error(c.get(ARTIFACTS, params={"path": "x"}), 503, "FEATURE_DISABLED")
        assert "--serve-artifacts" in message
        _error(c.put(f"{ARTIFACTS}/x.txt", content=b"x"), 503, "FEATURE_DISABLED")
        location = c.get(f"{TRACKING}/experiments/get", params={"experiment_id": "0"}).json()["experiment"]
        assert location["artifact_location"].startswith("/")
    repo = HttpArtifactRepository("mlflow-artifacts:/0/r/artifacts", not_serving.url)
    with caplog.at_level(logging.DEBUG, logger="asynctrack"):
        with pytest.raises(MlflowException) as info:
            _registry.background_loop().call(repo.list_artifacts, None)
    assert info.value.error_code == "FEATURE_DISABLED"
    assert not [r for r in caplog.records if "retry" in r.getMessage()]  # the retry loop logs each retry


@pytest.fixture(scope="module")
def artifacts_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("artifacts-only")
    server = asynctrack_server(tmp, extra=["--artifacts-only", "--artifacts-destination", str(tmp / "dest")])
    # --artifacts-only takes no backend store: drop the one servers.py passes; the default store must not
    # be opened either.
    i = server.argv.index("--backend-store-uri")
    del server.argv[i : i + 2]
    server.env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'must-not-exist.db'}"
    with running(server):
        yield server, tmp


def test_artifacts_only_serves_artifacts_and_no_tracking(artifacts_only: tuple[ServerProcess, Path]) -> None:
    server, tmp = artifacts_only
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/health").text == "OK"
        assert c.put(f"{ARTIFACTS}/only/a.txt", content=b"a").status_code == 200
        assert c.get(f"{ARTIFACTS}/only/a.txt").content == b"a"
        message = _error(
            c.post(f"{TRACKING}/experiments/create", json={"name": "x"}), 503, "FEATURE_DISABLED"
        )
        assert "--artifacts-only" in message
        _error(c.get(f"{TRACKING}/experiments/get", params={"experiment_id": "0"}), 503, "FEATURE_DISABLED")
        _error(c.post(f"{TRACKING}/logged-models/search", json={}), 503, "FEATURE_DISABLED")
    assert (tmp / "dest" / "only" / "a.txt").read_bytes() == b"a"
    assert not (tmp / "must-not-exist.db").exists()


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak RSS from /proc")
def test_uploads_and_downloads_stream_in_bounded_memory(artifacts_only: tuple[ServerProcess, Path]) -> None:
    """256 MiB up and down through a one-process server: its peak RSS grows by far less than the file."""
    server, _ = artifacts_only
    assert server.proc is not None
    size = 256 * MiB
    block = os.urandom(MiB)

    def body() -> Iterator[bytes]:
        for _ in range(size // MiB):
            yield block

    before = _peak_rss(server.proc.pid)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        response = c.put(f"{ARTIFACTS}/big/stream.bin", content=body(), headers={"Content-Length": str(size)})
        assert response.status_code == 200, response.text
        digest = hashlib.sha256()
        received = 0
        with c.stream("GET", f"{ARTIFACTS}/big/stream.bin") as download:
            for chunk in download.iter_bytes():
                digest.update(chunk)
                received += len(chunk)
    assert received == size and digest.hexdigest() == hashlib.sha256(block * (size // MiB)).hexdigest()
    assert _peak_rss(server.proc.pid) - before < 64 * MiB


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--serve-artifacts", "--artifacts-destination", "s3://bucket/x"], "only a local directory"),
        (["--artifacts-only", "--backend-store-uri", "sqlite:///x.db"], "takes no --backend-store-uri"),
    ],
)
def test_bad_artifact_options_fail_before_serving(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["server", "--port", "0", *args]) == 1
    assert message in capsys.readouterr().err


def test_default_artifact_root_wins(tmp_path: Path) -> None:
    """--default-artifact-root sets new experiments' location even while artifacts are served."""
    root = tmp_path / "elsewhere"
    extra = [*serving_args(tmp_path / "d"), "--default-artifact-root", str(root)]
    with running(asynctrack_server(tmp_path, extra=extra)) as server:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            eid = c.post(f"{TRACKING}/experiments/create", json={"name": "e"}).json()["experiment_id"]
            got = c.get(f"{TRACKING}/experiments/get", params={"experiment_id": eid}).json()["experiment"]
    assert got["artifact_location"] == f"{root}/{eid}"


# -- asynctrack's client against the server


@pytest.fixture
def remote(at_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in [k for k in os.environ if k.startswith("MLFLOW_")]:
        monkeypatch.delenv(name)
    asynctrack.set_tracking_uri(at_server.url)
    try:
        yield at_server.url
    finally:
        asynctrack.set_tracking_uri(None)
        assert close_pipelines(timeout=10) == []


def test_client_async_uploads_survive_closing_the_pipelines(remote: str, tmp_path: Path) -> None:
    """synchronous=False uploads through the server; close_pipelines() waits for them, then closes the
    shared HTTP clients; the next call opens new ones."""
    client = MlflowClient()
    run_id = client.create_run("0").info.run_id
    files = []
    for i in range(20):
        files.append(tmp_path / f"f{i}.bin")
        files[-1].write_bytes(os.urandom(50_000 + i))
    ops = [client.log_artifact(run_id, str(f), "async", synchronous=False) for f in files]
    assert close_pipelines(timeout=30) == []
    assert all(op is not None and op.done() for op in ops)
    listed = {f.path: f.file_size for f in client.list_artifacts(run_id, "async")}
    assert listed == {f"async/{f.name}": f.stat().st_size for f in files}
    local = client.download_artifacts(run_id, "async/f3.bin", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == files[3].read_bytes()


def test_client_streams_a_generator_chunked(remote: str) -> None:
    """A repository write from an async stream goes chunked (length unknown) and is not retried."""
    run_id = MlflowClient().create_run("0").info.run_id
    uri = MlflowClient().get_run(run_id).info.artifact_uri
    repo = HttpArtifactRepository(uri, remote)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(5):
            yield bytes([i]) * 100_000

    _registry.background_loop().call(repo.write_artifact, chunks(), "streamed/x.bin")
    assert MlflowClient().list_artifacts(run_id, "streamed")[0].file_size == 500_000
    with pytest.raises(MlflowException) as info:
        MlflowClient().download_artifacts(run_id, "streamed/missing.bin")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_client_gives_up_on_an_unreachable_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Connection failures are retried MLFLOW_HTTP_REQUEST_MAX_RETRIES times, then TEMPORARILY_UNAVAILABLE:
    API calls and uploads (the asyncio client) and downloads (the blocking one) alike."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    repo = HttpArtifactRepository("mlflow-artifacts:/0/r/artifacts", dead)
    (tmp_path / "x.txt").write_text("x")
    loop = _registry.background_loop()
    for call in (
        lambda: loop.call(repo.list_artifacts, None),
        lambda: loop.call(repo.log_artifact, str(tmp_path / "x.txt"), None),
        lambda: loop.call(repo._download_file, "x.txt", str(tmp_path / "y.txt")),
    ):
        with pytest.raises(MlflowException) as info:
            call()
        assert info.value.error_code == "TEMPORARILY_UNAVAILABLE" and "after 1 retry" in info.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]  # no partial download left behind
