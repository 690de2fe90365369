"""The optional compiled extensions, loaded the one way: each is used only where it was built (a C
compiler at install time) and ``ASYNCTRACK_NO_EXTENSIONS`` is not set; its Python code stays the
reference and the fallback (``pipeline/_cqueue.c``, ``store/sqlite/_cchunks.c``)."""

from __future__ import annotations

import importlib
from types import ModuleType

from asynctrack.environment import ASYNCTRACK_NO_EXTENSIONS

__all__ = ["load"]


def load(name: str) -> ModuleType | None:
    """The extension module ``name``, or None where it is not to be used (not built, switched off, or
    saying ``AVAILABLE = 0``: it cannot work in this interpreter)."""
    if ASYNCTRACK_NO_EXTENSIONS.get():
        return None
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    return module if getattr(module, "AVAILABLE", 1) else None
