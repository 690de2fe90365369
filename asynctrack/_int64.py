"""The int64 range, defined once: MLflow's steps, timestamps, row ids and page offsets are 64-bit signed
integers (its protos' ``int64``, its SQL ``BIGINT``), and every check that a number fits uses these."""

from __future__ import annotations

__all__ = ["INT64_MAX", "INT64_MIN", "INT64_RANGE"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT64_RANGE = (INT64_MIN, INT64_MAX)
