"""The journal file: frames round-trip, and damage anywhere is found by the checksum and reported with its
offset while the intact prefix stays readable."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from loops import PRODUCTION_LOOP

from asynctrack.entities import Param, RunTag
from asynctrack.journal._file import JournalWriter, read_journal, try_lock
from asynctrack.journal._format import MAGIC, BatchRecord, Header
from asynctrack.journal._journal import batch_record, record_series
from asynctrack.store import MetricSeries

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP  # asyncio on uvloop, in debug mode: the loop asynctrack runs (tests/loops.py)


def _series(key: str, n: int, offset: int = 0) -> MetricSeries:
    steps = np.arange(offset, offset + n, dtype=np.int64)
    return MetricSeries(key, steps.astype(np.float64) * 0.5, steps + 1_700_000_000_000, steps)


async def _write(path: Path, n_batches: int, fsync: str = "batch") -> list[BatchRecord]:
    w = JournalWriter(str(path), Header("jid", "http://target", os.getpid(), 1), fsync, 10)
    await w.open()
    records = []
    for i in range(n_batches):
        rec = batch_record(
            i + 1,
            f"run{i % 3}",
            [_series("loss", 100, 100 * i), _series("acc", 3, i)],
            [Param(f"p{i}", "v")],
            [RunTag("t", str(i))],
        )
        records.append(rec)
        await w.append([rec])
    w.applied(1)
    w.rejected(2, "INVALID_PARAMETER_VALUE", "bad")
    await w.close()
    return records


async def test_round_trip_and_acknowledgements(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    records = await _write(path, 5)
    state = await anyio.to_thread.run_sync(read_journal, str(path))
    assert state.header is not None and state.header.target == "http://target"
    assert state.torn is None
    assert [r.seq for r in state.pending] == [3, 4, 5]
    assert state.pending == records[2:]
    assert state.applied == 1
    assert state.rejected == [(2, "INVALID_PARAMETER_VALUE", "bad")]
    series = record_series(state.pending[0])
    np.testing.assert_array_equal(series[0].steps, np.arange(200, 300))
    np.testing.assert_array_equal(series[0].values, np.arange(200, 300) * 0.5)
    assert state.pending_operations() == 3 * (103 + 2)


@pytest.mark.slow
async def test_every_truncation_point_keeps_the_intact_prefix(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    await _write(path, 3)
    data = path.read_bytes()
    full = await anyio.to_thread.run_sync(read_journal, str(path))
    known = [*full.pending, *_all_batches(data)]  # decoded once, not once per cut
    seen_counts = set()
    for cut in range(len(MAGIC), len(data)):
        p = tmp_path / f"cut{cut}.journal"
        p.write_bytes(data[:cut])
        state = await anyio.to_thread.run_sync(read_journal, str(p))
        assert state.intact_bytes <= cut
        if state.torn is not None:
            assert state.torn.offset == state.intact_bytes
            assert state.torn.lost_bytes == cut - state.intact_bytes
        # a prefix never invents records: what it has is a prefix of the full journal's
        seqs = [r.seq for r in state.pending]
        assert seqs == sorted(seqs)
        assert all(r in known for r in state.pending)
        seen_counts.add(len(seqs))
        p.unlink()
    assert {0, 1, 2, 3} <= seen_counts


def _all_batches(data: bytes) -> list[BatchRecord]:
    # every batch ever written (acknowledged or not), read from a copy with the DONE frames ignored
    import msgspec

    from asynctrack.journal._format import KIND_BATCH, iter_frames

    out = []
    for f in iter_frames(data, len(MAGIC)):
        if isinstance(f, tuple) and f[1] == KIND_BATCH:
            out.append(msgspec.msgpack.decode(f[2], type=BatchRecord))
    return out


async def test_a_flipped_bit_is_a_checksum_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    await _write(path, 3)
    data = bytearray(path.read_bytes())
    good = await anyio.to_thread.run_sync(read_journal, str(path))
    middle = len(data) // 2
    data[middle] ^= 0x10
    path.write_bytes(bytes(data))
    state = await anyio.to_thread.run_sync(read_journal, str(path))
    assert state.torn is not None
    assert state.torn.offset <= middle
    assert state.torn.reason in ("checksum mismatch",) or "length" in state.torn.reason
    assert len(state.pending) < len(good.pending) + 2


def test_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "x.journal"
    path.write_bytes(b"hello world")
    state = read_journal(str(path))
    assert state.header is None and state.torn is not None and "magic" in state.torn.reason


async def test_lock_is_held_by_the_writer_and_released_by_its_death(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    w = JournalWriter(str(path), Header("jid", "t", os.getpid(), 1), "never", 10)
    await w.open()
    fd = os.open(path, os.O_RDWR)
    try:
        assert not try_lock(fd)  # a live writer's journal is not replayable
        await w.close()
        assert try_lock(fd)
    finally:
        os.close(fd)
    # a process that dies holding the lock releases it
    script = (
        "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); "
        "print('locked', flush=True); os._exit(0)"
    )
    out = await anyio.run_process([sys.executable, "-c", script, str(path)])
    assert out.stdout.decode().strip() == "locked"
    fd = os.open(path, os.O_RDWR)
    try:
        assert try_lock(fd)
    finally:
        os.close(fd)


@pytest.mark.slow
async def test_the_background_fsync_never_outlives_the_file(tmp_path: Path) -> None:
    """An append that starts a background fsync, then an immediate close: the fsync must end before the
    descriptor is closed (before the fix it ran on a closed descriptor about half the time: EBADF, reported
    by asyncio as "Task exception was never retrieved"). 50 rounds; asyncio's exception handler must see
    nothing, and every record must be in the file."""
    import asyncio
    import gc

    reported: list[object] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        for i in range(50):
            path = tmp_path / f"{i}.journal"
            w = JournalWriter(str(path), Header("jid", "http://target", os.getpid(), 1), "interval", 1)
            await w.open()
            await anyio.sleep(0.002)  # past the 1 ms interval: the next append syncs in the background
            rec = batch_record(1, "run", [_series("loss", 10)], [], [])
            await w.append([rec])
            await w.close()
            del w
            gc.collect()  # a task whose exception nobody took is reported when it is collected
            assert (await anyio.to_thread.run_sync(read_journal, str(path))).pending == [rec]
        await anyio.sleep(0.05)
        gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert reported == []


@pytest.mark.slow
async def test_a_close_cut_short_leaves_the_descriptor_to_the_running_fsync(tmp_path: Path) -> None:
    """A close cancelled while it waits (the exit's deadline) must not close the descriptor under a
    background fsync either: the descriptor closes when the fsync ends, and nothing is reported."""
    import asyncio
    import gc

    reported: list[object] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        for i in range(30):
            path = tmp_path / f"c{i}.journal"
            w = JournalWriter(str(path), Header("jid", "http://target", os.getpid(), 1), "interval", 1)
            await w.open()
            await anyio.sleep(0.002)
            await w.append([batch_record(1, "run", [_series("loss", 10)], [], [])])
            with anyio.move_on_after(0):  # cancelled at its first wait
                await w.close()
            del w
            await anyio.sleep(0.02)
            gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert reported == []
