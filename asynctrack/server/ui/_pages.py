"""Serving the single-page app: ``/`` (index.html) and ``/static/<path>``, with a strict CSP.

The files are package data read once and kept in memory (the whole app is a few hundred KB), each with a
strong ETag, and text files also gzipped once (sent to browsers that accept it). ``index.html`` names them
under a versioned prefix, ``/static/v<hash of all files>/js/app.js`` (the modules' relative imports stay
under it): those answers are ``immutable`` for a year, so a second visit loads the app from the browser's
cache without a single request, and a new version of the app is a new prefix. ``index.html`` itself and
unversioned paths are revalidated each time (ETag, 304). Only files under ``static/`` with a known
extension are served, by name lookup in that table, so no request path ever reaches the file system.
Every answer carries the headers of :data:`UI_HEADERS`: ``default-src 'self'`` with no inline scripts or
styles, no framing, ``nosniff`` and a same-origin referrer.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from asynctrack.server._errors import endpoint_not_found

__all__ = ["IMMUTABLE", "UI_HEADERS", "app_version", "page_routes"]

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


_COMPRESSIBLE = (".html", ".js", ".css", ".svg")
#: The answer to a versioned path of the current version: never changes, so never revalidated.
IMMUTABLE = "public, max-age=31536000, immutable"
_VERSIONED = re.compile(r"v([0-9a-f]{12})/(.+)")


class _File:
    __slots__ = ("body", "etag", "gz_body", "gz_etag", "media_type")

    def __init__(self, body: bytes, media_type: str, compress: bool) -> None:
        self.body = body
        self.media_type = media_type
        digest = hashlib.sha256(body).hexdigest()[:32]
        self.etag = f'"{digest}"'
        # mtime=0: the same bytes on every start, so the gzipped answer's ETag holds across restarts.
        self.gz_body = gzip.compress(body, 9, mtime=0) if compress else None
        self.gz_etag = f'"{digest}-gz"'


@cache
def _app() -> tuple[str, dict[str, _File]]:
    """Every servable file under ``static/``, by its path relative to it (``js/app.js``); ``index.html``
    with its ``/static/`` references moved under the app's version prefix (see :func:`app_version`)."""
    raw: dict[str, tuple[bytes, str]] = {}
    root = resources.files("asynctrack.server.ui") / "static"

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in node.iterdir():
            name = prefix + child.name
            if child.is_dir():
                walk(child, name + "/")
                continue
            suffix = "." + child.name.rsplit(".", 1)[-1] if "." in child.name else ""
            if suffix in _TYPES:
                raw[name] = (child.read_bytes(), suffix)

    walk(root, "")
    each = (name.encode() + b"\0" + hashlib.sha256(body).digest() for name, (body, _) in sorted(raw.items()))
    version = hashlib.sha256(b"".join(each)).hexdigest()[:12]
    if "index.html" in raw:
        body, suffix = raw["index.html"]
        raw["index.html"] = (body.replace(b'"/static/', f'"/static/v{version}/'.encode()), suffix)
    return version, {
        name: _File(body, _TYPES[suffix], suffix in _COMPRESSIBLE) for name, (body, suffix) in raw.items()
    }


def _files() -> dict[str, _File]:
    return _app()[1]


def app_version() -> str:
    """12 hex digits of a hash over every served file: the prefix ``/static/v<it>/`` in index.html."""
    return _app()[0]


def _serve(request: Request, name: str, cache_control: str = "no-cache") -> Response:
    found = _files().get(name)
    if found is None:
        return endpoint_not_found(request)
    gz = found.gz_body is not None and "gzip" in request.headers.get("accept-encoding", "")
    etag = found.gz_etag if gz else found.etag
    headers = {**UI_HEADERS, "ETag": etag, "Cache-Control": cache_control}
    if found.gz_body is not None:
        headers["Vary"] = "Accept-Encoding"
    if request.headers.get("if-none-match") in (found.etag, found.gz_etag):
        return Response(status_code=304, headers=headers)
    full = found.gz_body if gz and found.gz_body is not None else found.body
    if gz:
        headers["Content-Encoding"] = "gzip"
    body = b"" if request.method == "HEAD" else full
    response = Response(body, media_type=found.media_type, headers=headers)
    if request.method == "HEAD":
        response.headers["Content-Length"] = str(len(full))
    return response


async def _index(request: Request) -> Response:
    return _serve(request, "index.html")


async def _static(request: Request) -> Response:
    path: str = request.path_params["path"]
    versioned = _VERSIONED.fullmatch(path)
    if versioned is None:
        return _serve(request, path)
    if versioned.group(1) == app_version():
        return _serve(request, versioned.group(2), IMMUTABLE)
    # A page of an earlier version of the app: it gets today's file, revalidated, never kept for a year.
    return _serve(request, versioned.group(2))


def page_routes() -> list[Route]:
    """``/`` and ``/static/<path>`` (GET and HEAD)."""
    return [
        Route("/", _index, methods=["GET", "HEAD"]),
        Route("/static/{path:path}", _static, methods=["GET", "HEAD"]),
    ]
