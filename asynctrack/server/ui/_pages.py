"""Serving the single-page app: ``/`` (index.html) and ``/static/<path>``, with a strict CSP.

The files are package data read once and kept in memory (the whole app is a few hundred KB), each with a
strong ETag so a reload costs a 304. Only files under ``static/`` with a known extension are served, by
name lookup in that table, so no request path ever reaches the file system. Every answer carries the
headers of :data:`UI_HEADERS`: ``default-src 'self'`` with no inline scripts or styles, no framing,
``nosniff`` and a same-origin referrer.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from asynctrack.server._errors import endpoint_not_found

__all__ = ["UI_HEADERS", "page_routes"]

UI_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


class _File:
    __slots__ = ("body", "etag", "media_type")

    def __init__(self, body: bytes, media_type: str) -> None:
        self.body = body
        self.media_type = media_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@cache
def _files() -> dict[str, _File]:
    """Every servable file under ``static/``, by its path relative to it (``js/app.js``)."""
    out: dict[str, _File] = {}
    root = resources.files("asynctrack.server.ui") / "static"

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in node.iterdir():
            name = prefix + child.name
            if child.is_dir():
                walk(child, name + "/")
                continue
            suffix = "." + child.name.rsplit(".", 1)[-1] if "." in child.name else ""
            if suffix in _TYPES:
                out[name] = _File(child.read_bytes(), _TYPES[suffix])

    walk(root, "")
    return out


def _serve(request: Request, name: str) -> Response:
    found = _files().get(name)
    if found is None:
        return endpoint_not_found(request)
    headers = {**UI_HEADERS, "ETag": found.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else found.body
    response = Response(body, media_type=found.media_type, headers=headers)
    if request.method == "HEAD":
        response.headers["Content-Length"] = str(len(found.body))
    return response


async def _index(request: Request) -> Response:
    return _serve(request, "index.html")


async def _static(request: Request) -> Response:
    return _serve(request, request.path_params["path"])


def page_routes() -> list[Route]:
    """``/`` and ``/static/<path>`` (GET and HEAD)."""
    return [
        Route("/", _index, methods=["GET", "HEAD"]),
        Route("/static/{path:path}", _static, methods=["GET", "HEAD"]),
    ]
