"""MLflow 3's logged-model REST messages (``service.proto``: CreateLoggedModel, LoggedModel, ...) as msgspec
Structs, and the conversion of :class:`~asynctrack.entities.LoggedModel` to and from JSON. Shared by the
server and the REST store.

As elsewhere in ``_rest``, request fields are optional so a handler can report a missing one with MLflow's
message. A LoggedModel is ``{"info": {...}, "data": {"params": [...], "metrics": [...]}}``; the status is
the proto enum's name (``LOGGED_MODEL_READY``). Read back, absent strings are ``""`` and absent metrics
``[]``, as MLflow's client reads them (``LoggedModel.from_proto``).
"""

from __future__ import annotations

import msgspec

from asynctrack._rest._wire import KeyValueJ, MetricJ, int_from_wire, metric_from_wire, metric_to_wire
from asynctrack.entities import LoggedModel, LoggedModelStatus

__all__ = [
    "CreateLoggedModel",
    "DatasetJ",
    "FinalizeLoggedModel",
    "LogLoggedModelParams",
    "LoggedModelDataJ",
    "LoggedModelInfoJ",
    "LoggedModelJ",
    "LoggedModelResponse",
    "OrderByJ",
    "SearchLoggedModels",
    "SearchLoggedModelsResponse",
    "SetLoggedModelTags",
    "logged_model_from_wire",
    "logged_model_to_wire",
]


class _Msg(msgspec.Struct, omit_defaults=True):
    pass


class LoggedModelInfoJ(_Msg):
    model_id: str | None = None
    experiment_id: str | None = None
    name: str | None = None
    creation_timestamp_ms: int | str | None = None
    last_updated_timestamp_ms: int | str | None = None
    artifact_uri: str | None = None
    status: str | int | None = None
    creator_id: int | str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: list[KeyValueJ] | None = None
    registrations: list[dict[str, str]] | None = None


class LoggedModelDataJ(_Msg):
    params: list[KeyValueJ] | None = None
    metrics: list[MetricJ] | None = None


class LoggedModelJ(_Msg):
    info: LoggedModelInfoJ | None = None
    data: LoggedModelDataJ | None = None


class LoggedModelResponse(_Msg):
    model: LoggedModelJ | None = None


class CreateLoggedModel(_Msg):
    experiment_id: str | None = None
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[KeyValueJ] | None = None
    tags: list[KeyValueJ] | None = None


class FinalizeLoggedModel(_Msg):
    model_id: str | None = None
    status: str | int | None = None


class SetLoggedModelTags(_Msg):
    model_id: str | None = None
    tags: list[KeyValueJ] | None = None


class LogLoggedModelParams(_Msg):
    model_id: str | None = None
    params: list[KeyValueJ] | None = None


class DatasetJ(_Msg):
    dataset_name: str | None = None
    dataset_digest: str | None = None


class OrderByJ(_Msg):
    field_name: str | None = None
    ascending: bool | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class SearchLoggedModels(_Msg):
    experiment_ids: list[str] | None = None
    filter: str | None = None
    datasets: list[DatasetJ] | None = None
    max_results: int | str | None = None
    order_by: list[OrderByJ] | None = None
    page_token: str | None = None


class SearchLoggedModelsResponse(_Msg):
    models: list[LoggedModelJ] | None = None
    next_page_token: str | None = None


def logged_model_to_wire(m: LoggedModel) -> LoggedModelJ:
    return LoggedModelJ(
        info=LoggedModelInfoJ(
            model_id=m.model_id,
            experiment_id=m.experiment_id,
            name=m.name,
            creation_timestamp_ms=m.creation_timestamp,
            last_updated_timestamp_ms=m.last_updated_timestamp,
            artifact_uri=m.artifact_location,
            status=m.status.to_wire(),
            model_type=m.model_type,
            source_run_id=m.source_run_id,
            status_message=m.status_message,
            tags=[KeyValueJ(k, v) for k, v in m.tags.items()] or None,
        ),
        data=LoggedModelDataJ(
            params=[KeyValueJ(k, v) for k, v in m.params.items()] or None,
            metrics=[metric_to_wire(x) for x in m.metrics or ()] or None,
        ),
    )


def logged_model_from_wire(j: LoggedModelJ) -> LoggedModel:
    info = j.info or LoggedModelInfoJ()
    data = j.data or LoggedModelDataJ()
    return LoggedModel(
        model_id=info.model_id or "",
        experiment_id=info.experiment_id or "",
        name=info.name or "",
        artifact_location=info.artifact_uri or "",
        creation_timestamp=int_from_wire(info.creation_timestamp_ms or 0, "creation_timestamp_ms"),
        last_updated_timestamp=int_from_wire(
            info.last_updated_timestamp_ms or 0, "last_updated_timestamp_ms"
        ),
        status=LoggedModelStatus.from_wire(info.status or "LOGGED_MODEL_STATUS_UNSPECIFIED"),
        model_type=info.model_type or "",
        source_run_id=info.source_run_id or "",
        status_message=info.status_message or "",
        tags={t.key or "": t.value or "" for t in info.tags or ()},
        params={p.key or "": p.value or "" for p in data.params or ()},
        metrics=[metric_from_wire(x) for x in data.metrics or ()],
    )
