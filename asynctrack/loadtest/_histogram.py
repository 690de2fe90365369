"""Latency histograms with logarithmic bins: cheap to record from a hot loop, exact to merge across
threads and processes, small to send, and good for percentiles and CDF plots.

A bin spans 1/100 of a decade (values within 2.3 % share one), from 1 ns to 1,000 s. Callers append
raw nanosecond durations to a plain ``array('q')`` (one C-level append per call) and fold it into the
counts now and then with numpy; the exact count, sum and maximum are kept beside the bins.
"""

from __future__ import annotations

import threading
from array import array

import msgspec
import numpy as np
import numpy.typing as npt

__all__ = ["BINS_PER_DECADE", "Histogram", "LatencySummary", "Recorder", "bin_edges_ns"]

BINS_PER_DECADE = 100
_DECADES = 12  # 1 ns .. 1e12 ns (1,000 s)
_NBINS = BINS_PER_DECADE * _DECADES


def bin_edges_ns() -> npt.NDArray[np.float64]:
    """The ``_NBINS + 1`` bin edges, in nanoseconds."""
    return np.asarray(10.0 ** (np.arange(_NBINS + 1) / BINS_PER_DECADE), dtype=np.float64)


def _bins_of(ns: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    logs = np.log10(np.maximum(ns, 1).astype(np.float64)) * BINS_PER_DECADE
    return np.clip(logs.astype(np.intp), 0, _NBINS - 1)


class LatencySummary(msgspec.Struct, frozen=True):
    """Percentiles of one kind of call, in milliseconds (None when nothing was recorded)."""

    count: int
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None


class Histogram(msgspec.Struct):
    """Counts per logarithmic bin plus the exact count, sum and max; serialised sparsely.

    ``bins`` lists ``[bin, count]`` pairs of the non-empty bins, so a histogram travels as a few hundred
    numbers at most and merges by adding counts.
    """

    count: int = 0
    sum_ns: int = 0
    max_ns: int = 0
    bins: list[tuple[int, int]] = []

    def dense(self) -> npt.NDArray[np.int64]:
        out = np.zeros(_NBINS, dtype=np.int64)
        for i, c in self.bins:
            out[i] += c
        return out

    @classmethod
    def from_dense(cls, counts: npt.NDArray[np.int64], sum_ns: int, max_ns: int) -> Histogram:
        nz = np.flatnonzero(counts)
        return cls(
            int(counts.sum()),
            sum_ns,
            max_ns,
            [(int(i), int(c)) for i, c in zip(nz.tolist(), counts[nz].tolist(), strict=True)],
        )

    @classmethod
    def merge(cls, hists: list[Histogram]) -> Histogram:
        total = np.zeros(_NBINS, dtype=np.int64)
        for h in hists:
            for i, c in h.bins:
                total[i] += c
        return cls.from_dense(total, sum(h.sum_ns for h in hists), max((h.max_ns for h in hists), default=0))

    def quantile_ns(self, q: float) -> float | None:
        """The ``q``-quantile (0..1): the geometric middle of the bin holding it (the max for q=1)."""
        if not self.count:
            return None
        if q >= 1.0:
            return float(self.max_ns)
        rank = max(1, int(np.ceil(q * self.count)))
        seen = 0
        for i, c in sorted(self.bins):
            seen += c
            if seen >= rank:
                mid = float(10.0 ** ((i + 0.5) / BINS_PER_DECADE))
                return min(mid, float(self.max_ns))
        return float(self.max_ns)

    def summary(self) -> LatencySummary:
        def ms(q: float) -> float | None:
            v = self.quantile_ns(q)
            return None if v is None else v / 1e6

        return LatencySummary(
            count=self.count,
            mean_ms=self.sum_ns / self.count / 1e6 if self.count else None,
            p50_ms=ms(0.50),
            p90_ms=ms(0.90),
            p99_ms=ms(0.99),
            p999_ms=ms(0.999),
            max_ms=self.max_ns / 1e6 if self.count else None,
        )

    def cdf(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(upper bin edges in ms, cumulative fraction)`` over the non-empty bins, for plotting."""
        if not self.count:
            return np.zeros(0), np.zeros(0)
        pairs = sorted(self.bins)
        idx = np.array([i for i, _ in pairs], dtype=np.float64)
        counts = np.array([c for _, c in pairs], dtype=np.float64)
        upper_ms = 10.0 ** ((idx + 1) / BINS_PER_DECADE) / 1e6
        return upper_ms, np.cumsum(counts) / counts.sum()


class Recorder:
    """One thread's latencies: ``add(ns)`` on the hot path, ``fold()`` now and then, ``snapshot()``
    from any thread."""

    FOLD_AT = 4096

    def __init__(self) -> None:
        self.pending: array[int] = array("q")
        self._counts = np.zeros(_NBINS, dtype=np.int64)
        self._sum = 0
        self._max = 0
        self._lock = threading.Lock()

    def add(self, ns: int) -> None:
        self.pending.append(ns)

    def fold(self) -> None:
        """Move the pending durations into the bins (the recording thread calls this)."""
        if not self.pending:
            return
        taken, self.pending = self.pending, array("q")
        values = np.frombuffer(taken, dtype=np.int64)
        counts = np.bincount(_bins_of(values), minlength=_NBINS)
        with self._lock:
            self._counts += counts
            self._sum += int(values.sum())
            self._max = max(self._max, int(values.max()))

    def fold_if_due(self) -> None:
        if len(self.pending) >= self.FOLD_AT:
            self.fold()

    def snapshot(self) -> Histogram:
        with self._lock:
            return Histogram.from_dense(self._counts.copy(), self._sum, self._max)
