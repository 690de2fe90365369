"""Types of the compiled chunk pass (``_cchunks.c``)."""

from typing import Any

def chunk_parts(steps: Any, values: Any, timestamps: Any, /) -> tuple[Any, ...] | None: ...
