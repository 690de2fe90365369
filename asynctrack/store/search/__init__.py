"""MLflow's search grammar, independent of any database: filter and ``order_by`` parsing into a small
typed AST, keyset page tokens, and the ``max_results`` limits. Each backend compiles the AST to its own
query language (``asynctrack/store/sqlite/_search.py`` for the embedded store).

- :func:`parse_run_filter` / :func:`parse_experiment_filter`: filter string -> ``tuple[Comparison, ...]``
- :func:`parse_run_order_by` / :func:`parse_experiment_order_by`: ``order_by`` -> ``tuple[SortKey, ...]``,
  MLflow's tie-breakers included, so the order is total
- :func:`encode_page_token` / :func:`decode_page_token`: opaque keyset tokens
- :func:`validate_max_results`, :data:`SEARCH_MAX_RESULTS_DEFAULT`, :data:`SEARCH_MAX_RESULTS_THRESHOLD`

Every malformed input raises :class:`~asynctrack.exceptions.MlflowException` with
``INVALID_PARAMETER_VALUE``.
"""

from __future__ import annotations

from asynctrack.store.search._ast import Comparison, Entity, Op, SortKey, Value
from asynctrack.store.search._filter import parse_experiment_filter, parse_run_filter
from asynctrack.store.search._order import parse_experiment_order_by, parse_run_order_by
from asynctrack.store.search._token import (
    SEARCH_MAX_RESULTS_DEFAULT,
    SEARCH_MAX_RESULTS_THRESHOLD,
    TokenValue,
    decode_page_token,
    encode_page_token,
    validate_max_results,
)

__all__ = [
    "SEARCH_MAX_RESULTS_DEFAULT",
    "SEARCH_MAX_RESULTS_THRESHOLD",
    "Comparison",
    "Entity",
    "Op",
    "SortKey",
    "TokenValue",
    "Value",
    "decode_page_token",
    "encode_page_token",
    "parse_experiment_filter",
    "parse_experiment_order_by",
    "parse_run_filter",
    "parse_run_order_by",
    "validate_max_results",
]
