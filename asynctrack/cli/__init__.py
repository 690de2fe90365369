"""The ``asynctrack`` command."""

from __future__ import annotations

from asynctrack.cli._main import main

__all__ = ["main"]
