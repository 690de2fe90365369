"""A run's artifacts by run id against a real ``asynctrack server --serve-artifacts``: REST API 2.0's List
Artifacts, ``/get-artifact`` and the UI's ``upload-artifact``, with MLflow's answers, and hostile paths,
types and sizes refused with nothing written outside the run's artifact directory."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import API, call, make_server, new_run
from servers import ServerProcess, running

AJAX = "/ajax-api/2.0/mlflow"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("run-artifacts")
    dest = tmp / "outer" / "dest"
    dest.mkdir(parents=True)
    extra = ["--serve-artifacts", "--artifacts-destination", str(dest)]
    with running(make_server(tmp, extra=extra)) as srv:
        yield srv, dest


@pytest.fixture
def http(served: tuple[ServerProcess, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0].url, timeout=60) as c:
        yield c


def _upload(http: httpx.Client, run_id: str, path: str, data: bytes, **headers: str) -> httpx.Response:
    return http.post(
        AJAX + "/upload-artifact", params={"run_uuid": run_id, "path": path}, content=data, headers=headers
    )


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.slow
def test_upload_list_and_get_a_runs_artifacts(http: httpx.Client, served: tuple[ServerProcess, Path]) -> None:
    run_id = new_run(http)
    assert _upload(http, run_id, "test.txt", b"hello world").status_code == 200
    assert _upload(http, run_id, "dir/sub/data.json", b'{"a": 1}').status_code == 200
    listing = http.get(API + "/artifacts/list", params={"run_id": run_id})
    assert listing.status_code == 200, listing.text
    body = listing.json()
    experiment = call(http, "GET", "/runs/get", run_id=run_id)["run"]["info"]["experiment_id"]
    assert body["root_uri"] == f"mlflow-artifacts:/{experiment}/{run_id}/artifacts"
    assert sorted(body["files"], key=lambda f: f["path"]) == [
        {"path": "dir", "is_dir": True},
        {"path": "test.txt", "is_dir": False, "file_size": 11},
    ]
    sub = http.get(AJAX + "/artifacts/list", params={"run_id": run_id, "path": "dir/sub"}).json()
    assert sub["files"] == [{"path": "dir/sub/data.json", "is_dir": False, "file_size": 8}]
    assert http.get(API + "/artifacts/list", params={"run_id": run_id, "path": "nothing"}).json() == {
        "root_uri": body["root_uri"]
    }
    got = http.get("/get-artifact", params={"run_uuid": run_id, "path": "test.txt"})
    assert (got.status_code, got.content) == (200, b"hello world")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["content-type"].startswith("text/plain")
    on_disk = served[1] / experiment / run_id / "artifacts" / "dir" / "sub" / "data.json"
    assert on_disk.read_bytes() == b'{"a": 1}'


@pytest.mark.parametrize(
    "path",
    [
        "../path",
        "../../etc/passwd",
        "a/../../b",
        "%2e%2e/x",
        "%252e%252e/x",
        "/etc/passwd",
        "a\\..\\b",
        "x#y",
    ],
)
def test_hostile_paths_are_mlflows_invalid_path(
    http: httpx.Client, served: tuple[ServerProcess, Path], path: str
) -> None:
    run_id = new_run(http)
    before = _snapshot(served[1].parent)
    for response in (
        http.get(API + "/artifacts/list", params={"run_id": run_id, "path": path}),
        http.get("/get-artifact", params={"run_id": run_id, "path": path}),
        _upload(http, run_id, path, b"x"),
    ):
        assert response.status_code == 400, (path, response.text)
        assert response.json() == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": "Invalid path",
            **{k: response.json()[k] for k in ("sqlstate", "error_class") if k in response.json()},
        }
    assert _snapshot(served[1].parent) == before


def test_upload_refusals_are_mlflows(http: httpx.Client) -> None:
    run_id = new_run(http)
    cases = [
        ({}, b"x", "Request must specify run_uuid."),
        ({"run_uuid": run_id}, b"x", "Request must specify path."),
        ({"run_uuid": run_id, "path": ""}, b"x", "Request must specify path."),
        ({"run_uuid": run_id, "path": "t.txt"}, b"", "Request must specify data."),
        ({"run_uuid": run_id, "path": "t.txt"}, b"x" * (10 * 1024 * 1024 + 1), "Max size is 10MB."),
    ]
    for params, data, message in cases:
        response = http.post(AJAX + "/upload-artifact", params=params, content=data)
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert message in response.json()["message"]
    unknown = _upload(http, "0" * 32, "t.txt", b"x")
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize(
    "kind", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"]
)
def test_upload_refuses_types_a_page_can_send_cross_site(http: httpx.Client, kind: str) -> None:
    run_id = new_run(http)
    response = _upload(http, run_id, "t.txt", b"x", **{"Content-Type": kind})
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    listing = http.get(API + "/artifacts/list", params={"run_id": run_id}).json()
    assert "files" not in listing
    # ...and from a foreign origin, even with an upload's type, nothing is written.
    foreign = _upload(
        http,
        run_id,
        "t.txt",
        b"x",
        **{"Content-Type": "application/octet-stream", "Origin": "http://evil.example"},
    )
    assert foreign.status_code in (400, 403)
    assert "files" not in http.get(API + "/artifacts/list", params={"run_id": run_id}).json()


def test_a_symlink_leading_out_of_the_run_is_not_followed(
    http: httpx.Client, served: tuple[ServerProcess, Path]
) -> None:
    run_id = new_run(http)
    assert _upload(http, run_id, "ok.txt", b"ok").status_code == 200
    experiment = call(http, "GET", "/runs/get", run_id=run_id)["run"]["info"]["experiment_id"]
    artifacts = served[1] / experiment / run_id / "artifacts"
    outside = served[1].parent / "secret"
    outside.mkdir(exist_ok=True)
    (outside / "key.txt").write_text("secret")
    os.symlink(outside, artifacts / "link")
    got = http.get("/get-artifact", params={"run_id": run_id, "path": "link/key.txt"})
    assert got.status_code == 400 and b"secret" not in got.content
    up = _upload(http, run_id, "link/new.txt", b"x")
    assert up.status_code == 400
    assert sorted(p.name for p in outside.iterdir()) == ["key.txt"]


def test_relative_artifact_location_outside_the_roots_is_refused(http: httpx.Client) -> None:
    """A relative ``artifact_location`` is made absolute against the server's working directory (as
    MLflow does); here that lies outside the server's roots, so it is refused, naming both."""
    name = f"rel-{uuid.uuid4().hex}"
    response = http.post(API + "/experiments/create", json={"name": name, "artifact_location": "my_location"})
    assert response.status_code == 400
    message = response.json()["message"]
    assert "my_location" in message and os.path.join(os.getcwd(), "my_location") in message


@pytest.mark.slow
def test_relative_artifact_location_inside_a_root_is_stored_absolute(tmp_path: Path) -> None:
    """Started inside its artifact root, the server stores ``my_location`` as ``<cwd>/my_location``, the
    answer MLflow's test_create_get_search_experiment expects; ``..`` still never passes."""
    root = tmp_path / "root"
    root.mkdir()
    server = make_server(tmp_path, extra=["--default-artifact-root", str(root)], cwd=root)
    with running(server), httpx.Client(base_url=server.url, timeout=60) as http:
        eid = call(http, "POST", "/experiments/create", {"name": "e", "artifact_location": "my_location"})
        got = call(http, "GET", "/experiments/get", experiment_id=eid["experiment_id"])
        assert got["experiment"]["artifact_location"] == str(root / "my_location")
        up = http.post(API + "/experiments/create", json={"name": "f", "artifact_location": "../escape"})
        assert up.status_code == 400


def test_model_version_artifact_through_its_source(http: httpx.Client) -> None:
    """``/model-versions/get-artifact`` reads a file of the version's source (here ``runs:/<id>/model``);
    a hostile path is MLflow's "Invalid path" before any lookup."""
    run_id = new_run(http)
    assert _upload(http, run_id, "model/MLmodel", b"flavors: {}").status_code == 200
    name = f"m-{uuid.uuid4().hex}"
    assert http.post(API + "/registered-models/create", json={"name": name}).status_code == 200
    created = http.post(
        API + "/model-versions/create",
        json={"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id},
    )
    assert created.status_code == 200, created.text
    got = http.get("/model-versions/get-artifact", params={"name": name, "version": 1, "path": "MLmodel"})
    assert (got.status_code, got.content) == (200, b"flavors: {}"), got.text
    for path in ("/model-versions/get-artifact", "//model-versions/get-artifact"):
        bad = http.get(path, params={"name": "model", "version": 1, "path": "../path"})
        assert bad.status_code == 400 and bad.json()["message"] == "Invalid path"
    missing = http.get("/model-versions/get-artifact", params={"name": name, "version": 7, "path": "MLmodel"})
    assert missing.status_code == 404
