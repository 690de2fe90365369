"""The registry endpoints whose answers or effects depend on the user, as MLflow's auth app's after-request
handlers: a created model grants its creator ``MANAGE``; a deleted model's grants go with it; a renamed
model's grants follow it; searches return only models (and versions of models) the user may read.

Model search is answered for non-admins by calling the endpoint's handler page by page, as the experiment
search is (``_filters.py``): each page is used whole, so the offset page token stays exact; the walk is
bounded by :data:`~asynctrack.server.auth._filters.MAX_PAGES`. A version search is filtered page by page
without refilling, as MLflow's ``filter_search_model_versions`` does.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from asynctrack._rest import _registry as r
from asynctrack.server import _registry
from asynctrack.server._errors import JSON_TYPE
from asynctrack.server._request import read_message
from asynctrack.server._state import ServerState
from asynctrack.server.auth._access import Access
from asynctrack.server.auth._authn import Principal
from asynctrack.server.auth._filters import MAX_PAGES, downstream, reply
from asynctrack.server.auth._permissions import MANAGE
from asynctrack.store.search._registry import REGISTERED_MODEL_MAX_RESULTS_DEFAULT

__all__ = ["after_model_call", "create_registered_model", "search_model_versions", "search_registered_models"]

_encoder = msgspec.json.Encoder()


async def create_registered_model(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, access: Access, who: Principal
) -> None:
    """The endpoint, then ``MANAGE`` on the new model for its creator (admins too, as MLflow), before the
    client hears of it."""
    start, body = await downstream(app, scope, receive)
    if start.get("status") == 200:
        try:
            created = msgspec.json.decode(body, type=r.RegisteredModelResponse)
        except msgspec.DecodeError:
            created = r.RegisteredModelResponse()
        name = created.registered_model.name if created.registered_model is not None else None
        if name:
            await access.store.set_model_permission(who.user.username, name, MANAGE.name)
    await reply(send, start, body)


async def after_model_call(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    access: Access,
    what: str,
    name: str,
    new_name: object,
) -> None:
    """A delete or rename, then the model's grants removed (``wipe_model``) or moved (``rename_model``)."""
    start, body = await downstream(app, scope, receive)
    if start.get("status") == 200:
        if what == "wipe_model":
            await access.store.wipe_model_permissions(name)
        elif what == "rename_model" and isinstance(new_name, str) and new_name:
            await access.store.rename_model_permissions(name, new_name)
    await reply(send, start, body)


async def search_registered_models(request: Request, access: Access, who: Principal) -> Response:
    state: ServerState = request.app.state.server
    msg = await read_message(request, r.SearchRegistry, state.config.max_body_bytes)
    first = await _registry.search_registered_models(state, msg)  # validates every field as without auth
    readable = await access.model_reader(who.user)
    wanted = REGISTERED_MODEL_MAX_RESULTS_DEFAULT if msg.max_results in (None, "") else int(msg.max_results)
    page = first
    kept: list[r.RegisteredModelJ] = []
    for _ in range(MAX_PAGES):
        kept.extend(m for m in page.registered_models or [] if readable(m.name or ""))
        token = page.next_page_token
        if not token or len(kept) >= wanted:
            break
        page = await _registry.search_registered_models(
            state, msgspec.structs.replace(msg, max_results=wanted - len(kept), page_token=token)
        )
    result = r.SearchRegisteredModelsResponse(
        registered_models=kept or None, next_page_token=page.next_page_token or None
    )
    return Response(_encoder.encode(result), media_type=JSON_TYPE)


async def search_model_versions(request: Request, access: Access, who: Principal) -> Response:
    state: ServerState = request.app.state.server
    msg = await read_message(request, r.SearchRegistry, state.config.max_body_bytes)
    page = await _registry.search_model_versions(state, msg)
    readable = await access.model_reader(who.user)
    kept = [v for v in page.model_versions or [] if readable(v.name or "")]
    result = r.SearchModelVersionsResponse(model_versions=kept or None, next_page_token=page.next_page_token)
    return Response(_encoder.encode(result), media_type=JSON_TYPE)
