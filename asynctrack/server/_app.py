"""The ASGI app: Starlette routing, the store opened in the lifespan, MLflow's errors for everything.

uvicorn imports :func:`create_app` in each worker process (``factory=True``); the settings come from
``ASYNCTRACK_SERVER_CONFIG`` (see ``_config.py``). Each worker opens its own store connection and its own
group-commit writer when it starts and closes them when it stops.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from asynctrack.server._artifacts import (
    artifact_routes,
    disabled_routes,
    store_location,
)
from asynctrack.server._config import ServerConfig
from asynctrack.server._errors import endpoint_not_found, internal_error, method_not_allowed
from asynctrack.server._logged_models import logged_model_routes
from asynctrack.server._registry import registry_routes
from asynctrack.server._routes import routes
from asynctrack.server._security import security_middleware
from asynctrack.server._state import ServerState
from asynctrack.server._writer import GroupCommitWriter
from asynctrack.server.auth import auth_db_path, build_auth
from asynctrack.server.auth._session import no_auth_session_routes
from asynctrack.server.ui import page_routes, ui_api_routes
from asynctrack.store._open import open_store

__all__ = ["create_app"]


def create_app(config: ServerConfig | None = None) -> Starlette:
    """The tracking server app for ``config`` (default: the one in ``ASYNCTRACK_SERVER_CONFIG``)."""
    cfg = config if config is not None else ServerConfig.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if cfg.artifacts_only:  # no tracking store at all
            yield
            return
        store = await open_store(store_location(cfg), upgrade=False)
        try:
            writer = GroupCommitWriter(store, cfg.write_timeout)
            async with anyio.create_task_group() as tasks:
                await tasks.start(writer.run)
                app.state.server = ServerState(cfg, store, writer)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
        finally:
            await store.aclose()

    tracking = routes() + registry_routes() + logged_model_routes()
    if cfg.artifacts_only:
        tracking = disabled_routes(tracking)
    pages = [] if cfg.artifacts_only else page_routes()  # the web UI needs the tracking store
    all_routes: list[BaseRoute] = [*tracking, *artifact_routes(cfg), *ui_api_routes(cfg), *pages]
    middleware = security_middleware(cfg)
    if cfg.auth:  # innermost: a foreign Host or a cross-site write is refused before credentials are read
        auth = build_auth(
            auth_db_path(cfg.auth_db, cfg.backend_store_uri),
            cfg.default_permission,
            cfg.max_body_bytes,
            all_routes,
        )
        all_routes = auth.routes + all_routes
        middleware.append(auth.middleware)
    elif not cfg.artifacts_only:
        all_routes += no_auth_session_routes()
    return Starlette(
        routes=all_routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={
            HTTPException: _http_error,
            Exception: internal_error,
        },
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return method_not_allowed(request, (exc.headers or {}).get("Allow", ""))
    return endpoint_not_found(request)
