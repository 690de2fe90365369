"""The optional compiled extensions, for the tests that hold them to their Python reference: the module
where it was built, else None (those tests then skip), except in CI (``ASYNCTRACK_TEST_REQUIRE_EXTENSIONS=1``,
set by .ci/run), where a missing extension fails the run at import."""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def built(name: str) -> ModuleType | None:
    """The extension module ``name``, or None where it is not built here (no compiler at install time)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("ASYNCTRACK_TEST_REQUIRE_EXTENSIONS"):
            raise RuntimeError(f"{name} is not built, and this run requires it (CI)") from None
        return None
