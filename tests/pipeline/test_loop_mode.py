"""The suite runs the library's background loop as production does (uvloop where it is installed) and in
asyncio's debug mode (tests/conftest.py), so thread-safety slips and slow callbacks are reported."""

from __future__ import annotations

import asyncio
import importlib.util
import os

from asynctrack.pipeline import _registry


async def _loop_state() -> tuple[bool, str]:
    loop = asyncio.get_running_loop()
    return loop.get_debug(), type(loop).__module__


def test_the_background_loop_is_uvloop_in_debug_mode() -> None:
    debug, module = _registry.background_loop().call(_loop_state)
    assert os.environ.get("PYTHONASYNCIODEBUG")  # set by tests/conftest.py unless the shell set it
    assert debug is True
    if importlib.util.find_spec("uvloop") is not None:
        assert module.startswith("uvloop")
