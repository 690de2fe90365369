"""The authentication and authorization middleware (``asynctrack server --auth``).

It sits inside the protective middleware of ``_security.py`` (a foreign Host or a cross-site write is
refused before anyone looks at credentials) and in front of every route. For each request it:

1. finds the route the request will reach, and its rule (``_policy.py``; a route without one is refused
   to non-admins: nothing is open by omission). A path no route serves goes on to its 404;
2. authenticates it (``_authn.py``): no or wrong credentials get MLflow's 401 with
   ``WWW-Authenticate: Basic realm="mlflow"`` (the UI's page redirects to ``/login`` instead, and the UI's
   own API omits the challenge so a browser shows no password dialog);
3. for a request authenticated by the session cookie that changes state, checks the CSRF token header;
4. checks the rule's permission against the experiment the request names (read from the query or the JSON
   body exactly as the endpoint will read it; the body is buffered within the size limit and replayed),
   answering MLflow's 403 ``Permission denied`` when it is missing; admins pass;
5. for searches, returns only what the user may read; after a created experiment or registered model,
   grants its creator ``MANAGE``; after a deleted or renamed model, removes or moves its grants
   (``_filters.py``, ``_model_filters.py``).

The authenticated user is left in ``scope["asynctrack.auth"]`` for the user-management endpoints.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server._errors import error_response
from asynctrack.server._hosts import header
from asynctrack.server._request import missing, read_body
from asynctrack.server.auth import _filters, _model_filters
from asynctrack.server.auth._access import Access
from asynctrack.server.auth._authn import SESSION_COOKIE, Authenticator, Principal, cookie_value
from asynctrack.server.auth._policy import Rule, check_coverage, find_rule

__all__ = [
    "AUTH_SCOPE_KEY",
    "CSRF_HEADER",
    "AuthGuard",
    "forbidden",
    "unauthenticated",
]

_log = logging.getLogger("asynctrack.server.auth")

AUTH_SCOPE_KEY = "asynctrack.auth"
CSRF_HEADER = b"x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_UI_PREFIXES = ("/ajax-api/asynctrack/",)
_any_json = msgspec.json.Decoder()

#: MLflow's texts (``make_basic_auth_response``, ``make_forbidden_response``).
UNAUTHENTICATED_TEXT = (
    "You are not authenticated. Please see "
    "https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow "
    "on how to authenticate."
)
FORBIDDEN_TEXT = "Permission denied"


def unauthenticated(challenge: bool = True) -> Response:
    """MLflow's 401; ``challenge=False`` leaves out ``WWW-Authenticate`` (the UI's own requests)."""
    response = PlainTextResponse(UNAUTHENTICATED_TEXT, status_code=401)
    if challenge:
        response.headers["WWW-Authenticate"] = 'Basic realm="mlflow"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def forbidden(text: str = FORBIDDEN_TEXT) -> Response:
    response = PlainTextResponse(text, status_code=403)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


class _Denied(Exception):
    """The rule's permission is missing: MLflow's 403."""


class Fields:
    """A request's fields as its endpoint reads them (``_request.read_message``): a GET's query string
    when it has one (the last value of a repeated name), else the JSON body (decoded again when it is a
    JSON string, as older MLflow clients send it)."""

    def __init__(self, request: Request, body: bytes, *, query: bool = False) -> None:
        self.request = request
        # ``query``: the endpoint reads its ids from the query string whatever the method (upload-artifact,
        # whose body is the file).
        self.query = query or (request.method == "GET" and bool(request.url.query))
        self.body: dict[str, Any] = {}
        if not self.query and body.strip():
            try:
                value = _any_json.decode(body)
                if isinstance(value, str):
                    value = _any_json.decode(value)
            except (msgspec.DecodeError, RecursionError):
                value = None  # the endpoint answers the malformed body itself
            if isinstance(value, dict):
                self.body = value

    def get(self, name: str) -> Any:
        if self.query:
            return self.request.query_params.get(name)
        return self.body.get(name)

    def text(self, name: str, *, fallback: str | None = None) -> str:
        """A required id field as text; MLflow's 400 when absent or empty, or of the wrong type."""
        value = self.get(name)
        if (value is None or value == "") and fallback is not None:
            value = self.get(fallback)
        if value is None or value == "":
            raise missing(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise MlflowException(
                f"Invalid value for parameter '{name}' supplied: expected a string, "
                f"got {type(value).__name__}.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        return value

    def texts(self, name: str, *, csv: bool) -> list[str]:
        """A list field: repeated query values (split at commas for the UI's API) or a JSON list."""
        if self.query or self.request.method == "GET":
            raw = self.request.query_params.getlist(name)
            return [item for value in raw for item in (value.split(",") if csv else [value]) if item]
        value = self.body.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise MlflowException(
                f"Invalid value for parameter '{name}' supplied: expected a list.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        out = []
        for item in value:
            if isinstance(item, int) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str):
                raise MlflowException(
                    f"Invalid value for parameter '{name}' supplied: expected a list of strings.",
                    error_code=INVALID_PARAMETER_VALUE,
                )
            out.append(item)
        return out


#: Rules that look runs or experiments up in the tracking store (absent with ``--artifacts-only``).
_NEEDS_TRACKING = frozenset(
    {
        "experiment_name",
        "run",
        "runs",
        "search_experiments",
        "ui_experiments",
        "create_experiment",
        "logged_model",
        "search_models",
        "search_versions",
    }
)
#: Rules whose answer is produced or followed here (the body is read first, for every user).
_WRAPPED = frozenset(
    {"search_experiments", "create_experiment", "create_model", "search_models", "search_versions"}
)


def _needs_body(rule: Rule) -> bool:
    return rule.kind in {
        "experiment",
        "experiment_name",
        "experiments",
        "run",
        "runs",
        "self",
        "grant",
        "model",
    }


class AuthGuard:
    """ASGI middleware enforcing ``_policy.py``'s rules (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: list[BaseRoute],
        access: Access,
        authenticator: Authenticator,
        max_body_bytes: int,
    ) -> None:
        check_coverage(routes)
        self.app = app
        plain = [r for r in routes if isinstance(r, Route)]
        # Most paths have no parameters: found by a dict lookup, not by trying every route's regex.
        self.exact: dict[str, list[Route]] = {}
        for route in plain:
            if "{" not in route.path:
                self.exact.setdefault(route.path, []).append(route)
        self.templated = [r for r in plain if "{" in r.path]
        self.access = access
        self.authenticator = authenticator
        self.max_body_bytes = max_body_bytes

    def _route(self, scope: Scope) -> Route | None:
        """The route Starlette will pick for the request (the first full match, in the app's order), or
        the first that matches the path only (a wrong method: 405), or None (404)."""
        partial = None
        for candidates in (self.exact.get(scope["path"], ()), self.templated):
            for route in candidates:
                match, _ = route.matches(scope)
                if match is Match.FULL:
                    return route
                if match is Match.PARTIAL and partial is None:
                    partial = route
        return partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.access.server is None:
            self.access.server = getattr(scope["app"].state, "server", None)
        route = self._route(scope)
        method: str = scope["method"]
        if route is None or method not in (route.methods or ()):
            await self.app(scope, receive, send)  # 404 or 405: nothing behind it to protect
            return
        rule = find_rule(route.path, method)
        if rule is not None and rule.kind == "public":
            await self.app(scope, receive, send)
            return
        principal = await self.authenticator.authenticate(scope)
        if principal is None:
            await self._unauthenticated(scope)(scope, receive, send)
            return
        if principal.via == "session" and method not in _SAFE_METHODS:
            token = header(scope, CSRF_HEADER)
            if token is None or principal.csrf is None or not hmac.compare_digest(token, principal.csrf):
                await forbidden("Permission denied: missing or wrong CSRF token.")(scope, receive, send)
                return
        scope[AUTH_SCOPE_KEY] = principal
        try:
            passing = await self._authorize(scope, receive, send, route, rule, principal)
        except _Denied:
            await forbidden()(scope, receive, send)
            return
        except MlflowException as exc:
            await error_response(exc)(scope, receive, send)
            return
        if passing is not None:
            await self.app(scope, passing, send)

    def _unauthenticated(self, scope: Scope) -> Response:
        path: str = scope["path"]
        if path == "/" and scope["method"] in ("GET", "HEAD"):
            return RedirectResponse("/login", status_code=303)
        # No password dialog for the UI's own requests, or for a browser whose session has ended.
        quiet = path.startswith(_UI_PREFIXES) or (
            header(scope, b"authorization") is None and cookie_value(scope, SESSION_COOKIE) is not None
        )
        return unauthenticated(challenge=not quiet)

    async def _authorize(
        self, scope: Scope, receive: Receive, send: Send, route: Route, rule: Rule | None, who: Principal
    ) -> Receive | None:
        """Raise :class:`_Denied`, or answer the request (None), or return the ``receive`` to pass it on
        with (its body replayed when it had to be read here)."""
        if rule is None:
            if who.user.is_admin:
                return receive
            raise _Denied
        if self.access.server is None and rule.kind in _NEEDS_TRACKING:
            return receive  # --artifacts-only: no tracking store, and these endpoints answer 503
        body = b""
        if (_needs_body(rule) and not rule.query) or rule.kind in _WRAPPED:
            if scope["method"] not in ("GET", "HEAD") or not scope.get("query_string"):
                body = await read_body(Request(scope, receive), self.max_body_bytes)
                receive = _replay(body)
        if rule.kind == "create_experiment":
            await _filters.create_experiment(self.app, scope, receive, send, self.access, who)
            return None
        if rule.kind == "create_model":
            await _model_filters.create_registered_model(self.app, scope, receive, send, self.access, who)
            return None
        request = Request(scope, receive)
        if rule.after:
            # Checked here (admins pass), then the call, then the model's grants follow it (for admins too).
            fields = Fields(request, body)
            name = fields.text(rule.field)
            if not who.user.is_admin and not await self._allowed(rule, fields, route, scope, who):
                raise _Denied
            await _model_filters.after_model_call(
                self.app, scope, receive, send, self.access, rule.after, name, fields.get("new_name")
            )
            return None
        if who.user.is_admin:
            return receive
        if rule.kind == "search_experiments":
            response = await _filters.search_experiments(request, self.access, who, body)
            await response(scope, receive, send)
            return None
        if rule.kind in ("search_models", "search_versions"):
            search = (
                _model_filters.search_registered_models
                if rule.kind == "search_models"
                else _model_filters.search_model_versions
            )
            response = await search(request, self.access, who)
            await response(scope, receive, send)
            return None
        if rule.kind == "ui_experiments":
            await _filters.ui_experiments(self.app, scope, receive, send, self.access, who)
            return None
        if not await self._allowed(rule, Fields(request, body, query=rule.query), route, scope, who):
            raise _Denied
        return receive

    async def _allowed(self, rule: Rule, fields: Fields, route: Route, scope: Scope, who: Principal) -> bool:
        access, user = self.access, who.user
        cap = rule.capability
        if rule.kind in ("user", "upload_part"):
            return True
        if rule.kind == "admin":
            return False
        if rule.kind == "self":
            return fields.text(rule.field) == user.username
        assert cap is not None or rule.kind == "grant"
        if rule.kind == "experiment":
            return await access.can(user, fields.text(rule.field), cap)  # type: ignore[arg-type]
        if rule.kind == "model":
            return await access.can_model(user, fields.text(rule.field), cap)  # type: ignore[arg-type]
        if rule.kind == "experiment_name":
            experiment_id = await access.experiment_id_by_name(fields.text(rule.field))
            return await access.can(user, experiment_id, cap)  # type: ignore[arg-type]
        if rule.kind == "experiments":
            ids = fields.texts(rule.field, csv=rule.csv)
            return await access.can_all(user, ids, cap)  # type: ignore[arg-type]
        if rule.kind == "run":
            run_id = fields.text(rule.field, fallback="run_uuid")
            return await access.can_run(user, run_id, cap)  # type: ignore[arg-type]
        if rule.kind == "runs":
            ids = fields.texts(rule.field, csv=rule.csv)
            return await access.can_runs(user, ids, cap)  # type: ignore[arg-type]
        if rule.kind == "logged_model":
            model_id = str(_path_params(route, scope).get("model_id", ""))
            return await access.can_logged_model(user, model_id, cap)  # type: ignore[arg-type]
        if rule.kind == "artifact":
            return await access.can_artifact(user, _artifact_path(route, scope), cap)  # type: ignore[arg-type]
        if rule.kind == "grant":
            if fields.text("resource_type") != "experiment":
                return False
            return await access.can(user, fields.text("resource_id"), "can_manage")
        raise AssertionError(rule.kind)


def _path_params(route: Route, scope: Scope) -> dict[str, Any]:
    _, child = route.matches(scope)
    params: dict[str, Any] = child.get("path_params", {})
    return params


def _artifact_path(route: Route, scope: Scope) -> str:
    """The artifact path a request names: the URL's ``{path}``, or ``?path=`` for a listing."""
    _, child = route.matches(scope)
    params: dict[str, Any] = child.get("path_params", {})
    if "path" in params:
        return str(params["path"])
    request = Request(scope)
    return request.query_params.get("path") or ""


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
