"""The safety rules every artifact path obeys, on every API: one place, one error shape.

A run-relative artifact path is POSIX-style (``/`` separates names) and must stay inside the run's artifact
root. Rejected, whatever the API (log, list, download, delete), each with INVALID_PARAMETER_VALUE naming the
path and the rule it broke:

- ``..`` segments (``../x``, ``a/../../x``), even where they would normalise back inside the root;
- absolute paths (``/etc/passwd``, ``C:/x``, ``//host/share``) and URIs (``file:///etc/passwd``);
- backslashes (``..\\x``: a separator on Windows, CVE-2023-2780) and control characters, NUL included;
- ``#`` (a URL fragment on the way to a server: CVE-2023-6909, CVE-2024-1594);
- any of the above hidden behind percent-encoding, once or several times (``%2e%2e/``, ``%252e%252e/``:
  CVE-2024-1558, CVE-2024-1560), because a server or a later tool may decode the path again.

Empty and ``.`` segments are dropped (``a//b/./c`` is ``a/b/c``), as MLflow's ``normpath`` does. The file
system side (symlinks) is checked by :func:`inside`, after joining with the root.
"""

from __future__ import annotations

import os
import posixpath
import re
import urllib.parse

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "TEMP_PREFIX",
    "check_file_name",
    "check_path",
    "decodings",
    "has_control",
    "inside",
    "join_inside",
    "parent_and_name",
    "posix_join",
    "unsafe",
]

#: Names of files being written (then renamed into place); MLflow uses the same prefix, so listings of a
#: directory shared with an MLflow server hide each other's partial uploads.
TEMP_PREFIX = ".artifact.uploading."

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://|^file:", re.IGNORECASE)
_MAX_DECODES = 10


def _rule_broken(path: str) -> str | None:
    """The first rule ``path`` breaks (as the text of an error), or None."""
    if _CONTROL.search(path):
        return "control characters (such as NUL or newlines) are not allowed"
    if "\\" in path:
        return "backslashes are not allowed: artifact paths separate names with '/' only"
    if path.startswith("/") or _DRIVE.match(path):
        return "absolute paths are not allowed: give a path relative to the run's artifact root"
    if _URI.match(path):
        return "URIs are not allowed as artifact paths: give a path relative to the run's artifact root"
    if ".." in path.split("/"):
        return "'..' segments are not allowed: an artifact path may not leave the artifact root"
    if "#" in path:
        return "'#' is not allowed (a URL would cut the path there)"
    return None


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (urllib silently drops tabs and newlines from URLs)."""
    return _CONTROL.search(text) is not None


def decodings(path: str) -> list[str]:
    """``path`` and each successive percent-decoding of it, until it stops changing (at most 11)."""
    out = [path]
    for _ in range(_MAX_DECODES):
        decoded = urllib.parse.unquote(out[-1])
        if decoded == out[-1]:
            break
        out.append(decoded)
    return out


def unsafe(path: str) -> str | None:
    """Why ``path`` is unsafe, or None: the rules, applied to the path and to every percent-decoding of it."""
    rule = _rule_broken(path)
    if rule is not None:
        return rule
    current = path
    for _ in range(_MAX_DECODES):
        decoded = urllib.parse.unquote(current)
        if decoded == current:
            return None
        rule = _rule_broken(decoded)
        if rule is not None:
            return f"percent-encoded {rule.split(':')[0]} (it decodes to {decoded!r})"
        current = decoded
    return f"percent-encoded more than {_MAX_DECODES} times"


def _invalid(what: str, path: object, rule: str) -> MlflowException:
    return MlflowException(f"Invalid {what} {path!r}: {rule}.", error_code=INVALID_PARAMETER_VALUE)


def check_path(path: str | os.PathLike[str] | None, what: str = "artifact path") -> str:
    """The canonical run-relative form of ``path`` (``""`` for the root), or INVALID_PARAMETER_VALUE.

    >>> check_path("plots//./loss.png")
    'plots/loss.png'
    """
    if path is None:
        return ""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise _invalid(what, path, f"expected a string, got {type(path).__name__}")
    rule = unsafe(path)
    if rule is not None:
        raise _invalid(what, path, rule)
    return "/".join(s for s in path.split("/") if s not in ("", "."))


def check_file_name(name: str, what: str = "artifact file name", shown: str | None = None) -> str:
    """A single file name to create: safe, not empty, and not one of the reserved temporary names
    (``shown``, the whole path the name came from, is what an error names)."""
    clean = check_path(name, what)
    if clean == "" or "/" in clean:
        raise _invalid(what, shown or name, "a file name is required (an empty name is not allowed)")
    if clean.startswith(TEMP_PREFIX):
        rule = f"names starting with {TEMP_PREFIX!r} are not allowed (reserved for uploads in progress)"
        raise _invalid(what, shown or name, rule)
    return clean


def inside(root: str, target: str) -> bool:
    """Whether ``target``, with every symlink resolved, is ``root`` or below it (``root`` resolved too)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(target)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def join_inside(root: str, rel: str, what: str = "artifact path", where: str = "the artifact root") -> str:
    """``root/rel`` for a canonical ``rel``, or INVALID_PARAMETER_VALUE if a symlink on the way (or at the
    end) leads outside ``root``."""
    target = os.path.join(root, *rel.split("/")) if rel else root
    if not inside(root, target):
        raise _invalid(what, rel, f"it resolves (through a symlink) to a location outside {where}")
    return target


def parent_and_name(rel: str) -> tuple[str, str]:
    """``"a/b/c.txt"`` → ``("a/b", "c.txt")``."""
    head, _, tail = rel.rpartition("/")
    return head, tail


def posix_join(*parts: str | None) -> str:
    """Join canonical relative paths, skipping empty ones."""
    return posixpath.join(*(p for p in parts if p)) if any(parts) else ""
