"""Where a remote client may put an experiment's artifacts: under the server's configured artifact roots only.

``experiments/create`` takes an ``artifact_location``. Taken as given, a client could point an experiment at
any directory of the server's machine (``/etc``, ``/home/alice/.ssh``, ``file:///...``, ``../..``) for
whatever later reads or writes there through the server, or at a host of its choosing
(``mlflow-artifacts://evil.example/``, ``s3://attacker-bucket``) so that other users' clients upload their
artifacts to it. MLflow's answers to that family (CVE-2023-6909, CVE-2023-6831, CVE-2024-1560 and the
"host-addressed scheme" policy of 3.x) refuse ``..`` anywhere (plain or percent-encoded), fragments,
queries and ``runs:/`` URIs, and schemes that would reach hosts other than the configured storage. We do
the same, stated as one rule: a location must lie under a root the server was configured with.

==========================  ==================================================================================
location                    accepted when
==========================  ==================================================================================
``mlflow-artifacts:/p``     the server serves artifacts (or its default root is ``mlflow-artifacts:``); no
                            host part, ``p`` a safe relative path
a path, ``file:``            inside the store's local artifact root or the artifacts destination, symlinks
                            resolved; a relative path is first made absolute against the server's working
                            directory and stored so, as MLflow does
any other scheme            same scheme and host as ``--default-artifact-root``, path below its path
==========================  ==================================================================================

Anything else is ``INVALID_PARAMETER_VALUE`` naming the location, the rule, and the roots allowed.
"""

from __future__ import annotations

import os
import posixpath
import urllib.parse

from asynctrack.artifacts._paths import decodings, has_control, inside, unsafe
from asynctrack.artifacts._uri import local_path, scheme_of
from asynctrack.exceptions import MlflowException
from asynctrack.server._artifacts import PROXIED_ROOT, destination_root, serves_artifacts, store_location
from asynctrack.server._config import ServerConfig

__all__ = ["check_artifact_location"]

#: MLflow's default MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH.
MAX_LOCATION_LENGTH = 2048


def _roots(config: ServerConfig) -> tuple[list[str], str | None, bool]:
    """(local root directories, the remote default root URI or None, whether mlflow-artifacts: is served)."""
    local: list[str] = []
    remote: str | None = None
    root = store_location(config).artifact_root
    proxied = serves_artifacts(config) or scheme_of(root) == PROXIED_ROOT.rstrip(":")
    if root and scheme_of(root) in ("", "file"):
        local.append(local_path(root))
    elif root and scheme_of(root) != PROXIED_ROOT.rstrip(":"):
        remote = root
    if serves_artifacts(config):
        local.append(destination_root(config))
    return local, remote, proxied


def _refuse(location: str, rule: str, config: ServerConfig) -> MlflowException:
    local, remote, proxied = _roots(config)
    allowed = [*(["mlflow-artifacts:/<path>"] if proxied else []), *local, *([remote] if remote else [])]
    return MlflowException.invalid_parameter_value(
        f"Invalid artifact_location {location[:300]!r}: {rule}. This server keeps artifacts only under "
        f"its configured roots ({', '.join(allowed) or 'none'}); leave artifact_location empty for the "
        "default."
    )


def _no_dotdot(path: str) -> bool:
    return not any(".." in variant.replace("\\", "/").split("/") for variant in decodings(path))


def check_artifact_location(location: str | None, config: ServerConfig) -> str | None:
    """``location`` as it is to be stored when a remote client may use it (see the module docstring): a
    relative path made absolute, anything else unchanged; None when empty."""
    if not location:
        return None
    if len(location) > MAX_LOCATION_LENGTH:
        raise _refuse(location, f"longer than {MAX_LOCATION_LENGTH} characters", config)
    if has_control(location):
        raise _refuse(location, "control characters are not allowed", config)
    if not _no_dotdot(location):
        raise _refuse(location, "'..' segments are not allowed (plainly or percent-encoded)", config)
    parts = urllib.parse.urlsplit(location)
    if parts.query or parts.fragment or "#" in location or "?" in location:
        raise _refuse(location, "a query ('?') or fragment ('#') is not allowed", config)
    local, remote, proxied = _roots(config)
    scheme = scheme_of(location)
    if scheme == "runs":
        raise _refuse(location, "an artifact location cannot be a runs:/ URI", config)
    if scheme == PROXIED_ROOT.rstrip(":"):
        if not proxied:
            raise _refuse(location, "this server does not serve artifacts (--serve-artifacts)", config)
        if parts.netloc:
            raise _refuse(location, "an mlflow-artifacts URI may not name a host", config)
        rule = unsafe(parts.path.lstrip("/"))
        if rule is not None:
            raise _refuse(location, rule, config)
        return location
    if scheme in ("", "file"):
        if scheme == "" and not os.path.isabs(location):
            # As MLflow: a relative path names a directory below the server's working directory, stored
            # absolute; like any local path it must then lie under an artifact root.
            resolved = os.path.abspath(location)
            if not any(inside(root, resolved) for root in local):
                raise _refuse(
                    location,
                    f"a relative path is taken from the server's working directory, and {resolved!r} "
                    "lies outside the server's artifact roots",
                    config,
                )
            location = resolved
        try:
            path = local_path(location)
        except MlflowException as exc:
            raise _refuse(location, exc.message, config) from None
        if not any(inside(root, path) for root in local):
            raise _refuse(location, "a local path outside the server's artifact roots", config)
        return location
    if remote is not None:
        base = urllib.parse.urlsplit(remote)
        root_path = base.path.rstrip("/")
        if (
            scheme == scheme_of(remote)
            and parts.netloc.lower() == base.netloc.lower()
            and (parts.path == root_path or posixpath.normpath(parts.path).startswith(root_path + "/"))
        ):
            return location
    raise _refuse(
        location, f"the scheme {scheme!r} at {parts.netloc!r} is not a configured artifact root", config
    )
