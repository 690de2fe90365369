"""The endpoints whose answers depend on the user: searches that return only readable experiments, and
experiment creation, which grants the creator ``MANAGE`` (MLflow's ``filter_search_experiments`` and
``set_can_manage_experiment_permission``).

Experiment search is answered here for non-admins by calling the endpoint's own handler page by page with
the page size set to what is still missing, keeping the readable experiments: each page is used whole, so
the store's page token stays exact and paging works as without auth. The walk is bounded
(:data:`MAX_PAGES`); when it stops early the answer is a short page with a token to continue, which
MLflow's clients follow.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asynctrack._rest import _messages as m
from asynctrack._rest._wire import ExperimentJ
from asynctrack.server import _experiments
from asynctrack.server._errors import JSON_TYPE
from asynctrack.server._request import decode_body, read_message
from asynctrack.server._state import ServerState
from asynctrack.server.auth._access import Access, canonical_experiment_id
from asynctrack.server.auth._authn import Principal
from asynctrack.server.auth._permissions import MANAGE

__all__ = [
    "MAX_PAGES",
    "create_experiment",
    "downstream",
    "reply",
    "search_experiments",
    "ui_experiments",
]

MAX_PAGES = 50
_DEFAULT_MAX_RESULTS = 1000
_encoder = msgspec.json.Encoder()


async def search_experiments(request: Request, access: Access, who: Principal, body: bytes) -> Response:
    state: ServerState = request.app.state.server
    if request.method == "GET" and request.url.query:
        msg = await read_message(request, m.SearchExperiments, state.config.max_body_bytes)
    else:
        msg = decode_body(body, m.SearchExperiments)
    first = await _experiments.search_experiments(state, msg)  # validates every field as without auth
    wanted = _DEFAULT_MAX_RESULTS if msg.max_results in (None, "") else int(msg.max_results)
    page = first
    kept: list[ExperimentJ] = []
    for _ in range(MAX_PAGES):
        found = page.experiments or []
        readable = await access.readable(who.user, [e.experiment_id or "" for e in found])
        kept.extend(e for e in found if e.experiment_id in readable)
        token = page.next_page_token
        if not token or len(kept) >= wanted:
            break
        page = await _experiments.search_experiments(
            state, msgspec.structs.replace(msg, max_results=wanted - len(kept), page_token=token)
        )
    result = m.SearchExperimentsResponse(
        experiments=kept or None, next_page_token=page.next_page_token or None
    )
    return Response(_encoder.encode(result), media_type=JSON_TYPE)


async def downstream(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
    """Run the endpoint and collect its answer (these answers are small JSON)."""
    start: Message = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return start, b"".join(chunks)


async def reply(send: Send, start: Message, body: bytes) -> None:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def create_experiment(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, access: Access, who: Principal
) -> None:
    """The endpoint, then ``MANAGE`` on the new experiment for its creator, before the client hears of
    it (so its next request already has the permission)."""
    start, body = await downstream(app, scope, receive)
    if start.get("status") == 200:
        try:
            created = msgspec.json.decode(body, type=m.CreateExperimentResponse)
        except msgspec.DecodeError:
            created = m.CreateExperimentResponse()
        if created.experiment_id:
            await access.store.set_permission(
                who.user.username, canonical_experiment_id(created.experiment_id), MANAGE.name
            )
    await reply(send, start, body)


async def ui_experiments(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, access: Access, who: Principal
) -> None:
    """The UI's experiment list without the experiments the user may not read."""
    start, body = await downstream(app, scope, receive)
    if start.get("status") == 200:
        data = msgspec.json.decode(body)
        rows = data.get("experiments", []) if isinstance(data, dict) else []
        readable = await access.readable(who.user, [str(r.get("experiment_id", "")) for r in rows])
        data["experiments"] = [r for r in rows if str(r.get("experiment_id", "")) in readable]
        body = _encoder.encode(data)
    await reply(send, start, body)
