"""Putting authentication together: where the auth database is, the initial admin, and the pieces the app
mounts (middleware and routes sharing one store, one permission resolver and one credential cache).

The first admin comes from ``asynctrack server --auth --admin-username NAME`` (default ``admin``, as
MLflow's ``basic_auth.ini``) with the password in ``ASYNCTRACK_AUTH_ADMIN_PASSWORD`` (or MLflow's
``MLFLOW_AUTH_ADMIN_PASSWORD``), created when that user does not exist yet, or from ``asynctrack users
create NAME --admin``. As MLflow, there is no default password: a server with no user at all refuses to
start and says how to make one. A password on the command line would be visible in ``ps``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from asynctrack._tracking_uri import resolve
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server.auth._access import Access
from asynctrack.server.auth._authn import Authenticator
from asynctrack.server.auth._endpoints import user_routes
from asynctrack.server.auth._middleware import AuthGuard
from asynctrack.server.auth._permissions import get_permission
from asynctrack.server.auth._secrets import check_password_policy, hash_password
from asynctrack.server.auth._session import session_routes
from asynctrack.server.auth._store import AuthStore, SqliteAuthStore, check_username

__all__ = [
    "ADMIN_PASSWORD_ENV",
    "AuthSetup",
    "auth_db_path",
    "bootstrap_admin",
    "build_auth",
    "open_auth_store",
]

ADMIN_PASSWORD_ENV = "ASYNCTRACK_AUTH_ADMIN_PASSWORD"
MLFLOW_ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"
AUTH_DB_NAME = "asynctrack-auth.db"


def auth_db_path(auth_db: str | None, backend_store_uri: str | None) -> str:
    """``--auth-db``, else ``asynctrack-auth.db`` beside the tracking database."""
    if auth_db:
        path = auth_db.removeprefix("sqlite:///") if auth_db.startswith("sqlite:///") else auth_db
        return os.path.abspath(os.path.expanduser(path))
    location = resolve(backend_store_uri)
    if not location.db_path:
        raise MlflowException(
            f"The backend store {location.uri} is not a local database: give the auth database's path with "
            "--auth-db.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return os.path.join(os.path.dirname(location.db_path), AUTH_DB_NAME)


def open_auth_store(path: str) -> AuthStore:
    return SqliteAuthStore(path)


async def bootstrap_admin(store: AuthStore, username: str | None, password: str | None) -> str | None:
    """Create the admin ``username`` with ``password`` if that user does not exist; refuse to go on with
    no users at all. Returns what was done, for the log (None: nothing)."""
    if username:
        check_username(username)
        existing = await store.get_user(username)
        if existing is None and password:
            check_password_policy(password)
            await store.create_user(username, hash_password(password), is_admin=True)
            return f"created admin user {username!r}"
        if existing is not None and not existing.is_admin:
            return f"user {username!r} exists and is not an admin; left as it is"
    if await store.user_count() == 0:
        raise MlflowException(
            "--auth needs a first admin user and there is none in the auth database. "
            f"Set {ADMIN_PASSWORD_ENV} "
            f"(at least 12 characters) for --admin-username ({username or 'admin'}), or run "
            "`asynctrack users create NAME --admin` first.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return None


def admin_password_from_env() -> str | None:
    return os.environ.get(ADMIN_PASSWORD_ENV) or os.environ.get(MLFLOW_ADMIN_PASSWORD_ENV) or None


@dataclass
class AuthSetup:
    """What ``create_app`` mounts: the middleware (innermost of the protective ones) and the routes."""

    middleware: Middleware
    routes: list[Route]
    access: Access


def build_auth(
    path: str, default_permission: str, max_body_bytes: int, app_routes: list[BaseRoute]
) -> AuthSetup:
    """The auth pieces for an app whose other routes are ``app_routes`` (every route, these and the auth
    ones, must have a rule in ``_policy.py``)."""
    store = open_auth_store(path)
    access = Access(store, get_permission(default_permission))
    authenticator = Authenticator(store)
    routes = user_routes(access, authenticator) + session_routes(authenticator)
    middleware = Middleware(
        AuthGuard,
        routes=[*app_routes, *routes],
        access=access,
        authenticator=authenticator,
        max_body_bytes=max_body_bytes,
    )
    return AuthSetup(middleware, routes, access)
