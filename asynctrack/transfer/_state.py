"""The copy's side file: which experiments and runs of the source are in the target (and under which ids
there: a run is recorded when it is created, so a resumed copy finishes the same run even where the target
gave it a new id), and which runs are complete, so that a re-run skips them without reading them again.

One JSON object per line, appended and fsynced as each experiment is mapped and each run completes; a line
cut short by a crash is ignored. Correctness does not rest on this file: every write of a run's data
carries an idempotency key derived from the source run and the write's position, so a run interrupted half
way (or copied again without the file) is completed without a point twice. The file only saves re-reading.
"""

from __future__ import annotations

import hashlib
import os
from typing import IO

import msgspec

from asynctrack.store._protocol import RunCounts

__all__ = ["CopyState", "default_state_path"]


class _Line(msgspec.Struct, omit_defaults=True):
    source: str = ""
    experiment: str | None = None
    run: str | None = None
    target: str = ""
    counts: RunCounts | None = None
    inputs: int = 0


_decode = msgspec.json.Decoder(_Line).decode
_encode = msgspec.json.Encoder().encode


def default_state_path(source_uri: str, target_uri: str, target_db_path: str) -> str:
    """Beside the target database when it is a file, else in the working directory; named after the
    source and target, so copies of different stores never share one."""
    digest = hashlib.sha256(f"{source_uri}\n{target_uri}".encode()).hexdigest()[:12]
    if target_db_path:
        return f"{target_db_path}.copy-{digest}.state"
    return os.path.abspath(f".asynctrack-copy-{digest}.state")


class CopyState:
    """The side file of one (source, target) pair, loaded and then appended to."""

    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.source = source
        self.experiments: dict[str, str] = {}
        self.runs: dict[str, tuple[str, RunCounts, int]] = {}
        #: Runs created in the target but not complete: source id -> target id (a resumed copy writes the
        #: rest into the same run, which matters where the target gave the run a new id).
        self.started: dict[str, str] = {}
        self._file: IO[bytes] | None = None
        if os.path.exists(path):
            with open(path, "rb") as f:
                for raw in f:
                    try:
                        line = _decode(raw)
                    except msgspec.DecodeError:
                        continue  # the last line, cut by a crash
                    if line.experiment is not None:
                        self.experiments[line.experiment] = line.target
                    elif line.run is not None and line.counts is not None:
                        self.runs[line.run] = (line.target, line.counts, line.inputs)
                    elif line.run is not None:
                        self.started[line.run] = line.target

    @property
    def resumed(self) -> bool:
        return bool(self.experiments or self.runs)

    def _append(self, line: _Line) -> None:
        if self._file is None:
            self._file = open(self.path, "ab")  # noqa: SIM115 (closed by close())
        self._file.write(_encode(line) + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def experiment_mapped(self, source_id: str, target_id: str) -> None:
        if self.experiments.get(source_id) != target_id:
            self.experiments[source_id] = target_id
            self._append(_Line(self.source, experiment=source_id, target=target_id))

    def run_started(self, source_id: str, target_id: str) -> None:
        if self.started.get(source_id) != target_id:
            self.started[source_id] = target_id
            self._append(_Line(self.source, run=source_id, target=target_id))

    def run_done(self, source_id: str, target_id: str, counts: RunCounts, inputs: int) -> None:
        self.runs[source_id] = (target_id, counts, inputs)
        self._append(_Line(self.source, run=source_id, target=target_id, counts=counts, inputs=inputs))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
