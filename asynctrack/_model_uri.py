"""``models:/`` URIs as MLflow reads them: ``models:/<name>/<version>``, ``models:/<name>/<stage>``,
``models:/<name>/latest``, ``models:/<name>@<alias>`` and ``models:/<model_id>`` (a logged model)."""

from __future__ import annotations

import urllib.parse
from typing import NamedTuple

from asynctrack.exceptions import MlflowException

__all__ = ["ParsedModelUri", "is_models_uri", "parse_model_uri", "split_models_uri"]


class ParsedModelUri(NamedTuple):
    """Exactly one of: ``model_id``; ``name`` with ``version``, ``stage``, ``alias`` or none (latest)."""

    model_id: str | None = None
    name: str | None = None
    version: str | None = None
    stage: str | None = None
    alias: str | None = None


def is_models_uri(uri: str) -> bool:
    return urllib.parse.urlparse(uri).scheme == "models"


def _improper(uri: str) -> MlflowException:
    return MlflowException(
        f"Not a proper models:/ URI: {uri}. Models URIs must be of the form 'models:/name/suffix' or "
        "'models:/name@alias' where suffix is a version, stage, or the string 'latest' and where alias is "
        "a registered model alias. Only one of suffix or alias can be defined at a time."
    )


def parse_model_uri(uri: str) -> ParsedModelUri:
    """The parts of a ``models:/`` URI, or MLflow's "Not a proper models:/ URI" error."""
    parsed = urllib.parse.urlparse(uri, allow_fragments=False)
    if parsed.scheme != "models":
        raise _improper(uri)
    path = parsed.path
    if not path.startswith("/") or len(path) <= 1:
        raise _improper(uri)
    parts = path.lstrip("/").split("/")
    if len(parts) > 2 or parts[0].strip() == "":
        raise _improper(uri)
    if len(parts) == 2:
        name, suffix = parts
        if suffix.strip() == "":
            raise _improper(uri)
        if suffix.isdigit():
            return ParsedModelUri(name=name, version=suffix)
        if suffix.lower() == "latest":
            return ParsedModelUri(name=name)
        return ParsedModelUri(name=name, stage=suffix)
    if "@" in path:
        name, _, alias = parts[0].rpartition("@")
        if not name or alias.strip() == "":
            raise _improper(uri)
        return ParsedModelUri(name=name, alias=alias)
    return ParsedModelUri(model_id=parts[0])


def split_models_uri(uri: str) -> tuple[str, str]:
    """``models:/<name>/<suffix>/<path>`` or ``models:/<name>@<alias>/<path>`` split into the model's URI
    and the path inside its files (``""`` for none), as MLflow's ``ModelsArtifactRepository`` splits it."""
    parsed = urllib.parse.urlparse(uri.rstrip("/"), allow_fragments=False)
    path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
    if "@" in path:
        slash = path.find("/", path.index("@"))
        if slash == -1:
            return f"models:/{path}", ""
        return f"models:/{path[:slash]}", path[slash + 1 :]
    parts = path.split("/", 2)
    if len(parts) <= 2:
        return f"models:/{path}", ""
    return f"models:/{parts[0]}/{parts[1]}", parts[2]
