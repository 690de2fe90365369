"""Checks of model-registry input with MLflow's rules and messages (names, versions, aliases, tags).

Shared by the client (so a bad call fails before any request) and by the stores and the server (so a
request from any client gets the same answer MLflow's server gives).
"""

from __future__ import annotations

import json
import posixpath
import re

from asynctrack._int64 import INT64_MAX, INT64_MIN
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "MAX_ALIAS_LENGTH",
    "MAX_REGISTRY_TAG_KEY_LENGTH",
    "MAX_REGISTRY_TAG_VALUE_LENGTH",
    "check_alias",
    "check_model_name",
    "check_new_alias",
    "check_new_model_name",
    "check_registry_tag",
    "check_registry_tag_key",
    "check_version",
]

MAX_REGISTRY_TAG_KEY_LENGTH = 250
MAX_REGISTRY_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
_KEY = re.compile(r"^[/\w.\- :]*$")


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _invalid_value(path: str, value: object, rule: str) -> MlflowException:
    shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return _invalid(f"Invalid value {shown} for parameter '{path}' supplied: {rule}")


def _resolves(name: str) -> str | None:
    norm = posixpath.normpath(name)
    if norm != name or norm == "." or norm.startswith(("..", "/")):
        return (
            "Names may be treated as files in certain cases, and must not resolve to other names when "
            f"treated as such. This name would resolve to {norm!r}"
        )
    return None


def check_model_name(name: object, path: str = "name") -> str:
    """A registered model name: non-blank, without ``/`` or ``:``, not a path that resolves elsewhere."""
    if name is None or (isinstance(name, str) and name.strip() == ""):
        raise _invalid(f"Missing value for required parameter '{path}'.")
    if not isinstance(name, str):
        raise _invalid(f"Invalid model name {name!r}: expected a string.")
    if "/" in name or ":" in name:
        raise _invalid(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    rule = _resolves(name)
    if rule is not None:
        raise _invalid_value("name", name, rule)
    return name


def check_new_model_name(new_name: object) -> str:
    """The target of a rename (MLflow's message names ``new_name`` when it is missing)."""
    if new_name is None or str(new_name).strip() == "":
        raise _invalid("Missing value for required parameter 'new_name'.")
    return check_model_name(new_name)


def check_version(version: object) -> int:
    """A model version number (a decimal string or an int), as MLflow's ``int(version)``."""
    if isinstance(version, bool):
        version = str(version)
    try:
        number = int(version)  # type: ignore[call-overload]
        assert isinstance(number, int)
    except (TypeError, ValueError):
        raise _invalid(f"Parameter 'version' must be an integer, got '{version}'.") from None
    if not INT64_MIN <= number <= INT64_MAX:
        raise _invalid(f"Parameter 'version' must be a 64-bit integer, got '{version}'.")
    return number


def check_alias(alias: object) -> str:
    """An alias name: 1-255 letters, digits, ``_`` or ``-``."""
    if alias is None or alias == "":
        raise _invalid("Registered model alias name cannot be empty.")
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise _invalid(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), "
            "and dashes (-)."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise _invalid(
            f"'Registered model alias name' exceeds the maximum length of {MAX_ALIAS_LENGTH} characters"
        )
    return alias


def check_new_alias(alias: object) -> str:
    """An alias that may be set: also not ``latest`` (any case) and not a version name like ``v3``."""
    name = check_alias(alias)
    if name.lower() == "latest":
        raise _invalid("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS.match(name):
        raise _invalid(f"Version alias name '{name}' is reserved.")
    return name


def check_registry_tag_key(key: object) -> str:
    if key is None:
        raise _invalid("Missing value for required parameter 'key'.")
    if not isinstance(key, str) or not _KEY.match(key):
        raise _invalid_value(
            "key",
            key if isinstance(key, str) else str(key),
            "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), "
            "colon(:) and slashes (/).",
        )
    rule = _resolves(key)
    if rule is not None:
        raise _invalid_value("key", key, rule)
    if len(key) > MAX_REGISTRY_TAG_KEY_LENGTH:
        raise _invalid(f"'key' exceeds the maximum length of {MAX_REGISTRY_TAG_KEY_LENGTH} characters")
    return key


def check_registry_tag(key: object, value: object) -> tuple[str, str]:
    """A registered-model or model-version tag: key rules, a string value of at most 100,000 characters."""
    k = check_registry_tag_key(key)
    if value is None:
        raise _invalid("Tag value cannot be None")
    v = value if isinstance(value, str) else str(value)
    if len(v) > MAX_REGISTRY_TAG_VALUE_LENGTH:
        raise _invalid(f"'value' exceeds the maximum length of {MAX_REGISTRY_TAG_VALUE_LENGTH} characters")
    return k, v
