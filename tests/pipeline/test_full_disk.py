"""A full disk under the embedded store (issue 12): a synchronous call raises a clear error within the retry
budget instead of waiting forever (it used to be killed after 40 s), while what was accepted is kept and
written once there is room again.

Real child processes on a real small disk (tests/small_disk.py: a tmpfs, or RLIMIT_FSIZE in the child)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from small_disk import KINDS, small_disk

from asynctrack import MlflowClient

CHILD = textwrap.dedent(
    """
    import sys
    import asynctrack as mlflow
    from asynctrack import MlflowException, RunOperations

    mlflow.set_tracking_uri(sys.argv[1])
    run = mlflow.start_run()
    print("run", run.info.run_id, flush=True)

    def fill():  # the disk, with synchronous calls until one is refused
        i = 0
        while True:
            try:
                mlflow.log_param(f"p{i:05d}", "x" * 6000, synchronous=True)
            except MlflowException as exc:
                return i, exc
            i += 1

    async def fill_async():  # the same through AsyncClient
        client = mlflow.AsyncClient(sys.argv[1])
        i = 0
        while True:
            try:
                await client.log_param(run.info.run_id, f"p{i:05d}", "x" * 6000, synchronous=True)
            except MlflowException as exc:
                return i, exc
            i += 1

    if sys.argv[3] == "aio":
        import anyio
        i, exc = anyio.run(fill_async)
    else:
        i, exc = fill()
    print("refused", i, exc.error_code, " ".join(exc.message.split()), flush=True)
    ops = [mlflow.log_metric("after", float(s), step=s, synchronous=False) for s in range(100)]
    print("queued", flush=True)
    if sys.argv[2] == "recover":
        sys.stdin.readline()  # the parent has made room
        RunOperations.combine(ops).wait()
        mlflow.end_run()
        print("flushed", flush=True)
    """
)


@pytest.fixture(params=["fluent", "aio"])
def api(request: pytest.FixtureRequest) -> str:
    """Through the module-level API or AsyncClient (whose synchronous calls wait in a thread)."""
    return str(request.param)


@pytest.fixture(params=KINDS)
def disk(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Path, Callable[[], None] | None]]:
    d = tmp_path / "small"
    # Room for a new database (its schema, with the registry and logged-model tables, is ~200 KiB plus
    # its WAL) and the ballast; the test then fills the rest.
    with small_disk(request.param, d, size=2 * 1024 * 1024) as preexec:
        yield request.param, d, preexec


def _child(uri: str, mode: str, api: str, preexec: Callable[[], None] | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ASYNCTRACK_"))}
    env["ASYNCTRACK_EXIT_TIMEOUT"] = "2"
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, uri, mode, api],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=preexec,  # noqa: PLW1509 (only sets a limit and a signal disposition)
    )


def _refusal(line: str, db: Path) -> int:
    """Check the refused call's message; return how many calls succeeded before it."""
    words = line.split()
    assert words[0] == "refused", line
    assert words[2] == "TEMPORARILY_UNAVAILABLE", line
    # Names the condition and the file, the budget, and what became of the operation.
    assert "is full" in line or "the disk may be full" in line, line
    assert str(db) in line, line
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES=7 retries" in line, line
    assert "Nothing was dropped: this call's operations stay queued" in line and "exit report" in line, line
    return int(words[1])


@pytest.mark.slow
def test_synchronous_call_on_a_full_disk_raises_and_nothing_is_lost(
    disk: tuple[str, Path, Callable[[], None] | None], api: str
) -> None:
    """Synchronous calls fill the disk until one raises (within the budget: the child would otherwise hang
    until the generous timeout). Asynchronous calls after it are accepted. On the tmpfs, room is then made:
    the refused param and every later point are written, the run ends. Under the file-size limit no room
    can be made: the process still exits on time, its exit report listing what was not written."""
    kind, directory, preexec = disk
    ballast = directory / "ballast"
    if kind == "tmpfs":
        ballast.write_bytes(b"\0" * 384 * 1024)  # freed later, to make room
    db = directory / "t.db"
    proc = _child(f"sqlite:///{db}", "recover" if kind == "tmpfs" else "exit", api, preexec)
    assert proc.stdout is not None and proc.stdin is not None
    # A hung child (the synchronous call never returning, as before the fix) is killed after a generous
    # while, which ends its output: the checks below then fail instead of the test hanging.
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    try:
        _exercise(kind, proc, db, ballast)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _exercise(kind: str, proc: subprocess.Popen[str], db: Path, ballast: Path) -> None:
    assert proc.stdout is not None and proc.stdin is not None
    run_id = proc.stdout.readline().split()[1]
    good = _refusal(proc.stdout.readline(), db)
    assert good > 0
    assert proc.stdout.readline().strip() == "queued"
    if kind == "tmpfs":
        ballast.unlink()
        proc.stdin.write("go\n")
        proc.stdin.flush()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    if kind != "tmpfs":
        # The exit report: counted, named and explained, not dropped silently.
        assert "logging operations were NOT written" in err and "1 params" in err, err
        assert "it was failing" in err, err
        return
    assert "flushed" in out, err
    run = MlflowClient(f"sqlite:///{db}").get_run(run_id)
    assert run.info.status == "FINISHED"
    assert f"p{good:05d}" in run.data.params  # the refused call's param was kept and written
    assert len(run.data.params) == good + 1
    history = MlflowClient(f"sqlite:///{db}").get_metric_history(run_id, "after")
    assert [m.step for m in history] == list(range(100))
