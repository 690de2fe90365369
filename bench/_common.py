"""Plumbing shared by the benchmark scripts: formatting, medians, MLflow's version, servers on loopback."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = [
    "changes",
    "compiled_calls",
    "median_of",
    "median_interval",
    "Server",
    "fmt",
    "free_port",
    "interleaved_result",
    "median",
    "mlflow_version",
    "percentile",
    "quad_slowdowns",
    "serving",
    "switched_epochs",
    "tracking_server",
    "verdict",
    "voluntary_switches",
]


def compiled_calls() -> str:
    """Whether this machine's asynctrack runs its compiled calls (docs/pipeline.md, "The compiled calls"),
    for the header: the figures depend on it."""
    try:
        from asynctrack.pipeline import COMPILED
    except ImportError:
        return "asynctrack not importable here"
    return "compiled calls on" if COMPILED else "compiled calls OFF (not built, or ASYNCTRACK_NO_EXTENSIONS)"


def fmt(v: float | None) -> str:
    """A number in a short human form: 3 significant digits, k and M for large ones, "-" for none."""
    if v is None:
        return "-"
    if abs(v) >= 1e4:
        return f"{v / 1e6:.2f}M" if abs(v) >= 1e6 else f"{v / 1e3:.1f}k"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def median_of(runs: Sequence[dict[str, Any]], key: str) -> float | None:
    """The median of ``key`` over the runs that have it (failed runs do not)."""
    return median([r[key] for r in runs if key in r])


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) by the nearest-rank method."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(q * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def median_interval(values: Sequence[float], confidence: float = 0.9) -> tuple[float, float, float]:
    """A distribution-free confidence interval for the median of the population ``values`` come from:
    ``(low, high, coverage)``, the narrowest pair of order statistics ``x(k), x(n+1-k)`` whose coverage
    (``1 - 2 P(Binomial(n, 1/2) < k)``) is at least ``confidence``; too few values give ``(min, max)``
    with the lower coverage they have. Noise from other tenants is neither normal nor symmetric, so no
    distribution is assumed."""
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("median_interval needs at least one value")
    below = [math.comb(n, i) / 2**n for i in range(n + 1)]
    k = 1
    while k < (n + 1) // 2 and 1 - 2 * sum(below[: k + 1]) >= confidence:
        k += 1
    return xs[k - 1], xs[n - k], 1 - 2 * sum(below[:k])


def changes(xs: Sequence[float], ys: Sequence[float]) -> list[float]:
    """Pair by pair, how much larger (in %) each x is than its y: the per-pair slowdowns the verdicts and
    medians of the training benchmarks are taken over."""
    return [(x / y - 1.0) * 100.0 for x, y in zip(xs, ys, strict=True)]


_QUADS = ((False, True, True, False), (True, False, False, True))


def switched_epochs(quads: int) -> list[bool]:
    """Whether logging is on in each epoch of ``quads`` quads, off-on-on-off and on-off-off-on in turn.

    Why quads: a VM's speed drifts over seconds (here adjacent 0.5 s epochs of a bare numpy loop differ by
    an interquartile 1.8 %, epochs 20 s apart by 4.5 %), so whole runs compared pair by pair need hundreds
    of pairs to resolve 1 %. Within a quad the on and off epochs sit symmetrically in time, which cancels
    a drift linear over its span, and quads share no epoch, so each gives an independent sample."""
    return [on for q in range(quads) for on in _QUADS[q % 2]]


def quad_slowdowns(epochs: Sequence[tuple[bool, float, float]]) -> tuple[list[float], list[float]]:
    """For epochs ``(logging_on, wall seconds, spill seconds)`` in :func:`switched_epochs` order: each
    quad's slowdown in % (its on epochs' wall over its off epochs'), and the same with its off epochs'
    spill added to the on side. The spill is the CPU the logging threads spent during an off epoch (the
    on epochs' deferred work, a sampler): counted as if all of it had stopped the training thread, the
    second figure is an upper bound where the first could flatter."""
    plain: list[float] = []
    bound: list[float] = []
    for start in range(0, len(epochs) - len(epochs) % 4, 4):
        quad = epochs[start : start + 4]
        on = sum(wall for logging_on, wall, _ in quad if logging_on)
        off = sum(wall for logging_on, wall, _ in quad if not logging_on)
        spill = sum(spilled for logging_on, _, spilled in quad if not logging_on)
        plain.append((on / off - 1.0) * 100.0)
        bound.append(((on + spill) / off - 1.0) * 100.0)
    return plain, bound


def interleaved_result(epochs: Sequence[tuple[bool, float, float]], steps: int) -> dict[str, Any]:
    """The figures both training benchmarks report for epochs ``(logging_on, wall, spill)`` of
    ``steps`` steps each, in :func:`switched_epochs` order: each quad's slowdown and bound
    (:func:`quad_slowdowns`) with their medians, and the mean spill per step in microseconds."""
    plain, bound = quad_slowdowns(epochs)
    return {
        "interleaved_pct": statistics.median(plain),
        "interleaved_pct_samples": plain,
        "interleaved_bound_pct": statistics.median(bound),
        "interleaved_bound_pct_samples": bound,
        # The mean, as the bound adds every off epoch's spill: a median read 0 when the spill (a sync of
        # the queue file) lands in fewer than half the off epochs, as with Lightning's 200 ms epochs.
        "spill_us_per_step": statistics.fmean(s for on, _, s in epochs if not on) / steps * 1e6,
    }


def verdict(values: Sequence[float], op: str, goal: float, confidence: float = 0.9) -> str:
    """PASS when the whole confidence interval of the median meets the target (``op`` ``<=`` or ``>=``
    ``goal``), FAIL when none of it does, else UNRESOLVED: a median near the target, or a noisy machine,
    is not a measurement either way. Says the interval, so a reader sees how close it was. With
    ``confidence=1.0`` the interval is the values' whole range: PASS only when every value meets the
    target, FAIL when none does (for a few runs' figures, where a median's interval means little)."""
    low, high, coverage = median_interval(values, confidence)
    met_low, met_high = (low >= goal, high >= goal) if op == ">=" else (low <= goal, high <= goal)
    word = "PASS" if met_low and met_high else "FAIL" if not (met_low or met_high) else "UNRESOLVED"
    return (
        f"target {op} {fmt(goal)}: {word} (median {fmt(statistics.median(values))}, "
        f"{coverage:.0%} interval {fmt(low)} .. {fmt(high)}, n={len(values)})"
    )


def mlflow_version(python: str = sys.executable) -> str | None:
    """The MLflow version importable by ``python``, or None."""
    proc = subprocess.run(
        [python, "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True, text=True
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A tracking server subprocess on loopback, ready once ``GET /health`` answers 200."""

    def __init__(self, argv: Sequence[str], port: int, log_path: str) -> None:
        self.argv = list(argv)
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log_path}")
            with contextlib.suppress(urllib.error.URLError, OSError):
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@contextlib.contextmanager
def serving(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def tracking_server(kind: str, workdir: str, workers: int, python: str = sys.executable) -> Server:
    """``asynctrack server`` or ``mlflow server`` on a fresh SQLite file in ``workdir``."""
    port = free_port()
    db = os.path.join(workdir, f"{kind}.db")
    common: list[Any] = ["--host", "127.0.0.1", "--port", str(port), "--backend-store-uri", f"sqlite:///{db}"]
    if kind == "asynctrack":
        argv = [python, "-m", "asynctrack", "server", *common, "--workers", str(workers)]
    else:
        argv = [
            python,
            "-m",
            "mlflow",
            "server",
            *common,
            "--default-artifact-root",
            os.path.join(workdir, "artifacts"),
            "--workers",
            str(workers),
        ]
    return Server(argv, port, os.path.join(workdir, f"{kind}-server.log"))


def voluntary_switches() -> int:
    """The calling thread's voluntary context switches (Linux; 0 elsewhere): each is a wait, in a training
    loop mostly for the GIL while a background thread holds it, counted whatever the machine's load."""
    try:
        with open("/proc/thread-self/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
