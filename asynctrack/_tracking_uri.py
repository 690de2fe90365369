"""Tracking URI resolution, as in MLflow: ``set_tracking_uri``, then ``MLFLOW_TRACKING_URI``, then the
embedded SQLite store under ``./mlruns``.

Accepted forms: ``sqlite:///relative.db`` and ``sqlite:////absolute.db``; a directory path or ``file://``
URI (the embedded store's database ``asynctrack.db`` lives inside it, artifacts beside it); and
``http://host:port`` or ``https://host[:port][/base/path]``, a remote MLflow-compatible tracking server
reached through MLflow's REST API (the server owns the database and the artifact root); and
``postgresql://user:password@host:port/database`` (also ``postgres://`` and ``postgresql+asyncpg://``), a
PostgreSQL database reached directly (asyncpg), its artifact root ``./mlruns`` as for the embedded store.
"""

from __future__ import annotations

import os
import pathlib
import urllib.parse

import msgspec

from asynctrack._redact import redact
from asynctrack.environment import MLFLOW_TRACKING_URI
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "DEFAULT_DB_NAME",
    "POSTGRES_SCHEMES",
    "REMOTE_SCHEMES",
    "StoreLocation",
    "current_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "resolve",
    "set_tracking_uri",
]

DEFAULT_DB_NAME = "asynctrack.db"
_DEFAULT_DIR = "mlruns"

_tracking_uri: str | None = None


REMOTE_SCHEMES = frozenset({"http", "https"})
#: Spellings of a PostgreSQL URI (SQLAlchemy's driver suffix included, as MLflow accepts it).
POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})


class StoreLocation(msgspec.Struct, frozen=True):
    """A resolved tracking URI: which backend (``scheme``: "sqlite", "postgresql", "http" or "https"), and
    where.

    ``uri`` is canonical, so that two spellings of one store share one pipeline: ``sqlite:///`` with an
    absolute path, or the server's base URL without a trailing slash. ``db_path`` and ``artifact_root``
    are the embedded store's absolute paths, empty for a remote store.
    """

    scheme: str
    uri: str
    db_path: str
    artifact_root: str

    @property
    def is_postgres(self) -> bool:
        """A PostgreSQL database reached directly (``uri`` is then its canonical ``postgresql://`` URI)."""
        return self.scheme == "postgresql"

    @property
    def is_networked(self) -> bool:
        """A store across a network (a tracking server or a PostgreSQL database): the pipeline journals
        its writes before shipping them, so an outage or a crash loses nothing (docs/journal.md)."""
        return self.is_remote or self.is_postgres

    @property
    def is_remote(self) -> bool:
        """A tracking server reached over HTTP, not a local database."""
        return self.scheme in REMOTE_SCHEMES


def set_tracking_uri(uri: str | pathlib.Path | None) -> None:
    """Log to ``uri`` from now on in this process (``None`` restores the default resolution)."""
    global _tracking_uri
    if uri is None:
        _tracking_uri = None
        return
    uri = str(uri)
    resolve(uri)  # fail now, at the call site, on an unusable URI
    _tracking_uri = uri


def is_tracking_uri_set() -> bool:
    return _tracking_uri is not None or MLFLOW_TRACKING_URI.get() is not None


def current_uri() -> str:
    """The tracking URI string in force, unresolved ("" for the default); cheap enough for hot paths."""
    return _tracking_uri or MLFLOW_TRACKING_URI.get() or ""


def get_tracking_uri() -> str:
    """The tracking URI in force: the one set, else ``MLFLOW_TRACKING_URI``, else the embedded store's."""
    if _tracking_uri is not None:
        return _tracking_uri
    env = MLFLOW_TRACKING_URI.get()
    if env:
        return env
    return resolve(None).uri


def resolve(uri: str | None) -> StoreLocation:
    """Turn a tracking URI into a :class:`StoreLocation`; raise INVALID_PARAMETER_VALUE if unusable."""
    if uri is None or uri == "":
        uri = _tracking_uri or MLFLOW_TRACKING_URI.get() or _DEFAULT_DIR
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme == "sqlite":
        if not uri.lower().startswith("sqlite:///"):
            raise MlflowException(
                f"Invalid SQLite tracking URI {uri!r}: expected sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db",
                error_code=INVALID_PARAMETER_VALUE,
            )
        path = uri[len("sqlite:///") :]
        if path in ("", ":memory:"):
            raise MlflowException(
                f"Invalid SQLite tracking URI {uri!r}: the embedded store needs a file path",
                error_code=INVALID_PARAMETER_VALUE,
            )
        db = os.path.abspath(urllib.parse.unquote(path))
        root = os.path.abspath(_DEFAULT_DIR)
        return StoreLocation("sqlite", f"sqlite:///{db}", db, root)
    if scheme == "file" or scheme == "" or (len(scheme) == 1 and os.name == "nt"):
        directory = urllib.parse.unquote(parsed.path) if scheme == "file" else uri
        directory = os.path.abspath(os.path.expanduser(directory))
        db = os.path.join(directory, DEFAULT_DB_NAME)
        return StoreLocation("sqlite", f"sqlite:///{db}", db, directory)
    if scheme in REMOTE_SCHEMES:
        return _remote(parsed, scheme)
    if scheme in POSTGRES_SCHEMES:
        return _postgres(parsed)
    raise MlflowException(
        f"Tracking URI {redact(parsed.geturl())!r} uses the scheme {scheme!r}, which this version of "
        "asynctrack does not support: use a directory, file://, sqlite:///, postgresql://, http:// or "
        "https:// URI.",
        error_code=INVALID_PARAMETER_VALUE,
    )


def _remote(parsed: urllib.parse.ParseResult, scheme: str) -> StoreLocation:
    """A tracking server's base URL; requests go to ``<base>/api/2.0/mlflow/...``."""
    problem = None
    if not parsed.hostname:
        problem = "no host"
    elif parsed.query or parsed.fragment or parsed.params:
        problem = "a query or fragment (the URI is the server's base URL)"
    else:
        try:
            parsed.port  # noqa: B018  (raises ValueError on a malformed port)
        except ValueError:
            problem = "an invalid port"
    if problem is not None:
        raise MlflowException(
            f"Invalid tracking URI {redact(parsed.geturl())!r}: it has {problem}; expected "
            f"{scheme}://host[:port][/base/path]",
            error_code=INVALID_PARAMETER_VALUE,
        )
    # The scheme and host are case-insensitive (user info is not); the path is kept, less a trailing slash.
    netloc = parsed.netloc if "@" in parsed.netloc else parsed.netloc.lower()
    canonical = urllib.parse.urlunparse((scheme, netloc, parsed.path, "", "", "")).rstrip("/")
    return StoreLocation(scheme, canonical, "", "")


def _postgres(parsed: urllib.parse.ParseResult) -> StoreLocation:
    """A PostgreSQL database: ``postgresql://[user[:password]@]host[:port]/database[?options]``, canonical
    with the ``postgresql`` scheme (so the three spellings share one pipeline). The options are checked
    when the store opens (``store/postgres/_config.py``)."""
    problem = None
    if not parsed.hostname:
        problem = "no host"
    elif parsed.path.strip("/") == "":
        problem = "no database name"
    elif parsed.fragment or parsed.params:
        problem = "a fragment"
    else:
        try:
            parsed.port  # noqa: B018  (raises ValueError on a malformed port)
        except ValueError:
            problem = "an invalid port"
    if problem is not None:
        raise MlflowException(
            f"Invalid PostgreSQL tracking URI {redact(parsed.geturl())!r}: it has {problem}; expected "
            "postgresql://user:password@host:port/database",
            error_code=INVALID_PARAMETER_VALUE,
        )
    netloc = parsed.netloc
    if "@" not in netloc:
        netloc = netloc.lower()
    canonical = urllib.parse.urlunparse(("postgresql", netloc, parsed.path, "", parsed.query, ""))
    return StoreLocation("postgresql", canonical, "", os.path.abspath(_DEFAULT_DIR))
