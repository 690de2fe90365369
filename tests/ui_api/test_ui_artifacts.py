"""Artifact listing and previews through the UI API, against real servers: only through the configured
artifact roots, hostile paths refused, active content never served as such."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import ServerProcess, asynctrack_server, running
from ui_helpers import HOSTILE, UI, api, new_experiment, new_run, ui, ui_fails

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cf"
)
FILES = {
    "notes.txt": b"hello\n",
    "metrics/summary.json": b'{"a": 1}',
    "table.csv": b"a,b\n1,2\n",
    "plot.png": PNG,
    "page.html": b"<html><script>alert(1)</script></html>",
    "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "model/MLmodel": b"flavors: {}\n",
    f"{HOSTILE}.txt": b"hostile name\n",
}


def _run_with_files(client: httpx.Client) -> str:
    eid = new_experiment(client)
    run_id = new_run(client, eid)
    for path, data in FILES.items():
        url = f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{run_id}/artifacts/{path}"
        assert client.put(url, content=data).status_code == 200
    return run_id


def _get(client: httpx.Client, run_id: str, path: str, **extra: str) -> httpx.Response:
    return client.get(UI + "/artifacts/get", params={"run_id": run_id, "path": path, **extra})


def test_list_tree(client: httpx.Client) -> None:
    run_id = _run_with_files(client)
    root = ui(client, "/artifacts/list", run_id=run_id)["files"]
    assert {f["path"]: f["is_dir"] for f in root} == {
        f"{HOSTILE}.txt": False,
        "logo.svg": False,
        "metrics": True,
        "model": True,
        "notes.txt": False,
        "page.html": False,
        "plot.png": False,
        "table.csv": False,
    }
    sizes = {f["path"]: f["file_size"] for f in root}
    assert sizes["notes.txt"] == 6 and sizes["metrics"] is None
    sub = ui(client, "/artifacts/list", run_id=run_id, path="metrics")["files"]
    assert sub == [{"path": "metrics/summary.json", "is_dir": False, "file_size": 8}]
    assert ui(client, "/artifacts/list", run_id=run_id, path="nothing/here")["files"] == []


@pytest.mark.parametrize(
    ("path", "media", "disposition"),
    [
        ("notes.txt", "text/plain; charset=utf-8", "inline"),
        ("metrics/summary.json", "application/json", "inline"),
        ("table.csv", "text/csv; charset=utf-8", "inline"),
        ("plot.png", "image/png", "inline"),
        ("page.html", "application/octet-stream", "attachment"),
        ("logo.svg", "application/octet-stream", "attachment"),
        ("model/MLmodel", "application/octet-stream", "attachment"),
        (f"{HOSTILE}.txt", "text/plain; charset=utf-8", "inline"),
    ],
)
def test_get_serves_passive_types_only(client: httpx.Client, path: str, media: str, disposition: str) -> None:
    run_id = _run_with_files(client)
    response = _get(client, run_id, path)
    assert response.status_code == 200, response.text
    assert response.content == FILES[path]
    assert response.headers["content-type"] == media
    assert response.headers["content-disposition"].startswith(disposition)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    assert "<" not in response.headers["content-disposition"]  # a hostile name is percent-encoded
    download = _get(client, run_id, path, download="1")
    assert download.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize(
    "path",
    [
        "../../../etc/passwd",
        "/etc/passwd",
        "%2e%2e/%2e%2e/x",
        "a/../../x",
        "file:///etc/passwd",
        "..\\x",
        "a\x00b",
    ],
)
def test_hostile_paths_are_refused(client: httpx.Client, path: str) -> None:
    run_id = _run_with_files(client)
    for endpoint in ("/artifacts/get", "/artifacts/list"):
        status, err = ui_fails(client, endpoint, run_id=run_id, path=path)
        assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE", (endpoint, path, err)


def test_errors(client: httpx.Client) -> None:
    run_id = _run_with_files(client)
    status, err = ui_fails(client, "/artifacts/get", run_id=run_id, path="missing.txt")
    assert status == 404 and err["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    status, err = ui_fails(client, "/artifacts/get", run_id=run_id, path="metrics")
    assert status == 400 and "directory" in err["message"]
    status, err = ui_fails(client, "/artifacts/get", run_id=run_id)
    assert status == 400 and "path" in err["message"]
    status, err = ui_fails(client, "/artifacts/list", run_id="f" * 32)
    assert status == 404


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """A server without --serve-artifacts: runs keep their artifacts under the store's own root."""
    tmp = tmp_path_factory.mktemp("ui-local")
    with running(asynctrack_server(tmp)) as srv:
        yield srv, tmp


def test_local_root_readable_and_locations_outside_the_roots_refused(
    local_server: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    server, tmp = local_server
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"server-side secret")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        eid = new_experiment(client)
        run_id = new_run(client, eid)
        uri = api(client, "/runs/get", run_id=run_id)["run"]["info"]["artifact_uri"]
        root = Path(uri.removeprefix("file://"))
        root.mkdir(parents=True)
        (root / "ok.txt").write_bytes(b"fine")
        (root / "escape.txt").symlink_to(secret)  # a link out of the root is not followed
        assert _get(client, run_id, "ok.txt").content == b"fine"
        status, err = ui_fails(client, "/artifacts/get", run_id=run_id, path="escape.txt")
        assert status in (400, 403, 404) and b"secret" not in str(err).encode()

        # Runs whose artifact_uri points elsewhere (written into the shared database by another process,
        # or before the server refused such locations): never read.
        hostile = {
            new_run(client, eid): str(tmp_path),
            new_run(client, eid): f"file://{tmp_path}",
            new_run(client, eid): "mlflow-artifacts:/x",  # this server serves no artifacts
            new_run(client, eid): f"{root}/../../../../{tmp_path}",
        }
        with sqlite3.connect(tmp / "server.db") as db:
            for rid, location in hostile.items():
                db.execute("UPDATE runs SET artifact_uri = ? WHERE run_id = ?", (location, rid))
        for rid, location in hostile.items():
            for endpoint, params in (("/artifacts/get", {"path": "secret.txt"}), ("/artifacts/list", {})):
                status, err = ui_fails(client, endpoint, run_id=rid, **params)
                assert status == 403 and err["error_code"] == "PERMISSION_DENIED", (location, err)
                assert "server-side secret" not in err["message"]


def test_symlinked_directories_out_of_the_root_are_not_followed(
    local_server: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    """A directory inside the run's root that is a link to elsewhere is neither listed into nor read
    through, and hostile run ids (encoded '..', NUL, absolute paths) are a 400 naming the value."""
    server, _ = local_server
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"server-side secret")
    (outside / "deep" / "more.txt").write_bytes(b"server-side secret")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        run_id = new_run(client, new_experiment(client))
        uri = api(client, "/runs/get", run_id=run_id)["run"]["info"]["artifact_uri"]
        root = Path(uri.removeprefix("file://"))
        root.mkdir(parents=True)
        (root / "inside").mkdir()
        (root / "inside" / "ok.txt").write_bytes(b"fine")
        (root / "linked").symlink_to(outside, target_is_directory=True)
        (root / "inside" / "up").symlink_to(outside / "deep", target_is_directory=True)
        listed = ui(client, "/artifacts/list", run_id=run_id)["files"]
        assert {f["path"] for f in listed} == {"inside"}  # the link out is hidden
        assert {f["path"] for f in ui(client, "/artifacts/list", run_id=run_id, path="inside")["files"]} == {
            "inside/ok.txt"
        }
        for path in ("linked/secret.txt", "inside/up/more.txt", "linked/../inside/ok.txt"):
            response = _get(client, run_id, path)
            assert response.status_code in (400, 403, 404), (path, response.status_code)
            assert b"server-side secret" not in response.content
        for path in ("linked", "inside/up", "linked/deep"):
            response = client.get(UI + "/artifacts/list", params={"run_id": run_id, "path": path})
            assert b"secret" not in response.content and b"more.txt" not in response.content, path
            assert response.status_code in (200, 400, 403, 404), (path, response.text)
        for hostile in ("..", "%2e%2e", "%252e%252e", "/etc/passwd", "a\x00b", run_id + "/..", "9" * 5000):
            for endpoint in ("/artifacts/list", "/artifacts/get"):
                status, err = ui_fails(client, endpoint, run_id=hostile, path="ok.txt")
                assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE", (hostile, err)
                assert "run_id" in err["message"] or "run ID" in err["message"], err
