"""The asynchronous logging pipeline: encode, bounded queue, batching worker, store."""

from __future__ import annotations

from asynctrack.pipeline._operations import RunOperations
from asynctrack.pipeline._queue import COMPILED, QueueStatistics
from asynctrack.pipeline._registry import close_pipelines, flush_all, get_pipeline, shutdown_all

__all__ = [
    "COMPILED",
    "QueueStatistics",
    "RunOperations",
    "close_pipelines",
    "flush_all",
    "get_pipeline",
    "shutdown_all",
]
