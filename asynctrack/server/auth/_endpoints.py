"""MLflow's user-management REST API, so ``mlflow.server.get_app_client("basic-auth", ...)`` works.

Served under ``/api/2.0/mlflow``, ``/ajax-api/2.0/mlflow`` and their ``3.0`` twins, only with ``--auth``.
Who may call what is decided by the middleware (``_policy.py``); these handlers do the work, with MLflow's
request fields, answers and messages:

- ``users/create`` (POST), ``users/get``, ``users/current``, ``users/list`` (GET), ``users/update-password``,
  ``users/update-admin`` (PATCH), ``users/delete`` (DELETE);
- MLflow 2's ``experiments/permissions/create|get|update|delete`` (POST, GET, PATCH, DELETE);
- MLflow 3's ``users/permissions/grant|revoke`` (POST) and ``users/permissions/get`` (GET) for
  ``resource_type`` ``experiment``; ``users/current/permissions``;
- ``registered-models/permissions/create|get|update|delete`` (POST, GET, PATCH, DELETE): grants on a
  registered model by name (READ / EDIT / MANAGE / NO_PERMISSIONS);
- MLflow 3's roles (``roles/*``) are not served: asynctrack does not have them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from asynctrack.exceptions import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    MlflowException,
)
from asynctrack.server._errors import JSON_TYPE, error_response, internal_error
from asynctrack.server._request import API_DOCS_HINT, read_body
from asynctrack.server.auth._access import Access, canonical_experiment_id
from asynctrack.server.auth._authn import Authenticator, Principal
from asynctrack.server.auth._permissions import MANAGE, NO_PERMISSIONS, get_permission
from asynctrack.server.auth._secrets import check_password_policy, hash_password
from asynctrack.server.auth._store import User, check_username, no_model_permission

__all__ = ["PREFIXES", "user_routes"]

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/3.0/mlflow")
_BODY_LIMIT = 64 * 1024
_encoder = msgspec.json.Encoder()
_any = msgspec.json.Decoder()

Handler = Callable[["_Call"], Awaitable[Any]]


class _Call:
    """One request to a user-management endpoint: its fields (MLflow's ``_get_request_param``: the query
    of a GET, the JSON body otherwise) and who sent it."""

    def __init__(self, request: Request, fields: dict[str, Any], access: Access, auth: Authenticator) -> None:
        self.request = request
        self.fields = fields
        self.access = access
        self.auth = auth
        self.who: Principal = request.scope["asynctrack.auth"]

    def get(self, name: str) -> Any:
        return self.fields.get(name)

    def text(self, name: str) -> str:
        value = self.fields.get(name)
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and name in ("experiment_id", "resource_id")
        ):
            value = str(value)
        if value is None or value == "":
            raise MlflowException(
                f"Missing value for required parameter '{name}'. {API_DOCS_HINT}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if not isinstance(value, str):
            raise MlflowException(
                f"Invalid value {value!r} for parameter '{name}' supplied: expected a string.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        return value

    async def user(self, name: str = "username") -> User:
        username = self.text(name)
        found = await self.access.store.get_user(username)
        if found is None:
            raise MlflowException(
                f"User with username={username} not found", error_code=RESOURCE_DOES_NOT_EXIST
            )
        return found


async def _fields(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        return dict(request.query_params)
    body = await read_body(request, _BODY_LIMIT)
    if not body.strip():
        return dict(request.query_params) if request.method == "DELETE" else {}
    try:
        value = _any.decode(body)
    except msgspec.DecodeError as exc:
        raise MlflowException(
            f"Malformed JSON in the request body: {exc}", error_code=INVALID_PARAMETER_VALUE
        ) from None
    return value if isinstance(value, dict) else {}


async def _hash(password: str) -> str:
    return await anyio.to_thread.run_sync(hash_password, password)


# -- users


async def create_user(call: _Call) -> Any:
    username, password = call.get("username"), call.get("password")
    if not username or not password:
        raise MlflowException("Username and password cannot be empty.", error_code=INVALID_PARAMETER_VALUE)
    check_username(username)
    user = await call.access.store.create_user(username, await _hash(check_password_policy(password)))
    return {"user": user.to_json()}


async def get_user(call: _Call) -> Any:
    return {"user": (await call.user()).to_json()}


async def current_user(call: _Call) -> Any:
    user = call.who.user
    return {"user": user.to_json(), "is_basic_auth": True}


async def list_users(call: _Call) -> Any:
    users = await call.access.store.list_users()
    return {"users": [{**u.to_json(), "roles": []} for u in users]}


async def update_password(call: _Call) -> Any:
    user = await call.user()
    password = check_password_policy(call.get("password"))
    if user.username == call.who.user.username:
        current = call.get("current_password")
        if not current or not isinstance(current, str):
            raise MlflowException(
                "Current password is required when changing your own password.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if await call.auth.check_password(user.username, current) is None:
            raise MlflowException("Current password does not match.", error_code=INVALID_PARAMETER_VALUE)
        if password == current:
            raise MlflowException(
                "New password must differ from the current password.", error_code=INVALID_PARAMETER_VALUE
            )
    await call.access.store.update_password(user.username, await _hash(password))
    return {}


async def update_admin(call: _Call) -> Any:
    user = await call.user()
    value = call.get("is_admin")
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if not isinstance(value, bool):
        raise MlflowException(
            f"Invalid value {value!r} for parameter 'is_admin' supplied: expected true or false.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    await call.access.store.update_admin(user.username, value)
    return {}


async def delete_user(call: _Call) -> Any:
    user = await call.user()
    if user.username == call.who.user.username:
        raise MlflowException(
            "Users cannot delete their own account. Ask another admin to delete this user instead.",
            error_code=BAD_REQUEST,
        )
    await call.access.store.delete_user(user.username)
    return {}


# -- MLflow 2's experiment permissions


async def _experiment_grant(call: _Call, *, permission: bool) -> tuple[str, User, str]:
    experiment_id = canonical_experiment_id(call.text("experiment_id"))
    user = await call.user()
    name = get_permission(call.text("permission")).name if permission else ""
    return experiment_id, user, name


async def create_experiment_permission(call: _Call) -> Any:
    experiment_id, user, name = await _experiment_grant(call, permission=True)
    await call.access.store.create_permission(user.username, experiment_id, name)
    return {"experiment_permission": {"experiment_id": experiment_id, "user_id": user.id, "permission": name}}


async def get_experiment_permission(call: _Call) -> Any:
    experiment_id, user, _ = await _experiment_grant(call, permission=False)
    name = await call.access.store.get_permission(user.id, experiment_id)
    if name is None:
        raise MlflowException(
            f"Experiment permission with experiment_id={experiment_id} and username={user.username} "
            "not found",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    return {"experiment_permission": {"experiment_id": experiment_id, "user_id": user.id, "permission": name}}


async def update_experiment_permission(call: _Call) -> Any:
    experiment_id, user, name = await _experiment_grant(call, permission=True)
    await call.access.store.update_permission(user.username, experiment_id, name)
    return {}


async def delete_experiment_permission(call: _Call) -> Any:
    experiment_id, user, _ = await _experiment_grant(call, permission=False)
    await call.access.store.delete_permission(user.username, experiment_id)
    return {}


# -- registered-model permissions (MLflow's registered-models/permissions/*)


async def _model_grant(call: _Call, *, permission: bool) -> tuple[str, User, str]:
    name = call.text("name")
    user = await call.user()
    level = get_permission(call.text("permission")).name if permission else ""
    return name, user, level


async def create_model_permission(call: _Call) -> Any:
    name, user, level = await _model_grant(call, permission=True)
    await call.access.store.create_model_permission(user.username, name, level)
    return {"registered_model_permission": {"name": name, "user_id": user.id, "permission": level}}


async def get_model_permission(call: _Call) -> Any:
    name, user, _ = await _model_grant(call, permission=False)
    level = await call.access.store.get_model_permission(user.id, name)
    if level is None:
        raise no_model_permission(name, user.username)
    return {"registered_model_permission": {"name": name, "user_id": user.id, "permission": level}}


async def update_model_permission(call: _Call) -> Any:
    name, user, level = await _model_grant(call, permission=True)
    await call.access.store.update_model_permission(user.username, name, level)
    return {}


async def delete_model_permission(call: _Call) -> Any:
    name, user, _ = await _model_grant(call, permission=False)
    await call.access.store.delete_model_permission(user.username, name)
    return {}


# -- MLflow 3's per-user grants


def _resource(call: _Call) -> str:
    resource_type = call.text("resource_type")
    if resource_type != "experiment":
        raise MlflowException(
            f"Invalid resource type '{resource_type}'. asynctrack keeps permissions on experiments only: "
            "valid resource types are: ('experiment',)",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return canonical_experiment_id(call.text("resource_id"))


async def grant(call: _Call) -> Any:
    experiment_id = _resource(call)
    user = await call.user()
    permission = get_permission(call.text("permission"))
    if permission is NO_PERMISSIONS:
        raise MlflowException(
            "Invalid permission 'NO_PERMISSIONS' for a grant: revoke the grant instead.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    store = call.access.store
    if await store.get_permission(user.id, experiment_id) is not None:
        raise MlflowException(
            f"Permission for user={user.username} on resource_type=experiment, resource_id={experiment_id} "
            "already exists.",
            error_code="RESOURCE_ALREADY_EXISTS",
        )
    await store.create_permission(user.username, experiment_id, permission.name)
    return {}


async def revoke(call: _Call) -> Any:
    experiment_id = _resource(call)
    user = await call.user()
    try:
        await call.access.store.delete_permission(user.username, experiment_id)
    except MlflowException:
        raise MlflowException(
            f"Permission for user={user.username} on resource_type=experiment, resource_id={experiment_id} "
            "not found.",
            error_code=RESOURCE_DOES_NOT_EXIST,
        ) from None
    return {}


async def get_grant(call: _Call) -> Any:
    experiment_id = _resource(call)
    user = await call.user()
    permission = MANAGE if user.is_admin else await call.access.permission(user, experiment_id)
    return {"allowed": permission.can_use, "permission": permission.name}


async def current_permissions(call: _Call) -> Any:
    user = call.who.user
    grants = await call.access.store.list_permissions(user.username)
    return {
        "is_admin": user.is_admin,
        "permissions": [
            {"resource_type": "experiment", "resource_id": e, "permission": p} for e, p in grants.items()
        ],
    }


_TABLE: tuple[tuple[str, str, Handler], ...] = (
    ("/users/create", "POST", create_user),
    ("/users/get", "GET", get_user),
    ("/users/current", "GET", current_user),
    ("/users/list", "GET", list_users),
    ("/users/update-password", "PATCH", update_password),
    ("/users/update-admin", "PATCH", update_admin),
    ("/users/delete", "DELETE", delete_user),
    ("/experiments/permissions/create", "POST", create_experiment_permission),
    ("/experiments/permissions/get", "GET", get_experiment_permission),
    ("/experiments/permissions/update", "PATCH", update_experiment_permission),
    ("/experiments/permissions/delete", "DELETE", delete_experiment_permission),
    ("/registered-models/permissions/create", "POST", create_model_permission),
    ("/registered-models/permissions/get", "GET", get_model_permission),
    ("/registered-models/permissions/update", "PATCH", update_model_permission),
    ("/registered-models/permissions/delete", "DELETE", delete_model_permission),
    ("/users/permissions/grant", "POST", grant),
    ("/users/permissions/revoke", "POST", revoke),
    ("/users/permissions/get", "GET", get_grant),
    ("/users/current/permissions", "GET", current_permissions),
)


def user_routes(access: Access, auth: Authenticator) -> list[Route]:
    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def call(request: Request) -> Response:
            try:
                result = await handler(_Call(request, await _fields(request), access, auth))
            except MlflowException as exc:
                return error_response(exc)
            except Exception as exc:
                return internal_error(request, exc)
            return Response(_encoder.encode(result), media_type=JSON_TYPE)

        call.__name__ = handler.__name__
        return call

    return [
        Route(prefix + path, endpoint(handler), methods=[method])
        for prefix in PREFIXES
        for path, method, handler in _TABLE
    ]
