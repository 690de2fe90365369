"""Path traversal is rejected on every artifact API, with INVALID_PARAMETER_VALUE naming the path and the
rule, and nothing is ever written outside the artifact root.

Each MLflow CVE on artifact paths is turned into cases here (the client and local-storage side; the
server endpoints get theirs with the server):

- CVE-2023-1177: ``..`` segments in an artifact path read files outside the run's artifacts.
- CVE-2023-2780, CVE-2023-6831, CVE-2023-6977: the same with backslashes (``..\\..\\``), a separator on
  Windows that bypassed the ``/``-only check.
- CVE-2023-6909, CVE-2024-1594, CVE-2024-3848: a URL fragment (``#``) hiding a traversal, in a path or in an
  experiment's ``artifact_location``.
- CVE-2024-1483: a query string (``?``) in an artifact location, to which run paths were appended.
- CVE-2024-1558: percent-encoded ``..`` (``%2e%2e``) checked before decoding, then used decoded.
- CVE-2024-1560: double-encoded ``..`` (``%252e%252e``) decoded a second time on delete.
- CVE-2024-1593: ``;`` path parameters smuggling ``../``.
- MLflow PR #18964 (2025): symlinks inside the artifact directory leading outside it.
- And one MLflow 3.17.2 itself still has on the client: ``client.download_artifacts(run_id, "../x")`` and
  ``load_text("runs:/<run_id>/../x")`` read ``<run dir>/x``, outside the artifacts (its runs:/ URI is split
  into ``runs:/<run_id>/..`` and ``x``; checked by hand against mlflow==3.17.2).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from artifact_helpers import Outside
from hypothesis import HealthCheck, given, settings

import asynctrack as mlflow
from asynctrack import MlflowClient, MlflowException
from asynctrack.artifacts import LocalArtifactRepository
from asynctrack.artifacts._paths import check_path, decodings, inside
from asynctrack.artifacts._sync import call

# (path, CVE or rule it stands for)
BAD_PATHS = [
    ("../secret.txt", "CVE-2023-1177"),
    ("a/../../secret.txt", "CVE-2023-1177"),
    ("../../../../../../etc/passwd", "CVE-2023-1177"),
    ("a/..", "CVE-2023-1177"),
    ("..\\secret.txt", "CVE-2023-2780"),
    ("a\\..\\..\\secret.txt", "CVE-2023-6831"),
    ("x#/../../secret.txt", "CVE-2023-6909"),
    ("#/../secret.txt", "CVE-2024-1594"),
    ("%2e%2e/secret.txt", "CVE-2024-1558"),
    ("%2E%2E%2Fsecret.txt", "CVE-2024-1558"),
    ("..%2fsecret.txt", "CVE-2024-1558"),
    ("%2e%2e%5csecret.txt", "CVE-2024-1558"),
    ("%252e%252e/secret.txt", "CVE-2024-1560"),
    ("%25252e%25252e%25252fsecret.txt", "CVE-2024-1560"),
    ("a;/../../secret.txt", "CVE-2024-1593"),
    ("/etc/passwd", "absolute"),
    ("//server/share/x", "absolute"),
    ("C:/Windows/win.ini", "absolute"),
    ("file:///etc/passwd", "URI"),
    ("a\x00b.txt", "NUL"),
    ("a\nb.txt", "control character"),
]
IDS = [f"{why}:{path!r}" for path, why in BAD_PATHS]


def expect_invalid(fn: Callable[[], Any], path: str) -> MlflowException:
    with pytest.raises(MlflowException) as info:
        fn()
    assert info.value.error_code == "INVALID_PARAMETER_VALUE", info.value.message
    assert repr(path)[1:-1] in info.value.message  # the path is named (as repr shows it)
    assert "not allowed" in info.value.message or "outside" in info.value.message
    return info.value


@pytest.fixture
def secret(artifact_dir: Path) -> Path:
    """A file beside the run's artifact directory, where ``../secret.txt`` would lead."""
    path = artifact_dir.parent / "secret.txt"
    path.write_text("SECRET")
    return path


@pytest.mark.parametrize(("path", "why"), BAD_PATHS, ids=IDS)
def test_every_api_rejects_the_path(
    path: str, why: str, client: MlflowClient, run_id: str, artifact_dir: Path, secret: Path, tmp_path: Path
) -> None:
    """Logging, listing, downloading, loading, deleting and URI building all refuse the path, and nothing
    changes outside the artifact directory."""
    src = tmp_path / "src.txt"
    src.write_text("payload")
    srcdir = tmp_path / "srcdir"
    srcdir.mkdir()
    (srcdir / "f.txt").write_text("f")
    dst = tmp_path / "dst"
    dst.mkdir()
    (artifact_dir / "ok.txt").write_text("ok")
    outside = Outside(tmp_path, artifact_dir)
    repo = LocalArtifactRepository(str(artifact_dir))
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    apis: list[Callable[[], Any]] = [
        lambda: client.log_artifact(run_id, src, artifact_path=path),
        lambda: client.log_artifact(run_id, src, artifact_path=path, synchronous=False),
        lambda: client.log_artifacts(run_id, srcdir, artifact_path=path),
        lambda: client.log_text(run_id, "x", path),
        lambda: client.log_text(run_id, "x", path, synchronous=False),
        lambda: client.log_dict(run_id, {"a": 1}, path),
        lambda: client.log_image(run_id, image, artifact_file=path),
        lambda: client.list_artifacts(run_id, path),
        lambda: client.download_artifacts(run_id, path),
        lambda: client.download_artifacts(run_id, path, str(dst)),
        lambda: mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst)),
        lambda: mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path=path),
        lambda: mlflow.artifacts.load_text(f"runs:/{run_id}/{path}"),
        lambda: call(repo.delete_artifacts, path),
        lambda: call(repo.write_artifact, b"x", path),
        lambda: call(repo.download_artifacts, path, str(dst)),
    ]
    for api in apis:
        expect_invalid(api, path)
    with mlflow.start_run(run_id=run_id):
        expect_invalid(lambda: mlflow.get_artifact_uri(path), path)
        expect_invalid(lambda: mlflow.log_text("x", path), path)
    mlflow.flush_async_logging()
    outside.unchanged()
    assert secret.read_text() == "SECRET"
    assert sorted(os.listdir(dst)) == []
    assert sorted(p.name for p in artifact_dir.iterdir()) == ["ok.txt"]


def test_mlflow_3_17_runs_uri_traversal_is_closed(
    client: MlflowClient, run_id: str, artifact_dir: Path, secret: Path, tmp_path: Path
) -> None:
    """MLflow 3.17.2 returns SECRET for each of these (the file beside the run's artifacts); we refuse."""
    (tmp_path / "dst").mkdir()
    for read in (
        lambda: client.download_artifacts(run_id, "../secret.txt", str(tmp_path / "dst")),
        lambda: mlflow.artifacts.load_text(f"runs:/{run_id}/../secret.txt"),
        lambda: mlflow.artifacts.download_artifacts(artifact_uri=f"{artifact_dir}/../secret.txt"),
    ):
        with pytest.raises(MlflowException) as info:
            read()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "'..' segments are not allowed" in info.value.message
    assert list((tmp_path / "dst").iterdir()) == []


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("file://{base}/loc#/../../escape", "CVE-2024-1594: fragment"),
        ("file://{base}/loc?x=/../../escape", "CVE-2024-1483: query"),
        ("{base}/loc/../../escape", "'..' in the location"),
        ("file://{base}/loc/%2e%2e/%2e%2e/escape", "encoded '..' in a file URI"),
        ("file://evil.example.com/share", "a file URI on another host"),
    ],
)
def test_unsafe_experiment_artifact_location_is_refused(
    location: str, why: str, client: MlflowClient, tmp_path: Path
) -> None:
    """An experiment whose artifact location hides a traversal (or names another host) gets no artifacts:
    every call on its runs fails with INVALID_PARAMETER_VALUE and nothing is written anywhere."""
    base = tmp_path / "base"
    base.mkdir()
    exp = client.create_experiment(f"bad {why}", artifact_location=location.format(base=base))
    run_id = client.create_run(exp).info.run_id
    before = sorted(p for p in tmp_path.rglob("*") if not p.name.startswith("t.db"))
    for api in (
        lambda: client.log_text(run_id, "x", "a.txt"),
        lambda: client.list_artifacts(run_id),
        lambda: client.download_artifacts(run_id, "a.txt"),
    ):
        with pytest.raises(MlflowException) as info:
            api()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "Invalid artifact URI" in info.value.message
    assert sorted(p for p in tmp_path.rglob("*") if not p.name.startswith("t.db")) == before


def test_reserved_and_unusable_file_names(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    """Names of in-progress uploads are reserved (as in MLflow); a local file whose own name breaks a rule
    cannot be logged under it."""
    for name in (".artifact.uploading.x", "dir/.artifact.uploading.y"):
        expect_invalid(lambda name=name: client.log_text(run_id, "x", name), name)
    odd = tmp_path / "a#b.txt"
    odd.write_text("x")
    expect_invalid(lambda: client.log_artifact(run_id, odd), "a#b.txt")
    expect_invalid(lambda: client.log_text(run_id, "x", "."), ".")


# -- symlinks


@pytest.fixture
def outside_dir(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("SECRET")
    return d


def test_symlink_leading_outside_is_neither_listed_nor_downloaded(
    client: MlflowClient, run_id: str, artifact_dir: Path, outside_dir: Path, tmp_path: Path
) -> None:
    """A directory link and a file link inside the artifacts that lead outside are left out of listings
    and downloads of the whole root, and refused when named."""
    (artifact_dir / "ok.txt").write_text("ok")
    (artifact_dir / "linkdir").symlink_to(outside_dir, target_is_directory=True)
    (artifact_dir / "link.txt").symlink_to(outside_dir / "secret.txt")
    assert [f.path for f in client.list_artifacts(run_id)] == ["ok.txt"]
    dst = tmp_path / "dst"
    local = client.download_artifacts(run_id, "", str(dst))
    assert sorted(os.listdir(local)) == ["ok.txt"]
    for path in ("linkdir", "linkdir/secret.txt", "link.txt"):
        with pytest.raises(MlflowException) as info:
            client.download_artifacts(run_id, path, str(dst))
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "outside the artifact root" in info.value.message
    with pytest.raises(MlflowException, match="outside the artifact root"):
        client.list_artifacts(run_id, "linkdir")


def test_writes_through_a_symlink_leading_outside_are_refused(
    client: MlflowClient, run_id: str, artifact_dir: Path, outside_dir: Path, tmp_path: Path
) -> None:
    """Logging into a linked directory that leads outside writes nothing there."""
    (artifact_dir / "linkdir").symlink_to(outside_dir, target_is_directory=True)
    src = tmp_path / "evil.txt"
    src.write_text("EVIL")
    outside = Outside(tmp_path, artifact_dir)
    for api in (
        lambda: client.log_artifact(run_id, src, "linkdir"),
        lambda: client.log_text(run_id, "EVIL", "linkdir/secret.txt"),
        lambda: client.log_text(run_id, "EVIL", "linkdir/new/x.txt"),
        lambda: client.log_artifacts(run_id, tmp_path / "outside", "linkdir/sub"),
    ):
        with pytest.raises(MlflowException) as info:
            api()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    outside.unchanged()
    assert sorted(os.listdir(outside_dir)) == ["secret.txt"]
    assert (outside_dir / "secret.txt").read_text() == "SECRET"


def test_symlink_inside_the_root_is_followed(client: MlflowClient, run_id: str, artifact_dir: Path) -> None:
    """A link that stays inside the artifact root is an ordinary entry."""
    (artifact_dir / "real").mkdir()
    (artifact_dir / "real" / "a.txt").write_text("A")
    (artifact_dir / "alias").symlink_to(artifact_dir / "real", target_is_directory=True)
    assert [f.path for f in client.list_artifacts(run_id, "alias")] == ["alias/a.txt"]
    assert Path(client.download_artifacts(run_id, "alias/a.txt")).read_text() == "A"


def test_download_never_writes_through_links_in_the_destination(
    client: MlflowClient, run_id: str, outside_dir: Path, tmp_path: Path
) -> None:
    """A destination whose subdirectory is a link leading elsewhere is refused; a link at a downloaded
    file's own name is replaced, never written through."""
    client.log_text(run_id, "new", "d/secret.txt")
    client.log_text(run_id, "new", "f.txt")
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "d").symlink_to(outside_dir, target_is_directory=True)
    with pytest.raises(MlflowException, match="outside"):
        mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(dst))
    assert (outside_dir / "secret.txt").read_text() == "SECRET"
    dst2 = tmp_path / "dst2"
    dst2.mkdir()
    (dst2 / "f.txt").symlink_to(outside_dir / "secret.txt")
    client.download_artifacts(run_id, "f.txt", str(dst2))
    assert (outside_dir / "secret.txt").read_text() == "SECRET"
    assert not (dst2 / "f.txt").is_symlink() and (dst2 / "f.txt").read_text() == "new"


# -- the rules themselves


def test_canonical_forms() -> None:
    """Empty and '.' segments are dropped; ordinary names (percent signs, spaces, unicode) are kept as
    they are."""
    assert check_path("a//b/./c") == "a/b/c"
    assert check_path("./a/") == "a"
    assert check_path(None) == "" and check_path("") == "" and check_path(".") == ""
    for name in ("100%.txt", "a b.txt", "é/ü.txt", "a%20b", "v1.2..3", "...", "a..b"):
        assert check_path(name) == name


_ALPHABET = st.sampled_from(["a", ".", "..", "/", "\\", "%", "2", "5", "e", "E", "f", "c", "#", "\x00", ":"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=12).map("".join))
def test_every_accepted_path_stays_inside(raw: str) -> None:
    """Fuzzed: a path is either refused, or none of its decodings has a '..' segment, a backslash or a
    leading '/', and it joins to a place inside the root."""
    try:
        clean = check_path(raw)
    except MlflowException as exc:
        assert exc.error_code == "INVALID_PARAMETER_VALUE"
        return
    for variant in decodings(raw) + decodings(clean):
        assert ".." not in variant.split("/") and "\\" not in variant and not variant.startswith("/")
    root = "/srv/root"
    joined = os.path.normpath(os.path.join(root, clean))
    assert joined == root or joined.startswith(root + "/")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.lists(_ALPHABET, min_size=1, max_size=8).map("".join))
def test_fuzzed_writes_land_inside_the_root(raw: str, tmp_path: Path) -> None:
    """Fuzzed against a real directory: a write either is refused or creates a file inside the root."""
    root = tmp_path / "fuzz" / "root"
    root.mkdir(parents=True, exist_ok=True)
    repo = LocalArtifactRepository(str(root))
    before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(root)}
    try:
        call(repo.write_artifact, b"x", raw + "/f.txt")
    except MlflowException as exc:
        assert exc.error_code == "INVALID_PARAMETER_VALUE"
    assert {p for p in tmp_path.rglob("*") if not p.is_relative_to(root)} == before
    for p in root.rglob("*"):
        assert inside(str(root), str(p))
