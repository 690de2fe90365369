"""The copy itself: experiments, then each experiment's runs, each run's params, tags and metric histories
written in bulk (``log_batches`` of the target's largest batches) after its dataset inputs (``log_inputs``),
then the run's status, end time and lifecycle stage; a verification count of both sides at the end.

Reading and writing overlap: the next runs' histories are read (a bounded read-ahead) while the current
run is written. Every data write carries an idempotency key (``asynctrack-copy:<source run>:<target
run>:<n>``, ``n`` the write's position in the run's deterministic plan), so a run cut short by a crash or
Ctrl-C is completed on the next run of the command without duplicating a point; the side file
(``_state.py``) records each run as it is created and as it completes, so complete runs are skipped unread
and an incomplete one is finished in the same target run. Dataset inputs need no key: a store records a
run's use of a (name, digest) dataset once, so logging them again on a resumed run adds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import anyio
import msgspec

from asynctrack.entities import Experiment, LifecycleStage, ViewType
from asynctrack.exceptions import INVALID_STATE, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.store._protocol import AbstractStore, BatchLimits, BatchWrite, MetricSeries, RunCounts
from asynctrack.transfer._source import Source, SourceRun, Totals
from asynctrack.transfer._state import CopyState

__all__ = ["CopyProgress", "CopyReport", "copy_store", "plan_writes"]

_POINTS_PER_CALL = 100_000  # points per log_batches call (one transaction in a database store)
_READ_AHEAD = 2  # runs whose histories may be read before the current one is written


class CopyProgress(Protocol):
    """Told how the copy goes (the CLI's progress bar; tests use it to interrupt at a known point)."""

    def started(self, runs: int, skipped: int) -> None: ...

    def written(self, points: int) -> None: ...

    def run_done(self) -> None: ...


class _Quiet:
    def started(self, runs: int, skipped: int) -> None:
        pass

    def written(self, points: int) -> None:
        pass

    def run_done(self) -> None:
        pass


class CopyReport(msgspec.Struct):
    """The outcome: both sides' counts (``source`` counted by the source itself where it can), how many
    runs were copied now and how many were already complete, and notes on what was not copied."""

    source: Totals
    target: Totals
    copied_runs: int
    skipped_runs: int
    seconds: float
    state_path: str
    notes: list[str] = msgspec.field(default_factory=list)

    @property
    def matches(self) -> bool:
        """Experiments, runs, params, tags, points and dataset inputs equal on both sides."""
        s, t = self.source, self.target
        return (s.experiments, s.runs, s.params, s.tags, s.points, s.inputs) == (
            t.experiments,
            t.runs,
            t.params,
            t.tags,
            t.points,
            t.inputs,
        )


def plan_writes(
    target_run_id: str, run: SourceRun, series: Sequence[MetricSeries], limits: BatchLimits
) -> list[BatchWrite]:
    """The run's data as batches within the target's limits, each with its idempotency key; the same
    source data always gives the same plan (what makes a resumed copy exact)."""
    writes: list[BatchWrite] = []
    source_id = run.info.run_id

    def add(metrics: Sequence[MetricSeries], params: Sequence[object], tags: Sequence[object]) -> None:
        key = f"asynctrack-copy:{source_id}:{target_run_id}:{len(writes)}"
        writes.append(BatchWrite(target_run_id, list(metrics), list(params), list(tags), key))  # type: ignore[arg-type]

    params, tags = list(run.params), list(run.tags)
    while params or tags:
        add((), params[: limits.max_params], tags[: limits.max_tags])
        params, tags = params[limits.max_params :], tags[limits.max_tags :]
    room = max(1, min(limits.max_metrics, limits.max_entities))
    pending: list[MetricSeries] = []
    free = room
    for s in series:
        lo = 0
        while lo < len(s):
            take = min(free, len(s) - lo)
            hi = lo + take
            piece = (
                s
                if (lo, hi) == (0, len(s))
                else MetricSeries(s.key, s.values[lo:hi], s.timestamps[lo:hi], s.steps[lo:hi])
            )
            pending.append(piece)
            free -= take
            lo = hi
            if free == 0:
                add(pending, (), ())
                pending, free = [], room
    if pending:
        add(pending, (), ())
    return writes


async def _write_all(target: AbstractStore, writes: list[BatchWrite], progress: CopyProgress) -> None:
    start = 0
    while start < len(writes):
        end, points = start, 0
        while end < len(writes) and (end == start or points < _POINTS_PER_CALL):
            points += sum(len(s) for s in writes[end].metrics)
            end += 1
        group = writes[start:end]
        outcomes = await target.log_batches(group)
        for outcome in outcomes:
            if outcome is not None:
                raise outcome
        progress.written(sum(len(s) for w in group for s in w.metrics))
        start = end


async def _target_experiment(target: AbstractStore, exp: Experiment, state: CopyState) -> str:
    mapped = state.experiments.get(exp.experiment_id)
    if mapped is not None:
        try:
            await target.get_experiment(mapped)
            return mapped
        except MlflowException as exc:
            if exc.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
            raise MlflowException(
                f"The copy's state file {state.path} says experiment {exp.experiment_id} was copied to "
                f"experiment {mapped}, which the target does not have: the file belongs to another copy. "
                "Delete it (or pass another --state) to start again.",
                error_code=INVALID_STATE,
            ) from None
    target_id = await target.import_experiment(exp)
    await anyio.to_thread.run_sync(state.experiment_mapped, exp.experiment_id, target_id)
    return target_id


async def _copy_run(
    target: AbstractStore,
    experiment_id: str,
    run: SourceRun,
    series: list[MetricSeries],
    state: CopyState,
    progress: CopyProgress,
) -> tuple[str, RunCounts]:
    begun = state.started.get(run.info.run_id)
    if begun is not None:  # created by an interrupted copy: finish that run
        info = (await target.get_run(begun)).info
    else:
        info = await target.import_run(experiment_id, run.info)
        await anyio.to_thread.run_sync(state.run_started, run.info.run_id, info.run_id)
    run_id = info.run_id
    if info.lifecycle_stage == LifecycleStage.DELETED:  # a resumed run, finished before the crash
        await target.restore_run(run_id)
    if run.datasets:  # before the data: a resumed run logs them again, which adds nothing
        await target.log_inputs(run_id, run.datasets)
    await _write_all(target, plan_writes(run_id, run, series, target.limits), progress)
    src = run.info
    await target.update_run_info(run_id, src.status, src.end_time, None)
    if src.lifecycle_stage == LifecycleStage.DELETED:
        await target.delete_run(run_id)
    counts = run.counts(sum(len(s) for s in series))
    await anyio.to_thread.run_sync(state.run_done, src.run_id, run_id, counts, run.inputs)
    progress.run_done()
    return run_id, counts


async def copy_store(
    source: Source, target: AbstractStore, state: CopyState, progress: CopyProgress | None = None
) -> CopyReport:
    """Copy everything ``source`` holds into ``target`` (see the module docstring); resumable."""
    began = time.monotonic()
    bar = progress or _Quiet()
    experiments = await source.experiments()
    plan: list[tuple[Experiment, list[SourceRun]]] = []
    for exp in experiments:
        plan.append((exp, await source.runs(exp.experiment_id)))
    total = sum(len(runs) for _, runs in plan)
    skipped = sum(1 for _, runs in plan for r in runs if r.info.run_id in state.runs)
    bar.started(total, skipped)
    tally = Totals(experiments=len(plan))
    target_runs: list[str] = []
    target_experiments: set[str] = set()
    copied = 0
    for exp, runs in plan:
        experiment_id = await _target_experiment(target, exp, state)
        target_experiments.add(experiment_id)
        todo = []
        for run in runs:
            done = state.runs.get(run.info.run_id)
            if done is None:
                todo.append(run)
            else:
                target_runs.append(done[0])
                tally.add_run(done[1], done[2])
        if todo:
            here = await target.get_experiment(experiment_id)
            if here.lifecycle_stage == LifecycleStage.DELETED:  # resumed after the experiment was finished
                await target.restore_experiment(experiment_id)
            send, receive = anyio.create_memory_object_stream[tuple[SourceRun, list[MetricSeries]]](
                _READ_AHEAD
            )

            async def read(
                todo: list[SourceRun] = todo,
                send: anyio.abc.ObjectSendStream[tuple[SourceRun, list[MetricSeries]]] = send,
            ) -> None:
                async with send:
                    for run in todo:
                        await send.send((run, await source.metric_series(run)))

            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(read)
                    async with receive:
                        async for run, series in receive:
                            run_id, counts = await _copy_run(target, experiment_id, run, series, state, bar)
                            target_runs.append(run_id)
                            tally.add_run(counts, run.inputs)
                            copied += 1
            except (
                BaseExceptionGroup
            ) as group:  # one failure (a read or a write) ends the copy: show it plain
                if len(group.exceptions) == 1:
                    raise group.exceptions[0] from None
                raise
        if exp.lifecycle_stage == LifecycleStage.DELETED:
            here = await target.get_experiment(experiment_id)
            if here.lifecycle_stage != LifecycleStage.DELETED:
                await target.delete_experiment(experiment_id)
    source_totals = await source.totals() or tally
    found = await target.run_counts(target_runs)
    target_totals = Totals(experiments=0)
    for experiment_id in target_experiments:
        try:
            await target.get_experiment(experiment_id)
            target_totals.experiments += 1
        except MlflowException as exc:
            if exc.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
    for counts in found.values():
        target_totals.add_run(counts)
    target_totals.inputs = await _target_inputs(target, target_experiments, set(target_runs))
    notes = await source.not_copied()
    return CopyReport(
        source_totals, target_totals, copied, skipped, time.monotonic() - began, state.path, notes
    )


async def _target_inputs(target: AbstractStore, experiment_ids: set[str], run_ids: set[str]) -> int:
    """The dataset inputs of the copied runs as the target has them (search pages of the experiments the
    copy wrote to; runs of those experiments that the copy did not write are left out)."""
    found = 0
    for experiment_id in sorted(experiment_ids):
        token: str | None = None
        while True:
            page, token = await target.search_runs([experiment_id], "", ViewType.ALL, 1000, [], token)
            found += sum(len(r.inputs.dataset_inputs) for r in page if r.info.run_id in run_ids)
            if not token:
                break
    return found
