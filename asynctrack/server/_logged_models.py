"""MLflow 3's logged-model endpoints, under both of MLflow's prefixes, as MLflow 3.17.2's client calls them:

=================================================================  ==========================================
``POST   /logged-models``                                           create (``experiment_id`` required)
``GET    /logged-models/{model_id}[?allow_deleted=true]``           get
``PATCH  /logged-models/{model_id}``                                finalize (``status`` required)
``DELETE /logged-models/{model_id}``                                delete
``POST   /logged-models/search``                                    search (``experiment_ids`` required)
``PATCH  /logged-models/{model_id}/tags``                           set tags
``DELETE /logged-models/{model_id}/tags/{tag_key}``                 delete a tag
``POST   /logged-models/{model_id}/params``                         log params
``GET    /logged-models/{model_id}/artifacts/directories``          list (``artifact_directory_path``)
``GET    /ajax-api/.../logged-models/{model_id}/artifacts/files``   a file (``artifact_file_path``)
=================================================================  ==========================================

The work is the store's (:class:`~asynctrack.store._logged_model_protocol.LoggedModelStore`). A model's
artifact location is resolved only under the server's configured roots (``_run_artifacts.run_repository``)
and paths inside it are checked before the model is looked up (MLflow's 400 ``Invalid path``).
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from asynctrack._rest import _logged_models as w
from asynctrack._rest._messages import AJAX_PREFIX, Empty
from asynctrack._rest._wire import int_from_wire
from asynctrack.artifacts._paths import parent_and_name
from asynctrack.entities import LoggedModel, LoggedModelStatus
from asynctrack.exceptions import BAD_REQUEST, INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server._errors import JSON_TYPE, error_response, internal_error
from asynctrack.server._model_links import logged_model_store
from asynctrack.server._request import read_message, required
from asynctrack.server._routes import PREFIXES
from asynctrack.server._run_artifacts import fetch_file, run_repository, safe_path
from asynctrack.server._state import ServerState
from asynctrack.store._logged_model_protocol import LoggedModelStore

__all__ = ["LOGGED_MODEL_ENDPOINTS", "logged_model_routes"]

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode


async def _call(state: ServerState, what: str, fn: Callable[[LoggedModelStore], Awaitable[T]]) -> T:
    store = logged_model_store(state)
    return await state.call(lambda: fn(store), what)


def _pairs(items: Sequence[Any] | None) -> list[tuple[str, str]]:
    return [(i.key or "", i.value or "") for i in items or ()]


def _model(m: LoggedModel) -> w.LoggedModelResponse:
    return w.LoggedModelResponse(model=w.logged_model_to_wire(m))


# -- handlers: (state, request, message) -> response Struct


async def create(state: ServerState, request: Request, msg: w.CreateLoggedModel) -> w.LoggedModelResponse:
    experiment_id = required(msg.experiment_id, "experiment_id")
    params, tags = _pairs(msg.params), _pairs(msg.tags)
    m = await _call(
        state,
        "create_logged_model",
        lambda s: s.create_logged_model(
            experiment_id, msg.name or None, msg.source_run_id or None, tags, params, msg.model_type or None
        ),
    )
    return _model(m)


async def get(state: ServerState, request: Request, msg: Empty) -> w.LoggedModelResponse:
    model_id = request.path_params["model_id"]
    allow_deleted = request.query_params.get("allow_deleted", "false").lower() == "true"
    return _model(
        await _call(state, "get_logged_model", lambda s: s.get_logged_model(model_id, allow_deleted))
    )


async def finalize(state: ServerState, request: Request, msg: w.FinalizeLoggedModel) -> w.LoggedModelResponse:
    # MLflow's server requires the id in the body too (and finalizes the one named there).
    model_id = required(msg.model_id, "model_id")
    raw = required(msg.status, "status")
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        raw = int(raw)
    status = LoggedModelStatus.from_wire(raw)
    return _model(
        await _call(state, "finalize_logged_model", lambda s: s.finalize_logged_model(model_id, status))
    )


async def delete(state: ServerState, request: Request, msg: Empty) -> Empty:
    model_id = request.path_params["model_id"]
    await _call(state, "delete_logged_model", lambda s: s.delete_logged_model(model_id))
    return Empty()


async def set_tags(state: ServerState, request: Request, msg: w.SetLoggedModelTags) -> Empty:
    model_id = request.path_params["model_id"]
    tags = _pairs(msg.tags)
    await _call(state, "set_logged_model_tags", lambda s: s.set_logged_model_tags(model_id, tags))
    return Empty()


async def delete_tag(state: ServerState, request: Request, msg: Empty) -> Empty:
    model_id, key = request.path_params["model_id"], request.path_params["tag_key"]
    await _call(state, "delete_logged_model_tag", lambda s: s.delete_logged_model_tag(model_id, key))
    return Empty()


async def log_params(state: ServerState, request: Request, msg: w.LogLoggedModelParams) -> Empty:
    required(msg.model_id, "model_id")  # MLflow's server requires it in the body; the path's is used
    model_id = request.path_params["model_id"]
    params = _pairs(msg.params)
    await _call(state, "log_logged_model_params", lambda s: s.log_logged_model_params(model_id, params))
    return Empty()


async def search(
    state: ServerState, request: Request, msg: w.SearchLoggedModels
) -> w.SearchLoggedModelsResponse:
    experiment_ids = required(msg.experiment_ids or None, "experiment_ids")
    max_results = None if msg.max_results in (None, "") else int_from_wire(msg.max_results, "max_results")
    if max_results is not None and max_results < 0:
        raise MlflowException(
            f"Invalid value {max_results} for parameter 'max_results': it must not be negative",
            error_code=INVALID_PARAMETER_VALUE,
        )
    datasets = [
        {"dataset_name": d.dataset_name or "", "dataset_digest": d.dataset_digest or None}
        for d in msg.datasets or ()
    ]
    order_by = [
        {
            "field_name": required(o.field_name, "order_by.field_name"),
            "ascending": o.ascending is not False,
            "dataset_name": o.dataset_name or None,
            "dataset_digest": o.dataset_digest or None,
        }
        for o in msg.order_by or ()
    ]
    models, token = await _call(
        state,
        "search_logged_models",
        lambda s: s.search_logged_models(
            list(experiment_ids),
            msg.filter or None,
            datasets or None,
            max_results,
            order_by or None,
            msg.page_token or None,
        ),
    )
    return w.SearchLoggedModelsResponse([w.logged_model_to_wire(m) for m in models] or None, token)


async def list_artifacts(state: ServerState, request: Request, msg: Empty) -> Response:
    """MLflow's ListLoggedModelArtifacts: ``{"root_uri", "files": [...]}``, paths relative to the model."""
    raw = request.query_params.get("artifact_directory_path")
    rel = safe_path(raw) if raw is not None else ""
    model_id = request.path_params["model_id"]
    model = await _call(state, "get_logged_model", lambda s: s.get_logged_model(model_id))
    repo, prefix = run_repository(state.config, model.artifact_location)
    try:
        infos = await repo.list_artifacts(f"{prefix}/{rel}".strip("/") if prefix else rel)
    finally:
        await repo.aclose()
    files = []
    for info in infos:
        name = parent_and_name(info.path)[1]
        if not name:
            continue
        item: dict[str, object] = {"path": f"{rel}/{name}" if rel else name, "is_dir": info.is_dir}
        if not info.is_dir:
            item["file_size"] = info.file_size or 0
        files.append(item)
    body: dict[str, object] = {"root_uri": model.artifact_location}
    if files:
        body["files"] = files
    return Response(msgspec.json.encode(body), media_type=JSON_TYPE)


async def get_artifact(state: ServerState, request: Request, msg: Empty) -> Response:
    raw = request.query_params.get("artifact_file_path")
    if not raw:
        raise MlflowException(
            'Request must include the "artifact_file_path" query parameter.', error_code=BAD_REQUEST
        )
    rel = safe_path(raw)
    model_id = request.path_params["model_id"]
    model = await _call(state, "get_logged_model", lambda s: s.get_logged_model(model_id))
    repo, prefix = run_repository(state.config, model.artifact_location)
    path, cleanup = await fetch_file(repo, f"{prefix}/{rel}" if prefix else rel, rel)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=parent_and_name(rel)[1],
        headers={"X-Content-Type-Options": "nosniff"},
        background=BackgroundTask(shutil.rmtree, cleanup, True) if cleanup else None,
    )


Handler = Callable[[ServerState, Request, Any], Awaitable[Any]]


def _endpoint(msg_type: type[msgspec.Struct], handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def call(request: Request) -> Response:
        state: ServerState = request.app.state.server
        try:
            msg = (
                msg_type()
                if msg_type is Empty
                else await read_message(request, msg_type, state.config.max_body_bytes)
            )
            result = await handler(state, request, msg)
        except MlflowException as exc:
            return error_response(exc)
        except Exception as exc:
            return internal_error(request, exc)
        if isinstance(result, Response):
            return result
        return Response(_encode(result), media_type=JSON_TYPE)

    call.__name__ = handler.__name__
    return call


_M = "/logged-models/{model_id}"
#: (path under the prefix, methods, request Struct, handler), as MLflow 3.17.2's service.proto has them.
LOGGED_MODEL_ENDPOINTS: tuple[tuple[str, tuple[str, ...], type[msgspec.Struct], Handler], ...] = (
    ("/logged-models", ("POST",), w.CreateLoggedModel, create),
    ("/logged-models/search", ("POST",), w.SearchLoggedModels, search),
    (_M, ("GET",), Empty, get),
    (_M, ("PATCH",), w.FinalizeLoggedModel, finalize),
    (_M, ("DELETE",), Empty, delete),
    (_M + "/tags", ("PATCH",), w.SetLoggedModelTags, set_tags),
    (_M + "/tags/{tag_key}", ("DELETE",), Empty, delete_tag),
    (_M + "/params", ("POST",), w.LogLoggedModelParams, log_params),
    (_M + "/artifacts/directories", ("GET",), Empty, list_artifacts),
)


def logged_model_routes() -> list[Route]:
    """One route per (prefix, path, method), and the UI's file endpoint under the ajax prefix only."""
    out = [
        Route(prefix + path, _endpoint(msg_type, handler), methods=list(methods))
        for prefix in PREFIXES
        for path, methods, msg_type, handler in LOGGED_MODEL_ENDPOINTS
    ]
    out.append(Route(AJAX_PREFIX + _M + "/artifacts/files", _endpoint(Empty, get_artifact), methods=["GET"]))
    return out
