"""The artifact API beyond what the MLflow parity workload covers: optional libraries (lazy imports, the
error when one is missing), plotly figures, streams, the repository registry, deletes, atomic writes."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient, MlflowException
from asynctrack.artifacts import (
    ArtifactRepository,
    FileInfo,
    LocalArtifactRepository,
    MissingDependency,
    get_artifact_repository,
    register_artifact_repository,
)
from asynctrack.artifacts._repository import _registry
from asynctrack.artifacts._sync import call


def test_importing_asynctrack_loads_no_optional_library() -> None:
    """Pillow, matplotlib, plotly and PyYAML are imported by the calls that need them, not before."""
    code = (
        "import sys, asynctrack, asynctrack.artifacts\n"
        "heavy = [m for m in ('PIL', 'matplotlib', 'plotly', 'yaml') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "package", "call_it"),
    [
        ("yaml", "PyYAML", lambda c, r: c.log_dict(r, {"a": 1}, "c.yaml")),
        ("PIL", "Pillow", lambda c, r: c.log_image(r, np.zeros((2, 2), dtype=np.uint8), "i.png")),
        ("PIL", "Pillow", lambda c, r: mlflow.artifacts.load_image(f"runs:/{r}/i.png")),
        ("pandas", "pandas", lambda c, r: c.log_table(r, {"a": [1]}, "t.json")),
    ],
)
def test_missing_optional_library_is_named_with_its_pip_command(
    module: str,
    package: str,
    call_it: Any,
    monkeypatch: pytest.MonkeyPatch,
    client: MlflowClient,
    run_id: str,
) -> None:
    """Without the library: an MlflowException (an ImportError too, as MLflow raises) naming the package
    and how to install it; nothing is logged."""
    monkeypatch.setitem(sys.modules, module, None)  # makes "import module" raise ImportError
    monkeypatch.setitem(sys.modules, f"{module}.Image", None)
    with pytest.raises(MissingDependency) as info:
        call_it(client, run_id)
    assert isinstance(info.value, ImportError) and isinstance(info.value, MlflowException)
    assert f"pip install {package}" in info.value.message and "asynctrack[artifacts]" in info.value.message
    assert client.list_artifacts(run_id) == []


def test_plotly_figure_as_html(client: MlflowClient, run_id: str, artifact_dir: Path) -> None:
    """A plotly figure logged as .html is plotly's own HTML with plotly.js from the CDN (MLflow's
    defaults); other extensions need kaleido, and unknown ones are refused as in MLflow."""
    go = pytest.importorskip("plotly.graph_objects")
    fig = go.Figure(data=go.Scatter(x=[1, 2], y=[3, 4]))
    client.log_figure(run_id, fig, "plots/p.html")
    html = (artifact_dir / "plots" / "p.html").read_text(encoding="utf-8")
    assert "<html>" in html and "cdn.plot.ly" in html and '"x":[1,2]' in html
    with pytest.raises(TypeError, match="Unsupported file extension for plotly figure: '.txt'"):
        client.log_figure(run_id, fig, "plots/p.txt")


def test_matplotlib_figure_save_kwargs(client: MlflowClient, run_id: str, artifact_dir: Path) -> None:
    """save_kwargs reach savefig; the extension picks the format."""
    pytest.importorskip("matplotlib")
    pil = pytest.importorskip("PIL.Image")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1])
    client.log_figure(run_id, fig, "f.png", save_kwargs={"dpi": 100})
    client.log_figure(run_id, fig, "f.pdf")
    plt.close(fig)
    with pil.open(artifact_dir / "f.png") as image:
        assert image.size == (200, 100)
    assert (artifact_dir / "f.pdf").read_bytes().startswith(b"%PDF")


def test_log_stream_and_get_artifact_uri(
    active_run: mlflow.ActiveRun, caplog: pytest.LogCaptureFixture
) -> None:
    """log_stream copies a binary stream; get_artifact_uri joins onto the run's root."""
    mlflow.log_stream(io.BytesIO(b"abc" * 1000), "streams/s.bin")
    root = active_run.info.artifact_uri
    assert root is not None and mlflow.get_artifact_uri() == root
    assert mlflow.get_artifact_uri("streams/s.bin") == f"{root}/streams/s.bin"
    assert Path(root, "streams", "s.bin").read_bytes() == b"abc" * 1000


def test_get_artifact_uri_starts_a_run(tmp_tracking: str, caplog: pytest.LogCaptureFixture) -> None:
    """Without an active run, get_artifact_uri warns and starts one, as MLflow does."""
    with caplog.at_level(logging.WARNING, logger="asynctrack"):
        uri = mlflow.get_artifact_uri()
    run = mlflow.active_run()
    assert run is not None and uri == run.info.artifact_uri
    assert "No active run found" in caplog.text


def test_log_table_image_columns(client: MlflowClient, run_id: str, artifact_dir: Path) -> None:
    """A column of images is logged as images (full size and a 256 px WebP) and the table holds their
    paths, as MLflow's log_table does; the caller's DataFrame is left unchanged."""
    pd = pytest.importorskip("pandas")
    pil = pytest.importorskip("PIL.Image")
    frame = pd.DataFrame({"img": [pil.new("RGB", (10, 10)), pil.new("RGB", (20, 10))], "n": [1, 2]})
    client.log_table(run_id, frame, "evals/table.json")
    table = json.loads((artifact_dir / "evals" / "table.json").read_text())
    assert table["columns"] == ["img", "n"]
    cell = table["data"][0][0]
    assert cell["type"] == "image" and cell["filepath"].startswith("table_images/evals/table/")
    assert (artifact_dir / cell["filepath"]).exists() and (
        artifact_dir / cell["compressed_filepath"]
    ).exists()
    assert isinstance(frame["img"][0], pil.Image)
    with pytest.raises(ValueError, match="mix of images and non-images"):
        client.log_table(run_id, {"c": [pil.new("RGB", (1, 1)), 3]}, "bad.json")


def test_delete_and_listing_hide_partial_uploads(tmp_path: Path) -> None:
    """delete_artifacts removes files and directories; temporary upload files are never listed."""
    repo = LocalArtifactRepository(str(tmp_path / "root"))
    call(repo.write_artifact, b"1", "a/x.txt")
    call(repo.write_artifact, b"2", "b.txt")
    (tmp_path / "root" / "a" / ".artifact.uploading.123").write_bytes(b"partial")
    assert call(repo.list_artifacts, "a") == [FileInfo("a/x.txt", False, 1)]
    call(repo.delete_artifacts, "a")
    assert [f.path for f in call(repo.list_artifacts, None)] == ["b.txt"]
    call(repo.delete_artifacts, None)
    assert not (tmp_path / "root").exists()


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    """A write that fails midway leaves neither the destination nor a temporary file behind."""
    repo = LocalArtifactRepository(str(tmp_path / "root"))
    call(repo.write_artifact, b"old", "f.txt")

    async def chunks() -> Any:
        yield b"new data"
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        call(repo.write_artifact, chunks(), "f.txt")
    assert os.listdir(tmp_path / "root") == ["f.txt"]
    assert (tmp_path / "root" / "f.txt").read_bytes() == b"old"


def test_file_uris_and_relative_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local roots as MLflow reads them: file:///abs, file:/abs, file://localhost/abs, and relative paths
    against the working directory."""
    monkeypatch.chdir(tmp_path)
    for uri in (f"file://{tmp_path}/r", f"file:{tmp_path}/r", f"file://localhost{tmp_path}/r", "r"):
        repo = get_artifact_repository(uri)
        assert isinstance(repo, LocalArtifactRepository) and repo.root == str(tmp_path / "r")
    assert LocalArtifactRepository(f"file://{tmp_path}/with%20space").root == str(tmp_path / "with space")


def test_repositories_plug_in_by_scheme(tmp_path: Path) -> None:
    """An unknown scheme names the registered ones; a registered repository serves its URIs, and the
    generic download works through its list and _download_file."""
    with pytest.raises(MlflowException, match=r"registered schemes are: \['', 'file', 'mlflow-artifacts'"):
        get_artifact_repository("s3://bucket/0/abc/artifacts")

    class MemoryRepository(ArtifactRepository):
        files = {"a.txt": b"A", "d/a.txt": b"A", "d/e/b.txt": b"B"}

        async def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None: ...
        async def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None: ...
        async def write_artifact(self, data: Any, artifact_file: str) -> None: ...
        async def delete_artifacts(self, artifact_path: str | None = None) -> None: ...

        async def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
            prefix = f"{path}/" if path else ""
            names = {p[len(prefix) :].split("/")[0] for p in self.files if p.startswith(prefix)}
            return [
                FileInfo(
                    prefix + n, prefix + n not in self.files, len(self.files.get(prefix + n, b"")) or None
                )
                for n in sorted(names)
            ]

        async def _download_file(self, remote_path: str, local_path: str) -> None:
            await anyio.Path(local_path).write_bytes(self.files[remote_path])

    register_artifact_repository("memory", lambda uri, tracking_uri: MemoryRepository(uri, tracking_uri))
    try:
        repo = get_artifact_repository("memory://x")
        local = call(repo.download_artifacts, "d", str(tmp_path))
        assert Path(local, "e", "b.txt").read_bytes() == b"B"
        assert mlflow.artifacts.load_text("memory://x/a.txt") == "A"
    finally:
        del _registry["memory"]


def test_hostile_listing_cannot_escape_the_destination(tmp_path: Path) -> None:
    """A repository (say a compromised server) whose listing names '../' paths gets nothing written outside
    the download directory."""

    class Hostile(LocalArtifactRepository):
        async def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
            return [FileInfo("../escaped.txt", False, 1)]

    (tmp_path / "root" / "d").mkdir(parents=True)
    dst = tmp_path / "dst"
    dst.mkdir()
    with pytest.raises(MlflowException, match="'..' segments are not allowed"):
        call(Hostile(str(tmp_path / "root")).download_artifacts, "", str(dst))
    assert not (tmp_path / "escaped.txt").exists() and list(dst.iterdir()) == []


def test_download_destination_errors(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    """MLflow's errors for a destination that is a file; a missing one is created."""
    client.log_text(run_id, "x", "x.txt")
    (tmp_path / "file").write_text("")
    repo = LocalArtifactRepository(str(tmp_path / "mlruns"))
    with pytest.raises(MlflowException, match="must be a directory") as info:
        call(repo.download_artifacts, "x", str(tmp_path / "file"))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="does not exist") as info:
        call(repo.download_artifacts, "x", str(tmp_path / "missing"))
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert Path(client.download_artifacts(run_id, "x.txt", str(tmp_path / "new" / "dir"))).read_text() == "x"


def test_unknown_run(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as info:
        client.log_text("0" * 32, "x", "x.txt")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_large_file_streams_and_round_trips(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    """A file above the one-hop size streams in chunks; bytes, mode and modification time survive the
    round trip, and no temporary file is left."""
    src = tmp_path / "big.bin"
    data = os.urandom(1024 * 1024) * 9
    src.write_bytes(data)
    os.chmod(src, 0o600)
    os.utime(src, (1_500_000_000, 1_500_000_000))
    client.log_artifact(run_id, src, "blobs")
    local = Path(client.download_artifacts(run_id, "blobs/big.bin", str(tmp_path / "dl")))
    assert local == tmp_path / "dl" / "big.bin" and local.read_bytes() == data
    assert oct(local.stat().st_mode & 0o777) == "0o600" and local.stat().st_mtime == 1_500_000_000
    root = Path(client.get_run(run_id).info.artifact_uri or "")
    assert os.listdir(root / "blobs") == ["big.bin"]


@pytest.mark.slow
def test_figure_detection_with_matplotlib_half_loaded() -> None:
    """matplotlib imported without its figure module (another library did ``import matplotlib``): a plotly
    figure is still recognised (found by the full suite, where test order decides what is loaded)."""
    pytest.importorskip("plotly.graph_objects")
    pytest.importorskip("matplotlib")
    code = (
        "import sys, matplotlib, plotly.graph_objects as go\n"
        "assert 'matplotlib.figure' not in sys.modules\n"
        "from asynctrack.artifacts._media import render_figure\n"
        "print(len(render_figure(go.Figure(), 'p.html', None)) > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr


def test_load_table_selects_exact_entries_and_names_bad_columns(tmp_tracking: str, tmp_path: Path) -> None:
    """Beyond the parity workload: a run whose table name only matches MLflow's LIKE pattern (``_`` is a
    wildcard there) is not read; an unknown extra column is refused with its name and the columns there
    are; a table whose file is gone says which run; the async client answers the same."""
    with mlflow.start_run() as a:
        mlflow.log_param("lr", "0.5")
        mlflow.log_table({"x": [1, 2]}, "eval_results.json")
    with mlflow.start_run():
        mlflow.log_table({"x": [3]}, "evalXresults.json")  # MLflow's filter matches this one as well
    got = mlflow.load_table("eval_results.json", extra_columns=["run_id", "params.lr"])
    assert got.to_dict(orient="list") == {
        "x": [1, 2],
        "run_id": [a.info.run_id] * 2,
        "params.lr": ["0.5"] * 2,
    }

    with pytest.raises(MlflowException, match=r"extra_columns \['nope'\] are not columns .*params.lr") as ei:
        mlflow.load_table("eval_results.json", extra_columns=["run_id", "nope"])
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"

    async def via_async_client() -> Any:
        async with mlflow.AsyncClient() as client:
            return await client.load_table(a.info.experiment_id, "eval_results.json")

    assert anyio.run(via_async_client).to_dict(orient="list") == {"x": [1, 2]}

    os.remove(os.path.join(mlflow.get_run(a.info.run_id).info.artifact_uri, "eval_results.json"))
    with pytest.raises(
        MlflowException, match=f"Artifact eval_results.json not found for run {a.info.run_id}"
    ):
        mlflow.load_table("eval_results.json")
