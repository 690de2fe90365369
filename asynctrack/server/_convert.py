"""Request fields that need more than a type: int64 and enum fields, page sizes, MLflow's messages."""

from __future__ import annotations

import time

from asynctrack._rest._wire import int_from_wire, wrong_type
from asynctrack.entities import RunStatus, ViewType
from asynctrack.server._request import API_DOCS_HINT, invalid

__all__ = ["now_ms", "opt_int", "run_status", "view_type"]

# The protobuf enum ViewType: names as MLflow's JSON writes them, and their numbers.
_VIEW_TYPES = {
    "ACTIVE_ONLY": ViewType.ACTIVE_ONLY,
    "DELETED_ONLY": ViewType.DELETED_ONLY,
    "ALL": ViewType.ALL,
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def opt_int(value: int | str | None, field: str) -> int | None:
    """An optional int64 field (a JSON number or a decimal string), with MLflow's message if neither."""
    if value is None or value == "":
        return None
    try:
        return int_from_wire(value, field)
    except Exception:
        raise wrong_type(value, field) from None


def _enum(value: str | int, field: str, names: dict[str, int]) -> int:
    if isinstance(value, str):
        if value in names:
            return names[value]
        if value.strip().lstrip("-").isdigit():
            value = int(value)
    if isinstance(value, int) and value in names.values():
        return value
    raise invalid(
        f"Invalid value {value!r} for parameter '{field}' supplied: expected one of {list(names)} "
        f"(or their numbers {list(names.values())}). {API_DOCS_HINT}"
    )


def view_type(value: str | int | None, field: str) -> int:
    """A ViewType field: ``"ACTIVE_ONLY"``, ``"DELETED_ONLY"``, ``"ALL"`` or 1, 2, 3 (default active)."""
    if value is None or value == "":
        return ViewType.ACTIVE_ONLY
    return _enum(value, field, _VIEW_TYPES)


def run_status(value: str | int | None) -> str | None:
    """A RunStatus field as its name (``"FINISHED"``), from the name or the protobuf number."""
    if value is None or value == "":
        return None
    return RunStatus.to_string(_enum(value, "status", dict(RunStatus._VALUES)))
