"""The web UI's sign-in: a login page, a session cookie, and a CSRF token for the UI's writes.

- ``GET /login`` serves a small form (no inline script, the UI's strict CSP).
- ``POST /ajax-api/asynctrack/auth/login`` with JSON ``{"username", "password"}`` checks the password and
  sets ``asynctrack_session``: a random token (stored hashed, like API tokens) in a cookie that is
  ``HttpOnly`` (page scripts cannot read it), ``SameSite=Strict`` (no other site's page sends it),
  ``Path=/``, and ``Secure`` when the request came over HTTPS. It answers the session's CSRF token.
- ``GET /ajax-api/asynctrack/auth/session`` tells the page who it is and gives the CSRF token again (after
  a reload); ``POST .../logout`` ends the session.

Every state-changing request authenticated by the cookie must carry the CSRF token in ``X-CSRF-Token``
(checked by the middleware), on top of SameSite and the server's Origin and JSON-only checks. Sessions
last :data:`SESSION_TTL` seconds; changing a password or deleting a user ends that user's sessions.
"""

from __future__ import annotations

import secrets
import time
from functools import cache
from importlib import resources

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from asynctrack.exceptions import MlflowException
from asynctrack.server._errors import JSON_TYPE, error_response
from asynctrack.server._request import read_body
from asynctrack.server.auth._authn import SESSION_COOKIE, Authenticator, Principal, cookie_value
from asynctrack.server.auth._secrets import hash_token, new_session_token
from asynctrack.server.ui._pages import UI_HEADERS

__all__ = ["SESSION_TTL", "no_auth_session_routes", "session_routes"]

SESSION_TTL = 12 * 3600
_encoder = msgspec.json.Encoder()


class _Login(msgspec.Struct):
    username: str = ""
    password: str = ""


@cache
def _page(name: str) -> bytes:
    return (resources.files("asynctrack.server.auth") / "static" / name).read_bytes()


def _json(body: object, status: int = 200) -> Response:
    response = Response(_encoder.encode(body), status_code=status, media_type=JSON_TYPE)
    response.headers.update(UI_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def session_routes(auth: Authenticator) -> list[Route]:
    async def login_page(request: Request) -> Response:
        name = "login.js" if request.url.path.endswith(".js") else "login.html"
        media = "text/javascript; charset=utf-8" if name.endswith(".js") else "text/html; charset=utf-8"
        body = b"" if request.method == "HEAD" else _page(name)
        return Response(body, media_type=media, headers={**UI_HEADERS, "Cache-Control": "no-cache"})

    async def login(request: Request) -> Response:
        try:
            form = msgspec.json.decode(await read_body(request, 16 * 1024), type=_Login)
        except MlflowException as exc:
            return error_response(exc)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return _json(
                {"error_code": "INVALID_PARAMETER_VALUE", "message": "Send JSON {username, password}."}, 400
            )
        user = await auth.check_password(form.username, form.password) if form.username else None
        if user is None:
            return _json({"error_code": "UNAUTHENTICATED", "message": "Wrong username or password."}, 401)
        token, csrf = new_session_token(), secrets.token_urlsafe(32)
        expires = int((time.time() + SESSION_TTL) * 1000)
        await auth.store.create_session(hash_token(token), user.id, csrf, expires)
        response = _json({"username": user.username, "is_admin": user.is_admin, "csrf_token": csrf})
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=SESSION_TTL,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        token = cookie_value(request.scope, SESSION_COOKIE)
        if token:
            await auth.store.delete_session(hash_token(token))
        response = _json({})
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def session(request: Request) -> Response:
        who: Principal = request.scope["asynctrack.auth"]
        return _json(
            {
                "auth": True,
                "username": who.user.username,
                "is_admin": who.user.is_admin,
                "via": who.via,
                "csrf_token": who.csrf,
            }
        )

    return [
        Route("/login", login_page, methods=["GET", "HEAD"]),
        Route("/login.js", login_page, methods=["GET", "HEAD"]),
        Route("/ajax-api/asynctrack/auth/login", login, methods=["POST"]),
        Route("/ajax-api/asynctrack/auth/logout", logout, methods=["POST"]),
        Route("/ajax-api/asynctrack/auth/session", session, methods=["GET"]),
    ]


def no_auth_session_routes() -> list[Route]:
    """``GET .../auth/session`` on a server without ``--auth``: the page asks it before its first write and
    learns there is nothing to sign in to (a 404 would be a console error on every such page)."""

    async def session(request: Request) -> Response:
        return _json({"auth": False, "username": None, "is_admin": False, "via": None, "csrf_token": None})

    return [Route("/ajax-api/asynctrack/auth/session", session, methods=["GET"])]
