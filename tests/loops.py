"""The event loop async tests run on, and the blocking-call detector every test runs under.

``PRODUCTION_LOOP`` is what asynctrack's background loop runs (``pipeline/_loop.py``): asyncio on uvloop; in
debug mode, so a coroutine never awaited, a non-thread-safe call from another thread and a slow callback are
reported. Modules whose stores are asyncio-bound return it from their ``anyio_backend`` fixture; tests that
also run on trio or plain asyncio say so with their own parameters.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRODUCTION_LOOP"]

PRODUCTION_LOOP: tuple[str, dict[str, Any]] = ("asyncio", {"use_uvloop": True, "debug": True})
