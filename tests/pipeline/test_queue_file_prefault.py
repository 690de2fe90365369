"""The queue file's pages ahead of the head are mapped writable in advance (``QueueFile.prefault``), so a
producer's first record in a page does not take a write fault into the file system; the kernel maps a
shared file's pages read-only again after every write-back, so the prefault follows each sync.

Faults are counted with ``getrusage(RUSAGE_THREAD)`` around a loop that rewrites one byte of each page in
place (the same value: nothing changes in the file)."""

from __future__ import annotations

import mmap
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import asynctrack as mlflow
from asynctrack.pipeline._ring import QueueFile, prefault_spans

PAGE = mmap.PAGESIZE
KIB = 1024


def _faults_touching(ring: QueueFile, start: int, length: int) -> int:
    """Minor faults this thread takes rewriting one byte of each page of ``[start, start + length)``."""
    data = ring.data
    offsets = range(start, start + length, PAGE)
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for o in offsets:
        data[o] = data[o]
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[QueueFile]:
    if not sys.platform.startswith("linux"):
        pytest.skip("prefaulting is Linux-only")
    q = QueueFile(str(tmp_path / "queues"), 1 << 20)
    try:
        if q._populate is None:
            pytest.skip("this kernel has no MADV_POPULATE_WRITE (Linux 5.14 and later)")
        yield q
    finally:
        q.close(unlink=True)  # idempotent: a test may have closed it


def test_spans_start_at_the_heads_page_and_wrap_at_the_rings_end() -> None:
    size = 1 << 20
    assert prefault_spans(0, 64 * KIB, size) == [(0, 64 * KIB)]
    # Logical positions past the first lap map into the ring; the span starts at the head's page.
    assert prefault_spans(3 * size + 5 * PAGE + 100, 64 * KIB, size) == [(5 * PAGE, 64 * KIB)]
    # Past the end: the rest of the window from the ring's start.
    assert prefault_spans(size - 2 * PAGE + 8, 64 * KIB, size) == [
        (size - 2 * PAGE, 2 * PAGE),
        (0, 64 * KIB - 2 * PAGE),
    ]
    assert prefault_spans(size - PAGE, 2 * size, size) == [(size - PAGE, PAGE), (0, size - PAGE)]


def _needs_write_faults(ring: QueueFile, start: int) -> None:
    """The control: 16 pages never prefaulted fault on their first write. File systems without dirty
    tracking (tmpfs) map shared pages writable at once; there is nothing to prefault, so skip."""
    if _faults_touching(ring, start, 64 * KIB) < 12:
        pytest.skip("this file system maps a shared file's pages writable at once (tmpfs?)")


def test_a_new_ring_has_its_first_window_writable(ring: QueueFile) -> None:
    _needs_write_faults(ring, 512 * KIB)
    assert _faults_touching(ring, 0, 64 * KIB) <= 2


def test_after_a_sync_the_pages_ahead_are_writable_again(ring: QueueFile) -> None:
    _needs_write_faults(ring, 768 * KIB)
    head = ring.reserve_many(1024)[-1] + 64  # 64 KiB handed out (nothing written: no worker here)
    assert head == 64 * KIB
    _faults_touching(ring, 64 * KIB, 128 * KIB)  # dirty: the next write-back cleans them
    ring._flush()  # a write-back alone leaves them read-only ...
    assert _faults_touching(ring, 64 * KIB, 64 * KIB) >= 12
    ring.sync()  # ... a sync maps twice what was written since (128 KiB) from the head writable
    assert _faults_touching(ring, 64 * KIB, 128 * KIB) <= 2
    assert _faults_touching(ring, 256 * KIB, 64 * KIB) >= 12  # past the window: as before


def test_a_closed_ring_is_not_prefaulted(ring: QueueFile) -> None:
    ring.reserve_many(16)  # records written since the last prefault ...
    ring.close(unlink=True)
    ring.prefault()  # ... but the file is unmapped: it returns before reading the head or the address
    assert ring._prefault_head == 0


@pytest.mark.parametrize("policy", ["interval", "never"])
def test_the_worker_prefaults_under_every_policy(
    policy: str, tmp_tracking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``interval`` prefaults after each timed sync; ``never`` has a timed prefault of its own."""
    if not sys.platform.startswith("linux"):
        pytest.skip("prefaulting is Linux-only")
    monkeypatch.setenv("ASYNCTRACK_JOURNAL_FSYNC", policy)
    monkeypatch.setenv("ASYNCTRACK_JOURNAL_FSYNC_MS", "20")
    with mlflow.start_run() as run:
        for step in range(2000):
            mlflow.log_metric("m", float(step), step=step, synchronous=False)
        mlflow.flush_async_logging()
        from asynctrack.fluent import _state

        assert _state.top is not None
        ring = _state.top[0].ring
        assert ring is not None
        if ring._populate is None:
            pytest.skip("this kernel has no MADV_POPULATE_WRITE (Linux 5.14 and later)")
        # Made at the head of a new ring (0), then by the worker's timed task once records were written.
        deadline = time.monotonic() + 30
        while ring._prefault_head == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ring._prefault_head >= 64
    points = mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert [p.step for p in points] == list(range(2000))
