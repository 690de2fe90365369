"""Importing an optional training library with an error that says which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str, what: str) -> ModuleType:
    """``import module``, or an ImportError naming the ``asynctrack[extra]`` that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{what} needs the {module.split('.')[0]!r} package, which is not installed: "
            f"pip install 'asynctrack[{extra}]' ({exc})"
        ) from exc
