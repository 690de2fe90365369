"""``synchronous=False`` artifact logging: its own bounded queue on the background loop, RunOperations back,
flushes, ordering, failures, back-pressure, and metrics that keep flowing behind a stuck upload.

An upload that cannot finish until the test says so is a named pipe (FIFO) as the source file: the copy
blocks opening it until the test writes into it. That makes "the metric flush returned before the big
artifact was written" a fact to assert, not a race to time.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient, MlflowException, RunOperations
from asynctrack.artifacts._queue import artifact_queue

BIG = 32 * 1024 * 1024


class Gate:
    """A FIFO source file: an upload of it waits (opening it) until :meth:`release` writes its contents."""

    def __init__(self, path: Path, size: int = 1024) -> None:
        os.mkfifo(path)
        self.path = path
        self.size = size
        self.released = False

    def _open_writer(self, timeout: float) -> int | None:
        # Non-blocking open for writing fails (ENXIO) until the upload has opened its reading end.
        deadline = time.monotonic() + timeout
        while True:
            try:
                return os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.005)

    def release(self, timeout: float = 30.0) -> None:
        """Wait for the upload to open the pipe, then feed it ``size`` bytes and end it."""
        self.released = True
        fd = self._open_writer(timeout)
        assert fd is not None, f"no upload opened {self.path} within {timeout} s"
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb") as f:
            chunk = b"\xab" * (1024 * 1024)
            left = self.size
            while left > 0:
                f.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)

    def abandon(self) -> None:
        """End the pipe (an upload waiting on it gets an empty file), if anything opened it."""
        if not self.released:
            self.released = True
            fd = self._open_writer(0.0)
            if fd is not None:
                os.close(fd)


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[list[Gate]]:
    made: list[Gate] = []
    yield made
    for g in made:  # never leave an upload blocked on a pipe
        g.abandon()


def new_gate(gates: list[Gate], path: Path, size: int = 1024) -> Gate:
    gate = Gate(path, size)
    gates.append(gate)
    return gate


def test_metrics_are_not_held_up_by_a_big_upload(
    client: MlflowClient, run_id: str, artifact_dir: Path, tmp_path: Path, gates: list[Gate]
) -> None:
    """While a 32 MiB upload cannot finish, 20,000 metric points are logged and flushed durable; then the
    upload completes with every byte."""
    gate = new_gate(gates, tmp_path / "big.bin", BIG)
    upload = client.log_artifact(run_id, gate.path, "models", synchronous=False)
    assert isinstance(upload, RunOperations)
    metrics = client.log_metric_array(run_id, "loss", [float(i) for i in range(20_000)], synchronous=False)
    assert metrics is not None
    metrics.wait(timeout=60)
    client.flush()
    assert not upload.done(), "the upload cannot have finished: its source has no data yet"
    _, values, _ = client.get_metric_history_arrays(run_id, "loss")
    assert len(values) == 20_000
    with pytest.raises(TimeoutError):
        upload.wait(timeout=0.05)
    gate.release()
    upload.wait(timeout=60)
    written = artifact_dir / "models" / "big.bin"
    assert written.stat().st_size == BIG
    with open(written, "rb") as f:
        assert f.read(4) == b"\xab" * 4


def test_flush_async_logging_joins_the_upload_queue(
    client: MlflowClient, run_id: str, artifact_dir: Path, tmp_path: Path, gates: list[Gate]
) -> None:
    """flush_async_logging() and flush_artifact_async_logging() wait for pending uploads (TimeoutError
    while one cannot finish), and return once it is written."""
    gate = new_gate(gates, tmp_path / "data.bin")
    ops = client.log_artifact(run_id, gate.path, synchronous=False)
    for flush in (mlflow.flush_async_logging, mlflow.flush_artifact_async_logging):
        with pytest.raises(TimeoutError):
            flush(timeout=0.1)
    gate.release()
    mlflow.flush_async_logging()
    assert ops is not None and ops.done()
    assert (artifact_dir / "data.bin").stat().st_size == 1024


def test_small_upload_does_not_wait_for_a_big_one(
    client: MlflowClient, run_id: str, artifact_dir: Path, tmp_path: Path, gates: list[Gate]
) -> None:
    """Uploads run concurrently: a text logged after a stuck upload is written, and its RunOperations is
    done, while the first still waits."""
    gate = new_gate(gates, tmp_path / "big.bin")
    big = client.log_artifact(run_id, gate.path, synchronous=False)
    small = client.log_text(run_id, "hello", "notes.txt", synchronous=False)
    assert small is not None and big is not None
    small.wait(timeout=30)
    assert (artifact_dir / "notes.txt").read_text() == "hello"
    assert not big.done()
    # A synchronous call is not held up either.
    client.log_dict(run_id, {"a": 1}, "d.json")
    assert (artifact_dir / "d.json").exists()
    gate.release()
    big.wait(timeout=30)


def test_uploads_to_one_destination_keep_their_order(
    client: MlflowClient, run_id: str, artifact_dir: Path, tmp_path: Path, gates: list[Gate]
) -> None:
    """Two uploads to the same artifact path are applied in the order they were queued: the second waits
    for the first even when it could run sooner, and the last one wins."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    gate = new_gate(gates, tmp_path / "a" / "f.txt")
    (tmp_path / "b" / "f.txt").write_text("second")
    first = client.log_artifact(run_id, gate.path, "x", synchronous=False)
    second = client.log_artifact(run_id, tmp_path / "b" / "f.txt", "x", synchronous=False)
    assert first is not None and second is not None
    with pytest.raises(TimeoutError):
        second.wait(timeout=0.2)
    gate.release()
    (first + second).wait(timeout=30)
    assert (artifact_dir / "x" / "f.txt").read_text() == "second"
    for i in range(20):
        client.log_text(run_id, f"v{i}", "same.txt", synchronous=False)
    client.log_text(run_id, "final", "same.txt")  # synchronous: ordered after the ones before
    assert (artifact_dir / "same.txt").read_text() == "final"


def test_failure_reaches_the_run_operations_and_the_log(
    client: MlflowClient,
    run_id: str,
    tmp_path: Path,
    gates: list[Gate],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A file removed before its upload runs: its RunOperations raises RESOURCE_DOES_NOT_EXIST naming it,
    the failure is logged once (logger asynctrack), and a flush does not raise it."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    gate = new_gate(gates, tmp_path / "a" / "f.txt")
    doomed = tmp_path / "b" / "f.txt"
    doomed.write_text("x")
    blocker = client.log_artifact(run_id, gate.path, synchronous=False)
    ops = client.log_artifact(run_id, doomed, synchronous=False)  # same destination: waits for the gate
    doomed.unlink()
    with caplog.at_level(logging.ERROR, logger="asynctrack"):
        gate.release()
        mlflow.flush_artifact_async_logging(timeout=30)
    assert ops is not None and blocker is not None and blocker.exception() is None
    exc = ops.exception(timeout=30)
    assert isinstance(exc, MlflowException)
    assert exc.error_code == "RESOURCE_DOES_NOT_EXIST" and str(doomed) in exc.message
    assert sum("could not log artifact" in r.getMessage() for r in caplog.records) == 1


def test_full_queue_blocks_the_caller(
    monkeypatch: pytest.MonkeyPatch,
    client: MlflowClient,
    run_id: str,
    artifact_dir: Path,
    tmp_path: Path,
    gates: list[Gate],
) -> None:
    """With room for two uploads, a third call blocks until one of them finishes (back-pressure), and
    memory held for in-memory payloads is bounded the same way."""
    monkeypatch.setenv("ASYNCTRACK_ARTIFACT_QUEUE_SIZE", "2")
    monkeypatch.setattr(mlflow.artifacts._queue, "_queue", None)  # built with the setting above
    g1 = new_gate(gates, tmp_path / "one.bin")
    g2 = new_gate(gates, tmp_path / "two.bin")
    client.log_artifact(run_id, g1.path, synchronous=False)
    client.log_artifact(run_id, g2.path, synchronous=False)
    assert artifact_queue().capacity == 2
    third: list[RunOperations | None] = []
    caller = threading.Thread(
        target=lambda: third.append(client.log_text(run_id, "t", "t.txt", synchronous=False))
    )
    caller.start()
    caller.join(0.5)
    assert caller.is_alive() and not third, "the third call should wait for room"
    g1.release()
    caller.join(30)
    assert not caller.is_alive() and third and third[0] is not None
    third[0].wait(timeout=30)
    g2.release()
    mlflow.flush_artifact_async_logging(timeout=30)
    assert sorted(os.listdir(artifact_dir)) == ["one.bin", "t.txt", "two.bin"]


def test_payload_bytes_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
    client: MlflowClient,
    run_id: str,
    artifact_dir: Path,
    tmp_path: Path,
    gates: list[Gate],
) -> None:
    """In-memory payloads count against ASYNCTRACK_ARTIFACT_QUEUE_BYTES: with 1000 bytes allowed and 600
    held, a second 600-byte text waits for room."""
    monkeypatch.setenv("ASYNCTRACK_ARTIFACT_QUEUE_BYTES", "1000")
    monkeypatch.setattr(mlflow.artifacts._queue, "_queue", None)
    gate = new_gate(gates, tmp_path / "t.txt")
    client.log_artifact(run_id, gate.path, synchronous=False)  # holds the destination t.txt
    first = client.log_text(run_id, "1" * 600, "t.txt", synchronous=False)  # queued behind it
    assert artifact_queue().nbytes == 600
    second: list[RunOperations | None] = []
    caller = threading.Thread(
        target=lambda: second.append(client.log_text(run_id, "2" * 600, "t.txt", synchronous=False))
    )
    caller.start()
    caller.join(0.5)
    assert caller.is_alive() and artifact_queue().nbytes == 600
    gate.release()
    caller.join(30)
    assert first is not None and second and second[0] is not None
    (first + second[0]).wait(timeout=30)
    assert artifact_queue().nbytes == 0
    assert (artifact_dir / "t.txt").read_text() == "2" * 600


def test_read_your_writes(client: MlflowClient, run_id: str) -> None:
    """Listing or downloading a run's artifacts first waits for the uploads already queued into it."""
    for i in range(50):
        client.log_text(run_id, str(i), f"many/{i:02d}.txt", synchronous=False)
    assert len(client.list_artifacts(run_id, "many")) == 50
    assert Path(client.download_artifacts(run_id, "many/49.txt")).read_text() == "49"


def test_log_image_key_form_is_async_by_default_in_fluent(active_run: mlflow.ActiveRun) -> None:
    """As in MLflow, fluent log_image(key=...) is asynchronous by default; the image is copied at the call,
    so changing it afterwards does not change what is logged."""
    pil = pytest.importorskip("PIL.Image")
    image = pil.new("RGB", (4, 4), (10, 20, 30))
    ops = mlflow.log_image(image, key="preview", step=1)
    assert isinstance(ops, RunOperations)
    image.paste((255, 255, 255), (0, 0, 4, 4))
    ops.wait(timeout=30)
    root = Path(active_run.info.artifact_uri or "")
    (png,) = [p for p in (root / "images").iterdir() if p.suffix == ".png"]
    assert pil.open(png).getpixel((0, 0)) == (10, 20, 30)
    assert mlflow.get_run(active_run.info.run_id).data.tags["mlflow.loggedImages"] == "True"


def test_env_var_makes_client_log_image_async(
    monkeypatch: pytest.MonkeyPatch, client: MlflowClient, run_id: str
) -> None:
    """MlflowClient.log_image(synchronous=None) follows MLFLOW_ENABLE_ASYNC_LOGGING, as in MLflow; the
    calls MLflow keeps synchronous stay synchronous."""
    pytest.importorskip("PIL")
    import numpy as np

    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
    ops = client.log_image(run_id, np.zeros((2, 2), dtype=np.uint8), key="k")
    assert isinstance(ops, RunOperations)
    ops.wait(timeout=30)
    assert client.log_text(run_id, "x", "x.txt") is None


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_client_and_awaiting_uploads(backend: str, tmp_tracking: str, tmp_path: Path) -> None:
    """AsyncClient's artifact methods from asyncio and trio; RunOperations of uploads and metrics combine
    and are awaited together."""

    async def main() -> None:
        client = mlflow.AsyncClient()
        run = await client.create_run("0")
        rid = run.info.run_id
        up = await client.log_text(rid, "hi", "a/hello.txt", synchronous=False)
        m = await client.log_metric(rid, "m", 1.0, synchronous=False)
        await RunOperations.combine([up, m])  # type: ignore[misc]
        assert [f.path for f in await client.list_artifacts(rid, "a")] == ["a/hello.txt"]
        local = await client.download_artifacts(rid, "a/hello.txt", str(tmp_path / f"d-{backend}"))
        assert await anyio.Path(local).read_text() == "hi"
        await client.log_dict(rid, {"k": 1}, "d.json")
        assert await client.log_artifact(rid, local, "copy") is None

    anyio.run(main, backend=backend)


def test_closing_leaves_no_artifact_thread(client: MlflowClient, run_id: str) -> None:
    """close_pipelines() (as at exit) writes what was queued and ends the artifact I/O threads; logging
    afterwards starts afresh."""
    from asynctrack.pipeline import close_pipelines

    ops = [client.log_text(run_id, str(i), f"t{i}.txt", synchronous=False) for i in range(20)]
    assert any(t.name.startswith("asynctrack-artifact-io") for t in threading.enumerate())
    assert close_pipelines(timeout=30) == []
    assert all(o is not None and o.done() for o in ops)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("asynctrack-artifact-io")]
    client.log_text(run_id, "again", "again.txt")
    assert len(client.list_artifacts(run_id)) == 21
