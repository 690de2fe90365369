"""asynctrack's version, read from the installed package's metadata (pyproject.toml is the one place it
is written)."""

from __future__ import annotations

import importlib.metadata

__all__ = ["__version__"]

try:
    __version__ = importlib.metadata.version("asynctrack")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout, not installed
    __version__ = "0+unknown"
