"""Messages between the load test and its worker processes: one JSON object per line.

The parent writes a :class:`JobSpec` then :class:`Go` or :class:`Stop` on a worker's stdin; the worker
answers on its stdout with :class:`Ready` (runs created), a :class:`Tick` every half second while it
logs, and :class:`Finished` (or :class:`Failed` when it could not start). Counters in ticks are
cumulative, so a lost or late tick costs nothing. Times crossing processes are ``time.time()`` values.
"""

from __future__ import annotations

import msgspec

from asynctrack.loadtest._histogram import Histogram
from asynctrack.loadtest._options import Workload

__all__ = [
    "MAX_FAILED_CALLS",
    "Failed",
    "Finished",
    "Go",
    "JobSpec",
    "JobStats",
    "ParentMessage",
    "Ready",
    "RunSent",
    "Stop",
    "Tick",
    "WorkerMessage",
    "decode_from_parent",
    "decode_from_worker",
    "encode",
]

#: Failed calls remembered per run (metric index, step), so verification expects exactly what was sent;
#: past this many, that run is verified by counts only.
MAX_FAILED_CALLS = 10_000


class JobSpec(msgspec.Struct, tag="spec", frozen=True):
    """What one worker process does: ``role`` is "writer" (a training job) or "reader"."""

    role: str
    index: int
    target: str
    experiment_id: str
    loadtest_id: str
    workload: Workload


class Go(msgspec.Struct, tag="go", frozen=True):
    """Start logging now; ``t0`` is the shared start (``time.time()``) that pacing counts from."""

    t0: float


class Stop(msgspec.Struct, tag="stop", frozen=True):
    """Stop logging at the next step and drain; ``abort``: do not wait for the drain either."""

    abort: bool = False


ParentMessage = JobSpec | Go | Stop


class JobStats(msgspec.Struct, kw_only=True):
    """A worker's cumulative counters and latency histograms."""

    calls: int = 0
    metrics_sent: int = 0
    metrics_durable: int = 0
    params_sent: int = 0
    tags_sent: int = 0
    queued: int = 0
    blocked: int = 0
    errors: dict[str, int] = {}
    error_samples: dict[str, str] = {}
    caller: Histogram = msgspec.field(default_factory=Histogram)
    durability: Histogram = msgspec.field(default_factory=Histogram)
    waits: Histogram = msgspec.field(default_factory=Histogram)
    reads: dict[str, Histogram] = {}
    logging_done: float | None = None
    durable_at: float | None = None


class RunSent(msgspec.Struct, frozen=True):
    """What one run sent: metric points per key (``counts[k]`` steps 0..n-1 of key ``m{k}`` were
    attempted), the calls among them that raised, and its params and tags."""

    run_id: str
    worker: int
    index: int
    salt: int
    counts: list[int]
    failed: list[tuple[int, int]]
    failed_overflow: bool
    params: dict[str, str]
    tags: dict[str, str]


class Ready(msgspec.Struct, tag="ready", frozen=True):
    run_ids: list[str]


class Tick(msgspec.Struct, tag="tick", frozen=True):
    t: float
    stats: JobStats


class Finished(msgspec.Struct, tag="finished", frozen=True):
    stats: JobStats
    runs: list[RunSent]
    unwritten: list[str]


class Failed(msgspec.Struct, tag="failed", frozen=True):
    message: str


WorkerMessage = Ready | Tick | Finished | Failed

_encoder = msgspec.json.Encoder()
_from_parent: msgspec.json.Decoder[ParentMessage] = msgspec.json.Decoder(ParentMessage)
_from_worker: msgspec.json.Decoder[WorkerMessage] = msgspec.json.Decoder(WorkerMessage)


def encode(msg: msgspec.Struct) -> bytes:
    """One line: the message as JSON and a newline."""
    return _encoder.encode(msg) + b"\n"


def decode_from_parent(line: bytes) -> ParentMessage:
    return _from_parent.decode(line)


def decode_from_worker(line: bytes) -> WorkerMessage:
    return _from_worker.decode(line)
