"""Offline mode (``ASYNCTRACK_OFFLINE=1``): log to the journal only; ``asynctrack sync`` uploads later.

:class:`OfflineStore` stands in for the remote store. Experiments and runs are created locally with ids of
their own (``offline-...``), recorded in the journal (:class:`ExperimentRecord`, :class:`RunRecord`), and
every write the pipeline makes is only journaled (the journal does not acknowledge it). ``asynctrack sync``
then finds or creates the experiments by name at the target, creates the runs, records the id mapping in
the journal (so a sync that is interrupted and started again never creates a run twice) and replays the
writes with the target's ids.

Reads need the server: searches and histories raise a clear error. ``get_run`` answers for the runs this
process created (what the fluent API needs to start and end them).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence

from asynctrack._system_tags import MLFLOW_RUN_NAME as _RUN_NAME_TAG
from asynctrack.entities import Experiment, LifecycleStage, Param, Run, RunData, RunInfo, RunStatus, RunTag
from asynctrack.exceptions import (
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    MlflowException,
)
from asynctrack.journal._format import ExperimentRecord, RunRecord
from asynctrack.journal._journal import Journal
from asynctrack.store import AbstractStore, MetricSeries

__all__ = ["OFFLINE_PREFIX", "OfflineStore"]

OFFLINE_PREFIX = "offline-"


def _offline(what: str) -> MlflowException:
    return MlflowException(
        f"{what} needs the tracking server, and ASYNCTRACK_OFFLINE=1 logs to the local journal only; run "
        "`asynctrack sync` to upload, then read with ASYNCTRACK_OFFLINE unset.",
        error_code=INVALID_STATE,
    )


class OfflineStore(AbstractStore):
    """A store that journals instead of sending (see the module docstring)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._experiments: dict[str, Experiment] = {
            "0": Experiment("0", "Default", "", LifecycleStage.ACTIVE, {}, None, None)
        }
        self._runs: dict[str, Run] = {}

    # -- experiments: local ids, recorded for sync
    async def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[tuple[str, str]] = ()
    ) -> str:
        if any(e.name == name for e in self._experiments.values()):
            raise MlflowException(f"Experiment(name={name}) already exists.", RESOURCE_ALREADY_EXISTS)
        local_id = OFFLINE_PREFIX + uuid.uuid4().hex[:16]
        await self.journal.record(ExperimentRecord(local_id, name))
        now = int(time.time() * 1000)
        self._experiments[local_id] = Experiment(
            local_id, name, artifact_location or "", LifecycleStage.ACTIVE, dict(tags), now, now
        )
        return local_id

    async def get_experiment(self, experiment_id: str) -> Experiment:
        found = self._experiments.get(str(experiment_id))
        if found is None:
            raise _offline(f"Reading experiment {experiment_id}")
        return found

    async def get_experiment_by_name(self, name: str) -> Experiment | None:
        # Unknown names are created by the caller (set_experiment); sync then finds or creates them.
        return next((e for e in self._experiments.values() if e.name == name), None)

    async def delete_experiment(self, experiment_id: str) -> None:
        raise _offline("Deleting an experiment")

    async def restore_experiment(self, experiment_id: str) -> None:
        raise _offline("Restoring an experiment")

    async def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        raise _offline("Renaming an experiment")

    async def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        raise _offline("Tagging an experiment")

    async def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        raise _offline("Deleting an experiment tag")

    # -- runs: local ids, recorded for sync
    async def create_run(
        self, experiment_id: str, user_id: str, start_time: int, tags: Sequence[RunTag], run_name: str | None
    ) -> Run:
        experiment_id = str(experiment_id)
        run_name = run_name or next((t.value for t in tags if t.key == _RUN_NAME_TAG), None)
        local_id = OFFLINE_PREFIX + uuid.uuid4().hex[:24]
        all_tags = [(t.key, t.value) for t in tags]
        if run_name and not any(k == _RUN_NAME_TAG for k, _ in all_tags):
            all_tags.append((_RUN_NAME_TAG, run_name))
        await self.journal.record(RunRecord(local_id, experiment_id, user_id, start_time, run_name, all_tags))
        info = RunInfo(
            local_id,
            experiment_id,
            user_id,
            RunStatus.to_string(RunStatus.RUNNING),
            start_time,
            None,
            LifecycleStage.ACTIVE,
            None,
            run_name,
        )
        run = Run(info=info, data=RunData(tags=dict(all_tags)))
        self._runs[local_id] = run
        return run

    async def get_run(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise MlflowException(
                f"Run with id={run_id} not found (offline: only runs created by this process are known)",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        return run

    async def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        info = (await self.get_run(run_id)).info
        if status is not None:
            info.status = status
        if end_time is not None:
            info.end_time = end_time
        if run_name is not None:
            info.run_name = run_name
        return info

    async def delete_run(self, run_id: str) -> None:
        raise _offline("Deleting a run")

    async def restore_run(self, run_id: str) -> None:
        raise _offline("Restoring a run")

    # -- writes: the journal already holds them (the pipeline journals before it ships)
    async def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricSeries],
        params: Sequence[Param],
        tags: Sequence[RunTag],
        on_durable: Callable[[], None] | None = None,
    ) -> None:
        await self.get_run(run_id)
        if on_durable is not None:
            on_durable()

    async def delete_tag(self, run_id: str, key: str) -> None:
        await self.get_run(run_id)

    # -- reads need the server
    async def get_metric_series(self, run_id: str, key: str) -> MetricSeries:
        raise _offline("Reading metric history")

    async def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        run_view_type: int,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        raise _offline("Searching runs")

    async def search_experiments(
        self,
        view_type: int,
        max_results: int,
        filter_string: str,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Experiment], str | None]:
        raise _offline("Searching experiments")

    async def aclose(self) -> None:
        return None
