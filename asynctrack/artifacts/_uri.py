"""Artifact URIs, as MLflow reads them: schemes, local paths, ``runs:/`` URIs and joining.

A *local* artifact URI is a plain path (absolute, or relative to the working directory) or a ``file:`` URI
(``file:///abs``, ``file:/abs``, ``file://localhost/abs``; percent-encoded as URIs are). The embedded store
gives runs plain absolute paths, ``<root>/<experiment_id>/<run_id>/artifacts``, as MLflow's SQL store does.
"""

from __future__ import annotations

import os
import posixpath
import urllib.parse

from asynctrack.artifacts._paths import decodings, has_control
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["append_to_uri_path", "local_path", "parse_runs_uri", "scheme_of", "split_last"]


def scheme_of(uri: str) -> str:
    """The URI's scheme in lower case; ``""`` for a plain path (a Windows drive letter counts as a path)."""
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    return "" if len(scheme) == 1 else scheme


def _bad(uri: str, rule: str) -> MlflowException:
    return MlflowException(f"Invalid artifact URI {uri!r}: {rule}.", error_code=INVALID_PARAMETER_VALUE)


def local_path(uri: str) -> str:
    """The absolute file-system path a local artifact URI names; INVALID_PARAMETER_VALUE for a ``file:`` URI
    on another host, with a query or a fragment, or with ``..`` segments (plainly or percent-encoded)."""
    if has_control(uri):
        raise _bad(uri, "control characters (such as NUL or newlines) are not allowed")
    scheme = scheme_of(uri)
    if scheme == "":
        path = uri
    elif scheme == "file":
        parts = urllib.parse.urlsplit(uri)
        if parts.netloc not in ("", "localhost", "127.0.0.1"):
            raise _bad(uri, f"a file URI must name this machine, not {parts.netloc!r}")
        if parts.query or parts.fragment or "#" in uri or "?" in uri:
            # A fragment or query appended to the root would smuggle a path past the checks on it
            # (CVE-2023-6909, CVE-2024-1594, CVE-2024-1483).
            raise _bad(uri, "a query ('?') or fragment ('#') is not allowed")
        path = urllib.parse.unquote(parts.path)
    else:
        raise _bad(uri, f"the scheme {scheme!r} does not name a local directory")
    if any(".." in variant.replace("\\", "/").split("/") for variant in decodings(path)):
        raise _bad(uri, "'..' segments are not allowed (plainly or percent-encoded)")
    return os.path.abspath(os.path.expanduser(path))


def append_to_uri_path(uri: str, *paths: str) -> str:
    """MLflow's ``append_to_uri_path``: join POSIX ``paths`` onto the URI's path component.

    >>> append_to_uri_path("/root/0/abc/artifacts", "plots/loss.png")
    '/root/0/abc/artifacts/plots/loss.png'
    >>> append_to_uri_path("file:///root/artifacts?x=1", "a")
    'file:///root/artifacts/a?x=1'
    """
    tail = "/".join(p.strip("/") for p in paths if p and p.strip("/"))
    if not tail:
        return uri
    parts = urllib.parse.urlsplit(uri)
    if len(parts.scheme) <= 1:
        return uri.rstrip("/") + "/" + tail
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + tail))


def split_last(uri: str) -> tuple[str, str]:
    """``(root_uri, last_name)`` of an artifact URI, as MLflow's ``_get_root_uri_and_artifact_path``."""
    if has_control(uri):
        raise _bad(uri, "control characters (such as NUL or newlines) are not allowed")
    parts = urllib.parse.urlsplit(uri)
    if len(parts.scheme) <= 1:
        stripped = uri.rstrip("/")
        return os.path.dirname(stripped) or ".", os.path.basename(stripped)
    path = parts.path.rstrip("/")
    root = urllib.parse.urlunsplit(parts._replace(path=posixpath.dirname(path)))
    return root, posixpath.basename(path)


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` → ``(run_id, path)`` (path ``""`` for the run's artifact root)."""
    # Parsed by hand: urllib would drop tabs and newlines, and cut at '#' and '?'.
    if has_control(uri):
        raise _bad(uri, "control characters (such as NUL or newlines) are not allowed")
    if "#" in uri or "?" in uri:
        raise _bad(uri, "a query ('?') or fragment ('#') is not allowed")
    path = uri[len("runs:") :] if uri[:5].lower() == "runs:" else ""
    if not path.startswith("/") or path.startswith("//") or len(path) <= 1:
        raise MlflowException(
            f"Not a proper runs:/ URI: {uri}. Runs URIs must be of the form "
            "'runs:/<run_id>/run-relative/path/to/artifact'",
            error_code=INVALID_PARAMETER_VALUE,
        )
    run_id, _, rel = path[1:].partition("/")
    if not run_id:
        raise MlflowException(
            f"Not a proper runs:/ URI: {uri}. Runs URIs must be of the form "
            "'runs:/<run_id>/run-relative/path/to/artifact'",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return run_id, rel
