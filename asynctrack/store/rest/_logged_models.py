"""The REST store's logged models: :class:`LoggedModelStore` over MLflow 3's ``/logged-models/*`` endpoints,
sent as MLflow 3.17.2's client sends them (the model id in the path, percent-encoded here; bodies as JSON).

Metric points linked to a model go as one ``runs/log-batch`` carrying each point's ``model_id`` (and
dataset): the server writes them to the run and links them, as MLflow's ``log_metric(..., model_id=...)``
makes it do."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import msgspec

from asynctrack._http._errors import malformed_response
from asynctrack._rest import _logged_models as w
from asynctrack._rest._messages import API_PREFIX, Empty, LogBatch, LogInputs, LogOutputs
from asynctrack._rest._wire import KeyValueJ, ModelInputJ, ModelOutputJ, metric_to_wire
from asynctrack.entities import LoggedModel, LoggedModelInput, LoggedModelOutput, LoggedModelStatus, Metric
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store._logged_model_protocol import LoggedModelStore
from asynctrack.store.rest._transport import QueryParams, Transport

__all__ = ["RestLoggedModels"]

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode
_EMPTY = msgspec.json.Decoder(Empty)
_MODEL = msgspec.json.Decoder(w.LoggedModelResponse)
_MODELS = msgspec.json.Decoder(w.SearchLoggedModelsResponse)
#: MLflow's client sends at most this many params with a create, the rest in batches (its defaults).
_CREATE_PARAMS = 100
_PARAMS_BATCH = 100


def _path(model_id: str) -> str:
    return "/logged-models/" + urllib.parse.quote(model_id, safe="")


def _kv(pairs: Sequence[tuple[str, str]]) -> list[KeyValueJ] | None:
    return [KeyValueJ(k, v) for k, v in pairs] or None


class RestLoggedModels(LoggedModelStore):
    """Mixed into :class:`~asynctrack.store.rest.RestStore`, which provides the transport ``_t``."""

    _t: Transport

    async def _lm_send(self, method: str, endpoint: str, body: msgspec.Struct | None, decoder: Any) -> Any:
        data = None if body is None else _encode(body)
        return await self._t.call(method, API_PREFIX + endpoint, decoder, body=data)

    def _logged_model(self, resp: w.LoggedModelResponse, endpoint: str) -> LoggedModel:
        if resp.model is None:
            raise malformed_response(self._t.url(API_PREFIX + endpoint), ValueError("no model"))
        return w.logged_model_from_wire(resp.model)

    async def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[tuple[str, str]] = (),
        params: Sequence[tuple[str, str]] = (),
        model_type: str | None = None,
    ) -> LoggedModel:
        body = w.CreateLoggedModel(
            experiment_id, name, model_type, source_run_id, _kv(params[:_CREATE_PARAMS]), _kv(tags)
        )
        model = self._logged_model(
            await self._lm_send("POST", "/logged-models", body, _MODEL), "/logged-models"
        )
        if len(params) > _CREATE_PARAMS:
            await self.log_logged_model_params(model.model_id, params[_CREATE_PARAMS:])
            model = await self.get_logged_model(model.model_id)
        return model

    async def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        endpoint = _path(model_id)
        params: QueryParams = {"allow_deleted": "true"} if allow_deleted else {}
        resp = await self._t.call("GET", API_PREFIX + endpoint, _MODEL, params=params or None)
        return self._logged_model(resp, endpoint)

    async def delete_logged_model(self, model_id: str) -> None:
        await self._lm_send("DELETE", _path(model_id), None, _EMPTY)

    async def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        body = w.FinalizeLoggedModel(model_id, status.to_wire())
        return self._logged_model(
            await self._lm_send("PATCH", _path(model_id), body, _MODEL), _path(model_id)
        )

    async def set_logged_model_tags(self, model_id: str, tags: Sequence[tuple[str, str]]) -> None:
        body = w.SetLoggedModelTags(tags=_kv(tags))
        await self._lm_send("PATCH", _path(model_id) + "/tags", body, _EMPTY)

    async def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        endpoint = _path(model_id) + "/tags/" + urllib.parse.quote(key, safe="")
        await self._lm_send("DELETE", endpoint, None, _EMPTY)

    async def log_logged_model_params(self, model_id: str, params: Sequence[tuple[str, str]]) -> None:
        for i in range(0, len(params), _PARAMS_BATCH):
            body = w.LogLoggedModelParams(model_id, _kv(params[i : i + _PARAMS_BATCH]))
            await self._lm_send("POST", _path(model_id) + "/params", body, _EMPTY)

    async def log_model_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        body = LogBatch(run_id=run_id, metrics=[metric_to_wire(m) for m in metrics])
        await self._lm_send("POST", "/runs/log-batch", body, _EMPTY)

    async def link_model_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        raise MlflowException(
            "Linking already-logged points to a logged model is a server-side step; over REST, log them "
            "with their model_id (log_model_metrics).",
            error_code=INVALID_PARAMETER_VALUE,
        )

    async def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        body = LogInputs(run_id=run_id, models=[ModelInputJ(m.model_id) for m in models])
        await self._lm_send("POST", "/runs/log-inputs", body, _EMPTY)

    async def log_model_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        body = LogOutputs(run_id=run_id, models=[ModelOutputJ(m.model_id, m.step) for m in models])
        await self._lm_send("POST", "/runs/outputs", body, _EMPTY)

    async def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: Sequence[Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> tuple[list[LoggedModel], str | None]:
        body = w.SearchLoggedModels(
            experiment_ids=list(experiment_ids),
            filter=filter_string,
            datasets=[w.DatasetJ(d.get("dataset_name"), d.get("dataset_digest")) for d in datasets or ()]
            or None,
            max_results=max_results,
            order_by=[
                w.OrderByJ(
                    o.get("field_name"),
                    o.get("ascending", True),
                    o.get("dataset_name"),
                    o.get("dataset_digest"),
                )
                for o in order_by or ()
            ]
            or None,
            page_token=page_token,
        )
        resp = await self._lm_send("POST", "/logged-models/search", body, _MODELS)
        return [w.logged_model_from_wire(m) for m in resp.models or ()], resp.next_page_token or None
