"""``--max-artifact-size``: an upload over the limit gets 413 and leaves nothing behind, whether its size is
announced (``Content-Length``), only discovered while streaming (chunked), or the sum of multipart parts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from artifact_server_helpers import MiB
from servers import ServerProcess, asynctrack_server, running

ARTIFACTS = "/api/2.0/mlflow-artifacts"
LIMIT = 5 * MiB  # above the 4 MiB written in one go, so both upload paths are covered


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("limited")
    dest = tmp / "dest"
    extra = ["--serve-artifacts", "--artifacts-destination", str(dest), "--max-artifact-size", "5M"]
    with running(asynctrack_server(tmp, extra=extra)) as srv:
        yield srv, dest


@pytest.fixture
def http(limited: tuple[ServerProcess, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited[0].url, timeout=60) as c:
        yield c


def _files(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())


def _too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    data = response.json()
    assert data["error_code"] == "BAD_REQUEST"
    assert "at most 5242880 bytes" in data["message"] and "--max-artifact-size" in data["message"]


def _chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b"z" * n
        sent += n


def test_uploads_up_to_the_limit_are_stored(http: httpx.Client, limited: tuple[ServerProcess, Path]) -> None:
    dest = limited[1]
    for name, size in (("small.bin", MiB), ("exact.bin", LIMIT)):
        assert http.put(f"{ARTIFACTS}/artifacts/ok/{name}", content=b"a" * size).status_code == 200
        assert (dest / "ok" / name).stat().st_size == size
    assert http.put(f"{ARTIFACTS}/artifacts/ok/chunked.bin", content=_chunks(LIMIT)).status_code == 200
    assert (dest / "ok" / "chunked.bin").stat().st_size == LIMIT


def test_over_the_limit_is_413_and_nothing_is_left(
    http: httpx.Client, limited: tuple[ServerProcess, Path]
) -> None:
    dest = limited[1]
    before = _files(dest)
    _too_large(http.put(f"{ARTIFACTS}/artifacts/big/announced.bin", content=b"a" * (LIMIT + 1)))
    # No Content-Length: the server finds out while streaming, after 5 MiB are on disk in a temporary file.
    _too_large(http.put(f"{ARTIFACTS}/artifacts/big/chunked.bin", content=_chunks(LIMIT + 3 * MiB)))
    assert _files(dest) == before
    assert not (dest / "big" / "announced.bin").exists() and not (dest / "big" / "chunked.bin").exists()
    # The connection and the server are fine afterwards.
    assert http.put(f"{ARTIFACTS}/artifacts/big/after.bin", content=b"ok").status_code == 200


def test_multipart_parts_and_their_sum_are_limited(
    http: httpx.Client, limited: tuple[ServerProcess, Path]
) -> None:
    dest = limited[1]
    before = _files(dest)

    def start() -> str:
        created = http.post(f"{ARTIFACTS}/mpu/create/mp", json={"path": "joined.bin", "num_parts": 2})
        assert created.status_code == 200, created.text
        return str(created.json()["upload_id"])

    upload_id = start()
    _too_large(http.put(f"{ARTIFACTS}/mpu/parts/{upload_id}/1", content=_chunks(LIMIT + MiB)))
    assert (
        http.post(
            f"{ARTIFACTS}/mpu/abort/mp", json={"path": "joined.bin", "upload_id": upload_id}
        ).status_code
        == 200
    )

    upload_id = start()
    etags = []
    for n in (1, 2):
        part = http.put(f"{ARTIFACTS}/mpu/parts/{upload_id}/{n}", content=b"p" * (3 * MiB))
        assert part.status_code == 200, part.text
        etags.append({"part_number": n, "etag": part.headers["etag"]})
    _too_large(
        http.post(
            f"{ARTIFACTS}/mpu/complete/mp",
            json={"path": "joined.bin", "upload_id": upload_id, "parts": etags},
        )
    )
    assert _files(dest) == before  # neither the parts nor the joined file remain
