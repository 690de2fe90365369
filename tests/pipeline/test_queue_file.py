"""The queue file's slots (pipeline/_ring.py): handed out without a lock, written concurrently, read in
order up to the first record not yet committed, and recovered past holes a dead writer left."""

from __future__ import annotations

import random
import struct
import threading
import zlib
from pathlib import Path

from asynctrack._batching._ops import METRIC_FRAME, METRIC_TAG
from asynctrack.pipeline._ring import (
    _VOID,
    HEADER_SIZE,
    NAMES_SIZE,
    QueueFile,
    _record_at,
    _records,
    read_ring,
)

SIZE = 1 << 16


def _ring(tmp_path: Path) -> QueueFile:
    return QueueFile(str(tmp_path), SIZE)


def _metric(ring: QueueFile, producer: int, seq: int, h: int | None = None) -> None:
    prefix = QueueFile.metric_prefix(producer)
    ring.write_metric(ring.reserve() if h is None else h, prefix, seq, 0, 0, float(seq), 1, seq)


def _frames(chunks: list[bytes]) -> list[tuple[int, ...]]:
    """Metric frames (joined runs split again) as tuples; other frames as (length,)."""
    out: list[tuple[int, ...]] = []
    for c in chunks:
        if c[0] == METRIC_TAG and len(c) % METRIC_FRAME.size == 0:
            out.extend(METRIC_FRAME.unpack_from(c, i) for i in range(0, len(c), METRIC_FRAME.size))
        else:
            out.append((len(c),))
    return out


def test_threads_writing_at_once_lose_nothing_and_keep_their_order(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    n, threads = 20_000, 4
    got: list[tuple[int, ...]] = []
    done = threading.Event()

    def produce(pid: int) -> None:
        for seq in range(1, n + 1):
            if pid == 3 and seq % 100 == 0:
                ring.append(b"x" * (seq % 300 + 1))  # multi-slot records among the metrics
            _metric(ring, pid, seq)

    def consume() -> None:
        while not done.is_set() or ring:
            frames, _big = ring.take(1000)
            got.extend(_frames(frames))
            ring.ack(ring.taken)  # frees the space: the ring (64 KiB) laps many times

    worker = threading.Thread(target=consume)
    worker.start()
    producers = [threading.Thread(target=produce, args=(p,)) for p in range(threads)]
    for t in producers:
        t.start()
    for t in producers:
        t.join()
    done.set()
    worker.join(timeout=60)
    assert not worker.is_alive()
    metrics = [f for f in got if len(f) > 1]
    for pid in range(threads):
        seqs = [f[2] for f in metrics if f[1] == pid]
        assert seqs == list(range(1, n + 1)), f"producer {pid}: lost, repeated or reordered records"
    assert sorted(f[0] for f in got if len(f) == 1) == sorted(s % 300 + 1 for s in range(100, n + 1, 100))
    ring.close(unlink=True)


def test_the_worker_stops_at_a_slot_still_being_written(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    _metric(ring, 1, 1)
    hole = ring.reserve()  # handed out, not yet written
    _metric(ring, 1, 3)
    assert [f[2] for f in _frames(ring.take(100)[0])] == [1]
    assert not ring  # nothing takeable: the next record is not committed
    assert len(ring) == 2  # but two slots are handed out past what was taken
    _metric(ring, 1, 2, h=hole)
    assert ring
    assert [f[2] for f in _frames(ring.take(100)[0])] == [2, 3]
    ring.close(unlink=True)


def test_recovery_keeps_the_records_after_a_dead_writers_hole(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    _metric(ring, 1, 1)
    ring.reserve()  # a writer killed before it wrote: its call had not returned
    ring.reserve()
    _metric(ring, 2, 1)
    ring.append(b"param")
    _metric(ring, 1, 2)
    dead = read_ring(ring.path)
    assert [len(f) for _s, _e, f in dead.frames] == [
        METRIC_FRAME.size,
        METRIC_FRAME.size,
        5,
        METRIC_FRAME.size,
    ]
    assert [METRIC_FRAME.unpack_from(f)[1:3] for _s, _e, f in dead.frames if len(f) != 5] == [
        (1, 1),
        (2, 1),
        (1, 2),
    ]
    assert dead.torn == 0
    ring.close(unlink=True)


def test_a_refused_slot_is_voided_and_skipped(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    _metric(ring, 1, 1)
    ring.void(ring.reserve())
    _metric(ring, 1, 2)
    assert [f[2] for f in _frames(ring.take(100)[0])] == [1, 2]
    ring.close(unlink=True)


def test_a_record_never_crosses_the_end_of_the_ring(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    # Fill up to two slots before the end, then append a record of three slots: it goes to the next lap.
    for seq in range(1, SIZE // 64 - 1):
        _metric(ring, 1, seq)
    ring.take(1 << 30)
    ring.ack(ring.taken)
    ring.append(b"y" * 150)  # 150 + 16 bytes: three slots
    frames = ring.take(10)[0]
    assert frames == [b"y" * 150]
    # The three slots handed out first crossed the end: voided; the record went to the next lap's second
    # slot (the first was one of the voided three).
    assert ring.taken == SIZE + 64 + 192
    ring.close(unlink=True)


def test_a_file_of_the_first_format_is_still_recovered(tmp_path: Path) -> None:
    """Files left by the version with one producer lock (``ATQRING1``: 8-byte aligned records)."""
    path = tmp_path / "1-1-00000000000000aa.queue"
    size = 1 << 16
    with open(path, "wb") as f:
        f.truncate(HEADER_SIZE + NAMES_SIZE + size)
    frames = [b"a" * 5, b"b" * 13]
    with open(path, "r+b") as f:
        f.write(struct.pack("<8sQQQQQQQQQ", b"ATQRING1", 0, size, 0, 0, 0, 0, 0, 0, 1))
        h = 0
        for frame in frames:
            need = 8 + ((len(frame) + 7) & ~7) + 8
            f.seek(HEADER_SIZE + NAMES_SIZE + h)
            f.write(struct.pack("<II", len(frame), zlib.crc32(frame) or 1) + frame)
            f.seek(HEADER_SIZE + NAMES_SIZE + h + need - 8)
            f.write(struct.pack("<Q", h + 1))
            h += need
    dead = read_ring(str(path))
    assert [f for _s, _e, f in dead.frames] == frames
    assert dead.ring_id == "00000000000000aa"


def test_slots_are_positions_in_64_byte_steps(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    assert [ring.reserve() for _ in range(3)] == [0, 64, 128]
    assert ring.reserve_many(2) == [192, 256]
    assert ring.head == 320
    for h in range(0, 320, 64):
        ring.void(h)
    assert ring.take(10) == ([], 0)
    assert ring.taken == 320
    ring.close(unlink=True)


def test_a_large_record_across_the_end_is_voided_in_two_records(tmp_path: Path) -> None:
    """The slots of a large record that crossed the ring's end are given back as one void record on each
    side of the end, not one per slot (a 1.6 MB metric array takes 25,000 slots)."""
    ring = _ring(tmp_path)
    for seq in range(1, SIZE // 64 - 10):  # 11 slots left before the end
        _metric(ring, 1, seq)
    ring.take(1 << 30)
    ring.ack(ring.taken)
    ring.append(b"z" * 2000)  # 32 slots: 11 before the end, 21 after, voided; then written after them
    t = ring.taken
    head = []
    while t < ring.head:
        length, crc = struct.unpack_from("<II", ring.data, t & (SIZE - 1))
        head.append((length, crc))
        t += 64 * crc if length == 0xFFFFFFFE else (length + 16 + 63) & ~63
    assert head == [(0xFFFFFFFE, 11), (0xFFFFFFFE, 21), (2000, zlib.crc32(b"z" * 2000) or 1)]
    assert ring.take(10)[0] == [b"z" * 2000]
    assert read_ring(ring.path).frames[-1][2] == b"z" * 2000
    ring.close(unlink=True)


def _synced_mark(path: str) -> int:
    with open(path, "rb") as f:
        return int(struct.unpack_from("<Q", f.read(72), 64)[0])


def test_sync_records_how_far_the_disk_copy_goes(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    for seq in range(1, 11):
        _metric(ring, 1, seq)
    ring.take(4)
    assert _synced_mark(ring.path) == 0
    ring.sync()
    assert _synced_mark(ring.path) == ring.taken > 0  # the records taken so far are trusted after a reboot
    ring.close(unlink=True)


def test_a_closed_ring_is_not_synced(tmp_path: Path) -> None:
    """The worker's sync thread may ask after the pipeline closed the file: the sync leaves it alone (it
    used to write through a closed descriptor and a closed mapping)."""
    ring = _ring(tmp_path)
    _metric(ring, 1, 1)
    ring.take(1)
    ring.close(unlink=False)
    ring.sync()
    assert _synced_mark(ring.path) == 0


def _slot_by_slot(data: memoryview, size: int, start: int) -> list[tuple[int, int, int, bytes]]:
    """The recovery scan as it was before _record_starts: every slot position of the lap, in order."""
    out = []
    h, stop = start, start + size
    while h < stop:
        record = _record_at(data, size, h)
        if record is None:
            h += 64
            continue
        length, crc, need = record
        if length != _VOID:
            o = h & (size - 1)
            frame = bytes(data[o + 8 : o + 8 + length])
            status = 0 if crc == 0 else (1 if (zlib.crc32(frame) or 1) == crc else -1)
            out.append((h, h + need, status, frame))
        h += need
    return out


def test_recovery_finds_exactly_the_records_a_slot_by_slot_scan_finds(tmp_path: Path) -> None:
    # Many laps of a small ring with metrics, multi-slot records, holes left by writers that never wrote
    # (some filled later, some voided), and acknowledgements at random points: at each look, the scan that
    # only visits candidate starts (numpy over the commit words) returns what visiting every slot returns,
    # stale slots of earlier laps and all.
    for seed in range(6):
        rnd = random.Random(seed)
        ring = _ring(tmp_path / str(seed))
        holes: list[int] = []
        seq = 0
        looks = found = 0
        for i in range(6000):
            if ring.head + 64 * 8 - ring.acked > SIZE:  # make room: settle the holes, take, acknowledge
                for h in holes:
                    ring.void(h)
                holes.clear()
                ring.take(1 << 30)
                ring.ack(ring.taken)
            op = rnd.random()
            seq += 1
            if op < 0.6:
                _metric(ring, rnd.randrange(3), seq)
            elif op < 0.75:
                ring.append(bytes([seq % 251]) * rnd.randrange(1, 400))
            elif op < 0.85:
                holes.append(ring.reserve())
            elif holes:
                h = holes.pop(rnd.randrange(len(holes)))
                if op < 0.93:
                    _metric(ring, 9, seq, h=h)
                else:
                    ring.void(h)
            if op > 0.97 and not holes:
                ring.take(rnd.randrange(1, 200))
                ring.ack(ring.taken)
            if i % 97 == 0:
                data = memoryview(ring.data)
                try:
                    expected = _slot_by_slot(data, SIZE, ring.acked)
                    assert list(_records(data, SIZE, ring.acked)) == expected, (seed, i)
                finally:
                    data.release()
                looks += 1
                found += len(expected)
        assert ring.head > 5 * SIZE  # it lapped
        assert looks > 50 and found > 1000  # and the looks saw records
        ring.close(unlink=True)
