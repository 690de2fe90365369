"""The parent's side of the worker processes: start them, talk to them, and never wait forever.

Workers run ``python -m asynctrack.loadtest._job`` in a session of their own, so a Ctrl-C in the
terminal reaches only the parent, which then tells them to stop (and, on a second Ctrl-C, to abort).
Each worker's stdout is read by a thread that puts ``(index, message)`` on one shared queue; ``None``
marks the end of a worker's output. Its stderr goes to a log file whose tail explains a crash, and its
journal (``ASYNCTRACK_JOURNAL_DIR``) into the load test's temporary directory, deleted at the end.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import msgspec

from asynctrack.loadtest._protocol import (
    Failed,
    Go,
    JobSpec,
    Stop,
    WorkerMessage,
    decode_from_worker,
    encode,
)

__all__ = ["Inbox", "WorkerProcess"]

Inbox = queue.Queue[tuple[int, WorkerMessage | None]]


class WorkerProcess:
    """One worker subprocess and the thread that reads its messages."""

    def __init__(self, index: int, spec: JobSpec, inbox: Inbox, work_dir: Path) -> None:
        self.index = index
        self.spec = spec
        self.log_path = work_dir / f"{spec.role}-{spec.index}.log"
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        # The write-ahead journal (on by default for http targets) is part of the client path measured,
        # but a load test's own: what it could not send is reported, and neither replayed into the target
        # by the next process that logs there nor mixed with real journals.
        env["ASYNCTRACK_JOURNAL_DIR"] = str(work_dir / "journal")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "asynctrack.loadtest._job"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        self._send(spec)
        self._reader = threading.Thread(
            target=self._read, args=(inbox,), name=f"loadtest-read-{index}", daemon=True
        )
        self._reader.start()

    def _read(self, inbox: Inbox) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                inbox.put((self.index, decode_from_worker(line)))
            except (msgspec.DecodeError, msgspec.ValidationError):
                inbox.put((self.index, Failed(f"unexpected output: {line[:200]!r}")))
        inbox.put((self.index, None))

    def _send(self, msg: msgspec.Struct) -> None:
        if self.proc.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self.proc.stdin.write(encode(msg))
            self.proc.stdin.flush()

    def go(self, t0: float) -> None:
        self._send(Go(t0))

    def stop(self, abort: bool = False) -> None:
        self._send(Stop(abort))

    def log_tail(self, chars: int = 600) -> str:
        """The end of the worker's stderr, on one line (for an error message)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        return " | ".join(lines[-3:])[-chars:]

    def reap(self, timeout: float) -> None:
        """Close stdin (the worker's cue to end), wait up to ``timeout``, then kill it."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.proc.stdout is not None:
            self._reader.join(2.0)
            with contextlib.suppress(OSError):
                self.proc.stdout.close()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5.0)
