"""Running the server: check the store once, then hand the app factory to uvicorn (uvloop, httptools).

uvicorn is the reference ASGI server: httptools parses HTTP in C, uvloop runs the event loop, and with
``workers > 1`` it supervises several processes that share the listening socket. SQLite takes writers from
several processes (WAL, ``BEGIN IMMEDIATE``, retried busy locks), so the workers share one database.
"""

from __future__ import annotations

import logging
import os
from typing import cast

import anyio
import uvicorn

from asynctrack._redact import redact
from asynctrack.server._artifacts import destination_root, serves_artifacts, store_location
from asynctrack.server._config import CONFIG_ENV_VAR, ServerConfig
from asynctrack.server._security import exposure_warning
from asynctrack.server._timeouts import HeaderTimeoutProtocol
from asynctrack.server.auth import auth_db_path, bootstrap_admin, open_auth_store
from asynctrack.server.auth._bootstrap import admin_password_from_env
from asynctrack.store._open import open_store

__all__ = ["serve"]

_log = logging.getLogger("asynctrack.server")


async def _prepare_auth(config: ServerConfig) -> str:
    """With ``--auth``: create the auth database if needed and the first admin, once, before the workers
    (so workers never race to create them and the admin password never reaches their configuration)."""
    if not config.auth:
        return "off"
    path = auth_db_path(config.auth_db, config.backend_store_uri)
    store = open_auth_store(path)
    try:
        done = await bootstrap_admin(store, config.admin_username, admin_password_from_env())
    finally:
        await store.aclose()
    if done:
        _log.info("auth: %s", done)
    return f"on (users in {path}, default permission {config.default_permission})"


async def _prepare_store(config: ServerConfig) -> str:
    """Open the store once before the workers start: creates the schema, and fails here, in the
    command, on an unusable location instead of in every worker."""
    if config.artifacts_only:
        return "none (--artifacts-only)"
    location = store_location(config)
    store = await open_store(location, upgrade=False)  # never migrate a shared DB silently
    await store.aclose()
    return redact(location.uri)  # logged: a PostgreSQL URI may hold a password


def serve(config: ServerConfig) -> None:
    """Serve until interrupted (SIGINT/SIGTERM); returns after a graceful shutdown."""
    artifacts = destination_root(config) if serves_artifacts(config) else "not served"
    where = anyio.run(_prepare_store, config)
    os.environ[CONFIG_ENV_VAR] = config.to_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    auth = anyio.run(_prepare_auth, config)
    _log.info(
        "asynctrack server on http://%s:%d, %d worker(s), backend store %s, artifacts %s, auth %s",
        config.host,
        config.port,
        config.workers,
        where,
        artifacts,
        auth,
    )
    warning = exposure_warning(config)
    if warning is not None:
        _log.warning(warning)
    uvicorn.run(
        "asynctrack.server._app:create_app",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        loop="uvloop",
        http=HeaderTimeoutProtocol,  # httptools, plus a bound on the time a request's headers take
        # uvicorn hands it to loop.call_later, which takes any number of seconds (its hint says int)
        timeout_keep_alive=cast(int, config.keep_alive_timeout),
        limit_concurrency=config.max_connections,
        lifespan="on",
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
