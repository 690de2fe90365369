"""The verification pass: read every run back and compare it with what was sent, point by point.

For each run: ``get_run`` (params and tags) and the full history of every metric key. Expected points
are steps ``0 .. n-1`` of each key, less the calls that raised; each landed point must sit at an expected
step, once, with the value :func:`~asynctrack.loadtest._values.metric_values` gives. A target that stops
answering ends the pass early (``complete=False``), as does Ctrl-C; what was checked is still reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import anyio
import numpy as np

from asynctrack.exceptions import RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.loadtest._protocol import RunSent
from asynctrack.loadtest._result import Difference, Verification
from asynctrack.loadtest._target import open_target
from asynctrack.loadtest._values import metric_keys, metric_values
from asynctrack.store._protocol import AbstractStore, StoreUnavailable

__all__ = ["MAX_DIFFERENCES", "verify"]

#: Differences kept in the result (all are counted).
MAX_DIFFERENCES = 1000
_CONCURRENT_REMOTE = 8


class _Pass:
    def __init__(self, runs: Sequence[RunSent], keys: list[str], cancelled: Callable[[], bool]) -> None:
        self.runs = runs
        self.keys = keys
        self.cancelled = cancelled
        self.v = Verification(runs=len(runs))
        self.stop_reason: str | None = None

    def differ(self, d: Difference) -> None:
        self.v.differences_total += 1
        if len(self.v.differences) < MAX_DIFFERENCES:
            self.v.differences.append(d)

    async def run_one(self, store: AbstractStore, sent: RunSent) -> None:
        if self.stop_reason is not None:
            return
        if self.cancelled():
            self.stop_reason = "interrupted (Ctrl-C)"
            return
        try:
            await self._check(store, sent)
        except StoreUnavailable as exc:
            self.stop_reason = f"the target stopped answering: {exc.message}"
        except MlflowException as exc:
            self.stop_reason = f"reading run {sent.run_id} failed: {exc.message} ({exc.error_code})"

    async def _check(self, store: AbstractStore, sent: RunSent) -> None:
        v = self.v
        try:
            run = await store.get_run(sent.run_id)
        except MlflowException as exc:
            if exc.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
            n = sum(sent.counts)
            v.metrics_sent += n
            v.lost += n
            self.differ(Difference(sent.run_id, "run", 1, 0, "run not found"))
            v.runs_checked += 1
            return
        self._compare_items("param", sent.params, run.data.params, sent.run_id)
        self._compare_items("tag", sent.tags, run.data.tags, sent.run_id)
        failed: dict[int, list[int]] = {}
        for k, step in sent.failed:
            failed.setdefault(k, []).append(step)
        for k, key in enumerate(self.keys):
            series = await store.get_metric_series(sent.run_id, key)
            self._compare_series(sent, k, key, series.steps, series.values, failed.get(k, []))
        v.runs_checked += 1

    def _compare_items(self, kind: str, sent: dict[str, str], landed: dict[str, str], run_id: str) -> None:
        v = self.v
        ok = sum(1 for k, val in sent.items() if landed.get(k) == val)
        if kind == "param":
            v.params_sent += len(sent)
            v.params_landed += ok
        else:
            v.tags_sent += len(sent)
            v.tags_landed += ok
        v.lost += len(sent) - ok
        for k, val in sent.items():
            if landed.get(k) != val:
                got = "missing" if k not in landed else f"value {landed[k]!r}"
                self.differ(Difference(run_id, f"{kind} {k}", 1, 0, f"sent {val!r}, {got}"))

    def _compare_series(
        self,
        sent: RunSent,
        k: int,
        key: str,
        steps: np.ndarray,
        values: np.ndarray,
        failed: list[int],
    ) -> None:
        v = self.v
        expected = np.arange(sent.counts[k], dtype=np.int64)
        if failed:
            expected = np.setdiff1d(expected, np.asarray(failed, dtype=np.int64), assume_unique=True)
        v.metrics_sent += len(expected)
        uniq, first, counts = np.unique(steps.astype(np.int64), return_index=True, return_counts=True)
        duplicates = int((counts - 1).sum())
        known = np.isin(uniq, expected, assume_unique=True)
        stray = int(counts[~known].sum())
        landed_steps = uniq[known]
        landed_values = values[first[known]]
        wrong = int(np.count_nonzero(landed_values != metric_values(sent.salt, k, landed_steps)))
        missing = len(expected) - len(landed_steps)
        v.metrics_landed += len(landed_steps)
        v.lost += missing
        v.unexpected += duplicates + stray
        v.wrong_values += wrong
        if missing or duplicates or stray or wrong:
            parts = []
            if missing:
                gone = np.setdiff1d(expected, landed_steps, assume_unique=True)
                parts.append(f"{missing} missing (steps {_ranges(gone)})")
            if duplicates:
                parts.append(f"{duplicates} duplicate points")
            if stray:
                parts.append(f"{stray} points at steps never sent")
            if wrong:
                parts.append(f"{wrong} wrong values")
            if sent.failed_overflow:
                parts.append("more calls failed than were recorded; some missing steps may be failed calls")
            self.differ(
                Difference(sent.run_id, f"metric {key}", len(expected), len(landed_steps), "; ".join(parts))
            )


def _ranges(steps: np.ndarray, limit: int = 5) -> str:
    """``0-9, 15, 20-29, ...``: a short description of a sorted array of steps."""
    if not len(steps):
        return ""
    breaks = np.flatnonzero(np.diff(steps) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(steps) - 1]))
    parts = [
        f"{steps[s]}" if s == e else f"{steps[s]}-{steps[e]}"
        for s, e in zip(starts[:limit], ends[:limit], strict=True)
    ]
    return ", ".join(parts) + (", ..." if len(starts) > limit else "")


def verify(
    uri: str, runs: Sequence[RunSent], metrics: int, cancelled: Callable[[], bool] = lambda: False
) -> Verification:
    """Read back ``runs`` from ``uri`` and count what landed against what was sent."""
    started = time.perf_counter()
    check = _Pass(runs, metric_keys(metrics), cancelled)

    async def main() -> None:
        async with open_target(uri, retries=2, request_timeout=60.0) as store:
            width = _CONCURRENT_REMOTE if uri.lower().startswith(("http://", "https://")) else 1
            limiter = anyio.CapacityLimiter(width)

            async def one(sent: RunSent) -> None:
                async with limiter:
                    await check.run_one(store, sent)

            async with anyio.create_task_group() as tg:
                for sent in runs:
                    tg.start_soon(one, sent)

    try:
        anyio.run(main)
    except (MlflowException, OSError) as exc:
        check.stop_reason = f"{exc.message if isinstance(exc, MlflowException) else exc}"
    v = check.v
    if check.stop_reason is not None:
        v.complete = False
        v.error = " ".join(check.stop_reason.split())
    v.seconds = time.perf_counter() - started
    return v
