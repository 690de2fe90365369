"""The REST store: the store protocol over MLflow's REST API 2.0, for ``http://`` and ``https://``
tracking URIs (``mlflow server``, hosted MLflow, ``asynctrack server``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

import anyio
import msgspec
import numpy as np
import numpy.typing as npt

from asynctrack._http._config import HttpConfig
from asynctrack._http._errors import malformed_response
from asynctrack._rest._datasets import SearchDatasets, SearchDatasetsResponse
from asynctrack._rest._messages import (
    AJAX_PREFIX,
    API_PREFIX,
    CreateExperiment,
    CreateExperimentResponse,
    CreateRun,
    DeleteExperimentTag,
    DeleteTag,
    Empty,
    ExperimentById,
    ExperimentResponse,
    LogInputs,
    MetricPointsResponse,
    RunById,
    RunInfoResponse,
    RunResponse,
    SearchExperiments,
    SearchExperimentsResponse,
    SearchRuns,
    SearchRunsResponse,
    SetExperimentTag,
    UpdateExperiment,
    UpdateRun,
)
from asynctrack._rest._wire import (
    KeyValueJ,
    RunInfoJ,
    RunJ,
    dataset_input_to_wire,
    experiment_from_wire,
    run_from_wire,
    run_info_from_wire,
)
from asynctrack.entities import DatasetInput, DatasetSummary, Experiment, Param, Run, RunInfo, RunTag
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.store._protocol import AbstractStore, BatchLimits, BatchWrite, MetricSeries
from asynctrack.store._retry import retry_transient
from asynctrack.store.rest._codec import encode_log_batch, points_to_columns, split_batch
from asynctrack.store.rest._logged_models import RestLoggedModels
from asynctrack.store.rest._registry import RestRegistry
from asynctrack.store.rest._transport import QueryParams, Transport

__all__ = ["HISTORY_PAGE_SIZE", "RestStore"]

T = TypeVar("T")

#: MLflow's client reads history in pages of this many points (GET_METRIC_HISTORY_MAX_RESULTS).
HISTORY_PAGE_SIZE = 25_000

# ViewType's integers as the proto enum names the REST API takes.
_VIEW_TYPES = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}

_encode = msgspec.json.Encoder().encode
_EMPTY = msgspec.json.Decoder(Empty)
_DATASET_SUMMARIES = msgspec.json.Decoder(SearchDatasetsResponse)
_EXPERIMENT = msgspec.json.Decoder(ExperimentResponse)
_CREATED_EXPERIMENT = msgspec.json.Decoder(CreateExperimentResponse)
_RUN = msgspec.json.Decoder(RunResponse)
_RUN_INFO = msgspec.json.Decoder(RunInfoResponse)
_RUNS = msgspec.json.Decoder(SearchRunsResponse)
_EXPERIMENTS = msgspec.json.Decoder(SearchExperimentsResponse)
_HISTORY = msgspec.json.Decoder(MetricPointsResponse)


def _view_type(view_type: int) -> str:
    try:
        return _VIEW_TYPES[int(view_type)]
    except (KeyError, TypeError, ValueError):
        raise MlflowException(
            f"Invalid view type '{view_type}'", error_code=INVALID_PARAMETER_VALUE
        ) from None


class RestStore(AbstractStore, RestRegistry, RestLoggedModels):
    """Coroutines over one MLflow-compatible tracking server.

    >>> store = await RestStore.open("http://127.0.0.1:5000")    # doctest: +SKIP
    >>> run = await store.create_run("0", "me", now_ms, [], None)  # doctest: +SKIP

    One pooled HTTP client serves every call (see :class:`Transport`); settings come from MLflow's
    environment variables (:meth:`HttpConfig.from_env`) unless ``config`` is given. Transient failures
    are retried there; when the retries are spent, :class:`StoreUnavailable` is raised, which the
    pipeline's worker keeps retrying with its own back-off, so nothing accepted for logging is dropped.
    """

    #: MLflow's REST limits: 1,000 metric points, 100 params, 100 tags, 1,000 entities per log-batch.
    limits = BatchLimits()
    #: Runs whose batches may be in flight at once. A write is a round trip that leaves the loop idle;
    #: eight overlap enough to keep a multi-worker server busy without flooding a single-worker one
    #: (over HTTP/1.1 each in-flight request holds its own pooled connection).
    concurrent_writes = 8

    @property
    def synchronous_retries(self) -> int:
        return 0  # each call has made MLFLOW_HTTP_REQUEST_MAX_RETRIES retries before it fails

    def __init__(self, transport: Transport, *, history_page_size: int = HISTORY_PAGE_SIZE) -> None:
        self._t = transport
        self._page = history_page_size
        self.uri = transport.base_url

    @classmethod
    async def open(
        cls, uri: str, config: HttpConfig | None = None, *, history_page_size: int = HISTORY_PAGE_SIZE
    ) -> RestStore:
        """A store for the server at ``uri`` (its base URL; MLflow's endpoints live under it).

        Opening makes no request: an unreachable server is reported by the first call.
        """
        # In a thread: the TLS settings read certificate files, which must not block the event loop.
        transport = await anyio.to_thread.run_sync(Transport.open, uri, config or HttpConfig.from_env())
        return cls(transport, history_page_size=history_page_size)

    async def _post(
        self,
        endpoint: str,
        body: msgspec.Struct | bytes,
        decoder: msgspec.json.Decoder[T],
        key: str | None = None,
    ) -> T:
        raw = body if isinstance(body, bytes) else _encode(body)
        return await self._t.call("POST", API_PREFIX + endpoint, decoder, body=raw, idempotency_key=key)

    async def _get(self, endpoint: str, params: QueryParams, decoder: msgspec.json.Decoder[T]) -> T:
        return await self._t.call("GET", API_PREFIX + endpoint, decoder, params=params)

    # -- experiments
    async def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[tuple[str, str]] = ()
    ) -> str:
        body = CreateExperiment(name, artifact_location, [KeyValueJ(k, v) for k, v in tags] or None)
        resp = await self._post("/experiments/create", body, _CREATED_EXPERIMENT)
        if not resp.experiment_id:
            raise malformed_response(self._t.url(API_PREFIX + "/experiments/create"), ValueError("no id"))
        return resp.experiment_id

    async def get_experiment(self, experiment_id: str) -> Experiment:
        resp = await self._get("/experiments/get", {"experiment_id": str(experiment_id)}, _EXPERIMENT)
        return self._experiment(resp, "/experiments/get")

    async def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            resp = await self._get("/experiments/get-by-name", {"experiment_name": name}, _EXPERIMENT)
        except MlflowException as exc:
            if exc.error_code == RESOURCE_DOES_NOT_EXIST:
                return None
            raise
        return self._experiment(resp, "/experiments/get-by-name")

    def _experiment(self, resp: ExperimentResponse, endpoint: str) -> Experiment:
        if resp.experiment is None:
            raise malformed_response(self._t.url(API_PREFIX + endpoint), ValueError("no experiment"))
        return experiment_from_wire(resp.experiment)

    async def delete_experiment(self, experiment_id: str) -> None:
        await self._post("/experiments/delete", ExperimentById(str(experiment_id)), _EMPTY)

    async def restore_experiment(self, experiment_id: str) -> None:
        await self._post("/experiments/restore", ExperimentById(str(experiment_id)), _EMPTY)

    async def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        await self._post("/experiments/update", UpdateExperiment(str(experiment_id), new_name), _EMPTY)

    async def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        body = SetExperimentTag(str(experiment_id), key, value)
        await self._post("/experiments/set-experiment-tag", body, _EMPTY)

    async def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        body = DeleteExperimentTag(str(experiment_id), key)
        await self._post("/experiments/delete-experiment-tag", body, _EMPTY)

    # -- runs
    async def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        body = CreateRun(
            experiment_id=str(experiment_id),
            user_id=user_id,
            run_name=run_name,
            start_time=start_time,
            tags=[KeyValueJ(t.key, t.value) for t in tags] or None,
        )
        resp = await self._post("/runs/create", body, _RUN)
        return self._run(resp.run, "/runs/create")

    async def get_run(self, run_id: str) -> Run:
        resp = await self._get("/runs/get", {"run_id": run_id}, _RUN)
        return self._run(resp.run, "/runs/get")

    def _run(self, run: RunJ | None, endpoint: str) -> Run:
        if run is None or run.info is None:
            raise malformed_response(self._t.url(API_PREFIX + endpoint), ValueError("no run"))
        return run_from_wire(run)

    async def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        body = UpdateRun(run_id=run_id, run_uuid=run_id, status=status, end_time=end_time, run_name=run_name)
        resp = await self._post("/runs/update", body, _RUN_INFO)
        info: RunInfoJ | None = resp.run_info
        if info is None:
            raise malformed_response(self._t.url(API_PREFIX + "/runs/update"), ValueError("no run_info"))
        return run_info_from_wire(info)

    async def delete_run(self, run_id: str) -> None:
        await self._post("/runs/delete", RunById(run_id), _EMPTY)

    async def restore_run(self, run_id: str) -> None:
        await self._post("/runs/restore", RunById(run_id), _EMPTY)

    # -- the pipeline's write primitive
    async def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricSeries],
        params: Sequence[Param],
        tags: Sequence[RunTag],
        on_durable: Callable[[], None] | None = None,
    ) -> None:
        """One ``runs/log-batch`` request; ``on_durable`` runs once the server has answered 200.

        Within MLflow's limits (the pipeline coalesces within :attr:`limits`) this is all or nothing,
        as the server applies a log-batch in one transaction. Only a metric array longer than 1,000
        points exceeds them: it goes as consecutive requests, and once the first has been applied the
        rest are retried until they land (never re-sending what the server already took); a permanent
        error part-way leaves the earlier parts written.

        Idempotency: a request is retried after a timeout or a dropped connection even though the server
        may already have applied it. Each request carries a fresh ``Idempotency-Key`` (the same for its
        retries), so asynctrack's server applies it once. Other servers: params (same value) and tags are
        unaffected; metric points may be stored twice by servers that keep exact duplicates (MLflow's SQL
        store drops an exact duplicate of a point, key, value, timestamp and step alike).
        """
        await self._log_batch(run_id, metrics, params, tags, uuid.uuid4().hex)
        if on_durable is not None:
            on_durable()

    async def _write_one(self, write: BatchWrite) -> None:
        """One write of ``log_batches``: one request with the write's key (or a fresh one) as its
        ``Idempotency-Key``, so a journal replay resending it is applied once by asynctrack's server."""
        await self._log_batch(
            write.run_id, write.metrics, write.params, write.tags, write.key or uuid.uuid4().hex
        )

    async def _log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricSeries],
        params: Sequence[Param],
        tags: Sequence[RunTag],
        key: str,
    ) -> None:
        endpoint = "/runs/log-batch"
        parts = split_batch(metrics, params, tags, self.limits)
        for i, (part_metrics, part_params, part_tags) in enumerate(parts):
            body = encode_log_batch(run_id, part_metrics, part_params, part_tags)
            part_key = key if i == 0 else f"{key}/{i}"
            if i == 0:
                await self._post(endpoint, body, _EMPTY, part_key)
            else:

                async def rest(body: bytes = body, part_key: str = part_key) -> None:
                    await self._post(endpoint, body, _EMPTY, part_key)

                await retry_transient(rest, what=f"logging the rest of a metric array to run {run_id}")

    async def delete_tag(self, run_id: str, key: str) -> None:
        await self._post("/runs/delete-tag", DeleteTag(run_id, key), _EMPTY)

    # -- dataset inputs
    async def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        body = LogInputs(run_id=run_id, datasets=[dataset_input_to_wire(d) for d in datasets])
        await self._post("/runs/log-inputs", body, _EMPTY)

    async def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        """MLflow's UI endpoint (``/ajax-api/2.0/mlflow/experiments/search-datasets``)."""
        body = _encode(SearchDatasets(experiment_ids=[str(e) for e in experiment_ids]))
        resp = await self._t.call(
            "POST", AJAX_PREFIX + "/experiments/search-datasets", _DATASET_SUMMARIES, body=body
        )
        return [
            DatasetSummary(s.experiment_id, s.name, s.digest, s.context) for s in resp.dataset_summaries or ()
        ]

    # -- metric history
    async def get_metric_series(self, run_id: str, key: str) -> MetricSeries:
        """Every point of ``key``, read in pages of ``history_page_size`` (MLflow's paging) and sorted
        by step; points of equal step keep the server's order (MLflow's: timestamp, then value).

        MLflow's server answers an unknown run with an empty history; when a history is empty the run is
        looked up, so an unknown run is RESOURCE_DOES_NOT_EXIST here as in the embedded store.
        """
        endpoint = "/metrics/get-history"
        columns: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
        token: str | None = None
        while True:
            params: dict[str, str | int] = {"run_id": run_id, "metric_key": key, "max_results": self._page}
            if token:
                params["page_token"] = token
            page = await self._get(endpoint, params, _HISTORY)
            points = page.metrics or []
            if points:
                try:
                    columns.append(points_to_columns(points))
                except (ValueError, TypeError, OverflowError) as exc:
                    raise malformed_response(self._t.url(API_PREFIX + endpoint), exc) from exc
            token = page.next_page_token
            if not token or not points:  # an empty page with a token would loop forever
                break
        if not columns:
            await self.get_run(run_id)  # RESOURCE_DOES_NOT_EXIST for an unknown run
            empty = np.empty(0, np.int64)
            return MetricSeries(key, np.empty(0, np.float64), empty, empty.copy())
        if len(columns) == 1:
            values, stamps, steps = columns[0]
        else:
            values = np.concatenate([c[0] for c in columns])
            stamps = np.concatenate([c[1] for c in columns])
            steps = np.concatenate([c[2] for c in columns])
        if len(steps) > 1 and bool(np.any(steps[1:] < steps[:-1])):
            order = np.argsort(steps, kind="stable")
            values, stamps, steps = values[order], stamps[order], steps[order]
        return MetricSeries(key, values, stamps, steps)

    # -- search
    async def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        run_view_type: int,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        body = SearchRuns(
            experiment_ids=[str(e) for e in experiment_ids],
            filter=filter_string or None,
            run_view_type=_view_type(run_view_type),
            max_results=max_results,
            order_by=list(order_by) or None,
            page_token=page_token or None,
        )
        resp = await self._post("/runs/search", body, _RUNS)
        return [run_from_wire(r) for r in resp.runs or ()], resp.next_page_token or None

    async def search_experiments(
        self,
        view_type: int,
        max_results: int,
        filter_string: str,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[Experiment], str | None]:
        body = SearchExperiments(
            max_results=max_results,
            page_token=page_token or None,
            filter=filter_string or None,
            order_by=list(order_by) or None,
            view_type=_view_type(view_type),
        )
        resp = await self._post("/experiments/search", body, _EXPERIMENTS)
        return [experiment_from_wire(e) for e in resp.experiments or ()], resp.next_page_token or None

    async def aclose(self) -> None:
        await self._t.aclose()
