"""kill -9 of a process logging at full speed loses nothing it accepted (issue 15, pipeline/_ring.py).

Real processes: a child logs ``synchronous=False`` as fast as it can and appends every step to a side file
after its call returned; it is killed with SIGKILL at a random moment, sometimes while another process
holds the SQLite database's write lock so that its queue is full. The next process to open the store (or
``asynctrack sync``) must then hold every step of the side file exactly once, with no gap before the
last one.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import ServerProcess, asynctrack_server, free_port

from asynctrack import MlflowClient
from asynctrack._batching._ops import decode
from asynctrack.pipeline import close_pipelines
from asynctrack.pipeline._ring import HEADER_SIZE, NAMES_SIZE, read_ring, ring_files

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ASYNCTRACK_"))}
    env.update(ASYNCTRACK_JOURNAL_DIR=str(tmp / "journal"), ASYNCTRACK_EXIT_TIMEOUT="2", **extra)
    return env


def _start(uri: str, side: Path, n: int, mode: str, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "kill_logger.py"), uri, str(side), str(n), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == "ready", (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)  # reaps it and closes its pipes
    assert proc.returncode == -signal.SIGKILL


def _side(side: Path) -> tuple[str, list[int]]:
    lines = side.read_text().split("\n")
    return lines[0], [int(x) for x in lines[1:] if x]


def _check(client: MlflowClient, run_id: str, returned: list[int], key: str = "m") -> int:
    """Every returned step stored exactly once, no gap; returns how many points are stored."""
    steps = client.get_metric_history_arrays(run_id, key)[0].tolist()
    counts = Counter(steps)
    assert not [s for s, c in counts.items() if c > 1], "a point was written twice"
    missing = set(returned) - set(counts)
    assert not missing, f"{len(missing)} accepted points lost (first: {min(missing)})"
    if steps:
        assert sorted(counts) == list(range(max(steps) + 1)), "a gap in the stored steps"
    return len(steps)


class _Lock:
    """Another process's write lock on the database for a while (a slow store: the queue fills)."""

    def __init__(self, db: Path, seconds: float) -> None:
        code = (
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(float(sys.argv[2]))\n"
            "c.execute('COMMIT')\n"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "locked"

    def wait(self) -> None:
        self.proc.communicate(timeout=60)


@pytest.mark.parametrize("round_", range(12))
def test_kill_9_embedded_store_loses_nothing_accepted(tmp_path: Path, round_: int) -> None:
    rng = random.Random(round_)
    db, side = tmp_path / "t.db", tmp_path / "side"
    uri = f"sqlite:///{db}"
    proc = _start(uri, side, 5_000_000, "metrics", _env(tmp_path))
    time.sleep(rng.uniform(0.05, 1.0))
    locked = round_ % 3 == 0  # a third of the rounds: the store is locked, the queue fills and blocks
    lock = _Lock(db, 2.5) if locked else None
    if lock is not None:
        time.sleep(rng.uniform(0.3, 1.2))
    _kill(proc)
    if lock is not None:
        lock.wait()
    run_id, returned = _side(side)
    assert returned, "the child was killed before logging anything"
    stored = _check(MlflowClient(uri), run_id, returned)  # opening the store recovers the queue file
    assert stored >= len(returned)
    assert not [p for p in ring_files(str(tmp_path / ".asynctrack-queues")) if f"-{proc.pid}-" in p]


@pytest.mark.parametrize("round_", range(4))
def test_kill_9_with_four_threads_logging_loses_nothing_accepted(tmp_path: Path, round_: int) -> None:
    """Four threads log at once (their records are written concurrently into slots handed out without a
    lock); a kill leaves holes where a call had not returned, and recovery keeps every record after them."""
    rng = random.Random(200 + round_)
    db, side = tmp_path / "t.db", tmp_path / "side"
    uri = f"sqlite:///{db}"
    proc = _start(uri, side, 5_000_000, "threads", _env(tmp_path))
    time.sleep(rng.uniform(0.1, 1.0))
    lock = _Lock(db, 2.0) if round_ % 2 else None
    if lock is not None:
        time.sleep(rng.uniform(0.3, 1.0))
    _kill(proc)
    if lock is not None:
        lock.wait()
    lines = side.read_text().split("\n")
    run_id, by_key = lines[0], {f"t{t}": [] for t in range(4)}  # type: dict[str, list[int]]
    for line in lines[1:]:
        if line:
            key, step = line.split()
            by_key[key].append(int(step))
    client = MlflowClient(uri)
    for key, returned in by_key.items():
        assert returned, f"thread {key} logged nothing before the kill"
        assert _check(client, run_id, returned, key) >= len(returned)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("server")
    srv = asynctrack_server(tmp, port=free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize("round_", range(8))
def test_kill_9_logging_to_a_server_loses_nothing_accepted(
    tmp_path: Path, server: ServerProcess, round_: int
) -> None:
    rng = random.Random(100 + round_)
    side = tmp_path / "side"
    env = _env(tmp_path)
    proc = _start(server.url, side, 5_000_000, "metrics", env)
    time.sleep(rng.uniform(0.05, 1.5))
    _kill(proc)
    run_id, returned = _side(side)
    assert returned
    done = subprocess.run(
        [sys.executable, "-m", "asynctrack", "sync", str(tmp_path / "journal")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "recovered the queue of process" in done.stdout, done.stdout
    _check(MlflowClient(server.url), run_id, returned)


def test_run_killed_with_its_end_queued_ends_finished(tmp_path: Path) -> None:
    """end_run() returned, its status update still queued behind a locked store: after the kill and
    recovery the run is FINISHED with every point."""
    db, side = tmp_path / "t.db", tmp_path / "side"
    uri = f"sqlite:///{db}"
    proc = _start(uri, side, 20_000, "end", _env(tmp_path))
    lock = _Lock(db, 3.0)  # from here the worker cannot write: the points and the end stay queued
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ended"
    _kill(proc)
    lock.wait()
    run_id, returned = _side(side)
    client = MlflowClient(uri)
    assert _check(client, run_id, returned) == 20_000
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_damaged_record_is_reported_and_not_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A flipped byte in a checksummed record (a param) is detected: that record is not replayed, and
    every other one is."""
    db, side = tmp_path / "t.db", tmp_path / "side"
    uri = f"sqlite:///{db}"
    env = _env(tmp_path)
    proc = _start(uri, side, 200, "params", env)
    lock = _Lock(db, 3.0)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "logged"
    _kill(proc)
    lock.wait()
    (path,) = ring_files(str(tmp_path / ".asynctrack-queues"))
    dead = read_ring(path)
    params = [(s, f) for s, _e, f in dead.frames if f[0] != 0xC1]  # msgpack records: checksummed
    assert len(params) >= 10
    start, frame = params[len(params) // 2]
    damaged_key = decode(frame).key  # type: ignore[union-attr]
    with open(path, "r+b") as f:
        at = HEADER_SIZE + NAMES_SIZE + start % (os.path.getsize(path) - HEADER_SIZE - NAMES_SIZE) + 8
        f.seek(at + len(frame) - 1)
        byte = f.read(1)
        f.seek(at + len(frame) - 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert read_ring(path).torn == 1
    run_id, returned = _side(side)
    with caplog.at_level("WARNING", logger="asynctrack"):
        client = MlflowClient(uri)
        _check(client, run_id, returned)
        stored = client.get_run(run_id).data.params
    assert "1 damaged record(s) were not replayed" in caplog.text
    assert damaged_key not in stored
    assert {f"p{i}" for i in returned} - {damaged_key} <= set(stored)  # every intact param is there
    assert not os.path.exists(path)


def test_a_live_process_queue_file_is_never_taken(tmp_path: Path) -> None:
    """While the logging process lives (its store locked, its queue full), another process opening the
    store leaves its queue file alone; the owner writes everything once when the lock goes."""
    db, side = tmp_path / "t.db", tmp_path / "side"
    uri = f"sqlite:///{db}"
    proc = _start(uri, side, 30_000, "end", _env(tmp_path))
    lock = _Lock(db, 2.0)
    time.sleep(0.5)
    queues = str(tmp_path / ".asynctrack-queues")
    (own,) = [p for p in ring_files(queues) if f"-{proc.pid}-" in p]
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from asynctrack import MlflowClient; MlflowClient({uri!r}).search_experiments()",
        ],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert other.returncode == 0, other.stderr
    assert "recovered the queue" not in other.stderr
    assert os.path.exists(own)  # still the live process's
    lock.wait()
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ended"
    _kill(proc)  # after its end_run: everything was written by the owner (or is in its queue file)
    run_id, returned = _side(side)
    client = MlflowClient(uri)
    assert _check(client, run_id, returned) == 30_000
    close_pipelines()


def test_two_databases_in_one_directory_keep_their_own_queues(tmp_path: Path) -> None:
    """Queue files of databases in the same directory share ``.asynctrack-queues``: each store recovers
    only its own."""
    side_a, side_b = tmp_path / "side-a", tmp_path / "side-b"
    uri_a, uri_b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    procs = []
    for uri, side, db in ((uri_a, side_a, "a.db"), (uri_b, side_b, "b.db")):
        proc = _start(uri, side, 200, "params", _env(tmp_path))
        lock = _Lock(tmp_path / db, 2.0)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "logged"
        _kill(proc)
        lock.wait()
        procs.append(proc)
    assert len(ring_files(str(tmp_path / ".asynctrack-queues"))) == 2
    run_a, returned_a = _side(side_a)
    client_a = MlflowClient(uri_a)  # recovers a's queue file only
    assert _check(client_a, run_a, returned_a) == 200
    left = ring_files(str(tmp_path / ".asynctrack-queues"))  # b's, and this process's own live one
    assert [p for p in left if f"-{procs[1].pid}-" in p] and not [p for p in left if f"-{procs[0].pid}-" in p]
    run_b, returned_b = _side(side_b)
    assert _check(MlflowClient(uri_b), run_b, returned_b) == 200
    assert {f"p{i}" for i in range(200)} == set(MlflowClient(uri_b).get_run(run_b).data.params)
