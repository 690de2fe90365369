"""Path traversal against a real ``asynctrack server --serve-artifacts``: every endpoint, raw HTTP.

Requests are sent as raw request lines (``artifact_server_helpers.raw_request``), so no client normalises
``..`` or backslashes away before the server sees them. The artifacts destination sits next to a directory
``outside`` holding a secret; the destination holds ``trap/link`` (a symlink to ``outside``) and
``trap/secret-link.txt`` (a symlink to the secret). After every test nothing outside the destination has
changed, whatever the answer; refusals are MLflow's error JSON (400 ``INVALID_PARAMETER_VALUE`` for a
path that breaks a rule, as MLflow's ``validate_path_is_safe``).

The cases are MLflow's CVEs on this API turned into requests: CVE-2023-1177 and CVE-2023-6018 (``..``),
CVE-2023-2780 and CVE-2023-6977 (backslashes), CVE-2024-1558 and CVE-2024-1560 (``..`` percent-encoded once
and twice), CVE-2023-6909 and CVE-2024-1594 (``#``), absolute paths and ``file:`` URIs, NUL bytes, and the
symlink escape MLflow fixed in 2025 (PR #18964). MLflow 3.17.2's own server, probed with the same requests,
still writes files named ``..\\x.txt`` and ``x%00.txt``, and its DELETE follows a symlink out of the
destination and removes the file it points to; asynctrack's refuses all three.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from artifact_server_helpers import ARTIFACTS, MPU, raw_request, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import ServerProcess

from asynctrack.artifacts._http import HttpArtifactRepository
from asynctrack.exceptions import MlflowException

SECRET = b"the secret outside the destination"


@pytest.fixture(scope="module")
def outside(at_dest: Path) -> Path:
    """``<parent of the destination>/outside/secret.txt`` and the two traps inside the destination."""
    out = at_dest.parent / "outside"
    out.mkdir(exist_ok=True)
    (out / "secret.txt").write_bytes(SECRET)
    trap = at_dest / "trap"
    trap.mkdir(exist_ok=True)
    if not (trap / "link").is_symlink():
        (trap / "link").symlink_to(out, target_is_directory=True)
        (trap / "secret-link.txt").symlink_to(out / "secret.txt")
    return out


@pytest.fixture(autouse=True)
def nothing_changes_outside(outside: Path, at_dest: Path) -> Iterator[None]:
    def around() -> dict[str, bytes | None]:
        return {k: v for k, v in snapshot(at_dest.parent).items() if not k.startswith(at_dest.name)}

    before = around()
    yield
    assert around() == before
    assert (outside / "secret.txt").read_bytes() == SECRET


def _error(status: int, body: bytes) -> dict[str, str]:
    assert 400 <= status < 500, (status, body)
    data: dict[str, str] = json.loads(body)
    assert set(data) >= {"error_code", "message"}
    return data


def _refused(status: int, body: bytes) -> None:
    """A rule broken: MLflow's 400 INVALID_PARAMETER_VALUE."""
    assert _error(status, body)["error_code"] == "INVALID_PARAMETER_VALUE", body


# Each path below the API route, and the rule it breaks. The destination is <tmp>/dest and outside is
# <tmp>/outside, so "../outside/secret.txt" names the secret.
def _traversals(outside: Path) -> list[str]:
    absolute = str(outside / "secret.txt")
    return [
        "../outside/secret.txt",
        "a/../../outside/secret.txt",
        "%2e%2e/outside/secret.txt",
        "%2E%2E%2Foutside%2Fsecret.txt",
        "..%2foutside%2fsecret.txt",
        "%252e%252e/outside/secret.txt",
        "%25252e%25252e%252foutside%252fsecret.txt",
        "..%5coutside%5csecret.txt",
        "..\\outside\\secret.txt",
        "a\\..\\..\\outside\\secret.txt",
        "secret%00.txt",
        "%00/../outside/secret.txt",
        "/" + absolute,
        urllib.parse.quote(absolute, safe=""),
        "C:/outside/secret.txt",
        "file:" + urllib.parse.quote("//" + absolute, safe=""),
        "a%23/../../outside/secret.txt",
        "trap/link/secret.txt",
        "trap/link/new.txt",
    ]


TRAVERSAL_IDS = [
    "dotdot",
    "inner-dotdot",
    "encoded",
    "encoded-upper-slashes",
    "encoded-slashes",
    "double-encoded",
    "triple-encoded",
    "encoded-backslash",
    "backslash",
    "inner-backslash",
    "nul",
    "nul-segment",
    "absolute",
    "absolute-encoded",
    "drive",
    "file-uri",
    "fragment",
    "symlink-dir",
    "symlink-dir-new",
]


@pytest.mark.parametrize("case", range(len(TRAVERSAL_IDS)), ids=TRAVERSAL_IDS)
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_traversal_is_refused_on_upload_download_and_delete(
    at_server: ServerProcess, outside: Path, method: str, case: int
) -> None:
    """PUT writes nothing outside, GET never returns the secret, DELETE removes nothing outside: 400."""
    path = _traversals(outside)[case]
    status, body = raw_request(at_server.port, method, f"{ARTIFACTS}/{path}".encode(), b"pwned")
    assert SECRET not in body
    _refused(status, body)


@pytest.mark.parametrize(
    "path",
    [
        "../outside",
        "%2e%2e/outside",
        "%252e%252e/outside",
        "..\\outside",
        "/etc",
        "trap/link",
        "a\x00",
        "a#b",
    ],
)
def test_listing_outside_is_refused(http: httpx.Client, outside: Path, path: str) -> None:
    response = http.get(ARTIFACTS, params={"path": path})
    _refused(response.status_code, response.content)
    assert b"secret.txt" not in response.content


def test_symlinks_leading_outside_are_neither_listed_nor_followed(http: httpx.Client, outside: Path) -> None:
    """The traps are invisible in listings and refused when read through."""
    assert http.get(ARTIFACTS, params={"path": "trap"}).json() == {}
    response = http.get(f"{ARTIFACTS}/trap/secret-link.txt")
    _refused(response.status_code, response.content)


def test_a_link_at_the_uploaded_name_is_replaced_not_followed(
    http: httpx.Client, outside: Path, at_dest: Path
) -> None:
    """Writing at a link's own name replaces the link inside the destination, never writes through it
    (the secret is untouched: see the autouse fixture)."""
    own = at_dest / "own-trap"
    own.mkdir(exist_ok=True)
    for name, target in (("file-link.txt", outside / "secret.txt"), ("dir-link", outside)):
        (own / name).unlink(missing_ok=True)
        (own / name).symlink_to(target)
        assert http.put(f"{ARTIFACTS}/own-trap/{name}", content=b"inside").status_code == 200
        assert not (own / name).is_symlink() and (own / name).read_bytes() == b"inside"


@pytest.mark.parametrize(
    ("directory", "local_file"),
    [
        ("../outside", "pwn.bin"),
        ("%2e%2e/outside", "pwn.bin"),
        ("trap/link", "pwn.bin"),
        ("ok", ".."),
        ("ok", "C:\\Users\\me\\..\\"),
        ("ok", "/home/me/a#b.bin"),
        ("ok", "/home/me/.artifact.uploading.x"),
        ("ok", "/home/me/x\x00.bin"),
    ],
)
def test_multipart_create_checks_the_directory_and_the_file_name(
    at_server: ServerProcess, outside: Path, directory: str, local_file: str
) -> None:
    """The artifact a multipart upload writes is ``<directory>/<base name of path>``: both are checked."""
    body = json.dumps({"path": local_file, "num_parts": 1}).encode()
    _refused(*raw_request(at_server.port, "POST", f"{MPU}/create/{directory}".encode(), body))


@pytest.mark.parametrize(
    "target",
    [
        f"{MPU}/parts/../../outside/1",
        f"{MPU}/parts/%2e%2e%2f%2e%2e%2foutside/1",
        f"{MPU}/parts/{'0' * 32}/1",
        f"{MPU}/parts/..%2f..%2f..%2foutside/1",
    ],
)
def test_multipart_parts_only_reach_known_uploads(
    at_server: ServerProcess, outside: Path, target: str
) -> None:
    status, body = raw_request(at_server.port, "PUT", target.encode(), b"pwned")
    assert _error(status, body)["error_code"] in ("RESOURCE_DOES_NOT_EXIST", "ENDPOINT_NOT_FOUND")


@pytest.mark.parametrize("step", ["complete", "abort"])
@pytest.mark.parametrize("upload_id", ["../../outside", "..%2F..%2Foutside", "0" * 31 + "/"])
def test_multipart_upload_ids_are_not_paths(
    http: httpx.Client, outside: Path, step: str, upload_id: str
) -> None:
    body = {"path": "x.bin", "upload_id": upload_id, "parts": [{"part_number": 1, "etag": "x"}]}
    response = http.post(f"{MPU}/{step}/ok", json=body)
    assert _error(response.status_code, response.content)["error_code"] == "RESOURCE_DOES_NOT_EXIST"


_PIECES = [
    "..",
    ".",
    "a",
    "%2e",
    "%2f",
    "%5c",
    "\\",
    "%00",
    "%252e",
    "%25",
    "/",
    "//",
    "#",
    "%23",
    "outside",
    "~",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8))
def test_fuzzed_paths_never_leave_the_destination(
    at_server: ServerProcess, outside: Path, at_dest: Path, pieces: list[str]
) -> None:
    """Random paths from dangerous pieces: every PUT either lands inside the destination or is refused
    with a 4xx; nothing outside changes (checked per example, not only at the end)."""
    before = snapshot(outside)
    target = f"{ARTIFACTS}/{''.join(pieces)}x.bin".replace("#", "%23").encode()
    status, body = raw_request(at_server.port, "PUT", target, b"fuzz")
    assert status == 200 or 400 <= status < 500, (target, status, body)
    assert snapshot(outside) == before


@pytest.mark.parametrize(
    "uri",
    [
        "mlflow-artifacts:/../outside",
        "mlflow-artifacts:/0/%2e%2e/%2e%2e/outside",
        "mlflow-artifacts:/0/%252e%252e/x",
        "mlflow-artifacts:/0/a\\..\\..",
        "mlflow-artifacts:/0/run#/../../x",
        "http://127.0.0.1:1/api/2.0/mlflow-artifacts/artifacts/../outside",
        "http://127.0.0.1:1/api/2.0/mlflow-artifacts/artifacts/%2e%2e/x",
        "http://127.0.0.1:1/not-the-artifact-api/x",
        "mlflow-artifacts:/0/x\x00",
    ],
)
def test_client_refuses_artifact_uris_that_leave_their_root(uri: str) -> None:
    """A run's artifact URI comes from the server: one that would climb out of the destination is refused
    before any request (a hostile server cannot aim the client's writes or reads elsewhere)."""
    with pytest.raises(MlflowException) as info:
        HttpArtifactRepository(uri, "http://127.0.0.1:1")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_client_needs_an_http_tracking_uri_for_mlflow_artifacts() -> None:
    """MLflow's message when an mlflow-artifacts: URI meets a local tracking store."""
    with pytest.raises(MlflowException, match="the tracking URI must be a valid http or https URI"):
        HttpArtifactRepository("mlflow-artifacts:/0/abc/artifacts", "sqlite:///x.db")
    repo = HttpArtifactRepository("mlflow-artifacts://other:5001/0/abc/artifacts", "https://u:p@host/prefix/")
    assert (repo.root, repo._service) == ("0/abc/artifacts", "https://other:5001/prefix/api/2.0")
    assert os.fspath(repo.artifact_uri).startswith("mlflow-artifacts:")
