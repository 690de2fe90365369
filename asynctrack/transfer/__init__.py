"""Moving data between stores: ``asynctrack db copy`` (see docs/cli.md#db-copy and ``_engine.py``)."""

from __future__ import annotations

from asynctrack.transfer._engine import CopyProgress, CopyReport, copy_store, plan_writes
from asynctrack.transfer._open import locate, open_source, open_target, source_name
from asynctrack.transfer._source import Source, SourceRun, StoreSource, Totals
from asynctrack.transfer._state import CopyState, default_state_path

__all__ = [
    "CopyProgress",
    "CopyReport",
    "CopyState",
    "Source",
    "SourceRun",
    "StoreSource",
    "Totals",
    "copy_store",
    "default_state_path",
    "locate",
    "open_source",
    "open_target",
    "plan_writes",
    "source_name",
]
