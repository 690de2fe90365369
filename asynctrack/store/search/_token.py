"""Page tokens for keyset pagination, and MLflow's limits on ``max_results``.

Why keyset, not offsets: MLflow's tokens hold an offset into the result list. When runs are created while a
caller pages (a training sweep logging as it goes), every new run that sorts before the current page shifts
the rest down, so the next page repeats runs and, with deletions, skips some. A keyset token instead holds
the *sort key of the last row returned* (every component of the full sort, tie-breakers included, so it
identifies one position in a total order); the next page is "rows strictly after that key". Rows inserted
anywhere cannot move that position, so each row that existed when paging started is returned exactly once
(rows inserted after the cursor may appear, rows inserted before it do not).

Format: URL-safe base64 of the JSON object ``{"v": 1, "s": <scope>, "k": [<values>]}``, where ``scope``
is a digest of the search that issued the token (experiments, filter, view type, order): a token is only
valid for the search it came from, and using it elsewhere is an INVALID_PARAMETER_VALUE error rather than a
silently wrong page. Callers must treat tokens as opaque; the format may change with ``v``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Sequence

from asynctrack._int64 import INT64_RANGE as _INT64
from asynctrack.store.search._lexer import invalid

__all__ = [
    "SEARCH_MAX_RESULTS_DEFAULT",
    "SEARCH_MAX_RESULTS_THRESHOLD",
    "TokenValue",
    "decode_page_token",
    "encode_page_token",
    "validate_max_results",
]

#: MLflow's default page size for search_runs (MlflowClient.search_runs' ``max_results``).
SEARCH_MAX_RESULTS_DEFAULT = 1000
#: The largest page MLflow's stores accept.
SEARCH_MAX_RESULTS_THRESHOLD = 50000

TokenValue = int | float | str | None

_VERSION = 1


def validate_max_results(max_results: int | None, *, allow_none: bool) -> None:
    """MLflow's check: a positive integer no larger than 50,000 (None only where MLflow allows it)."""
    if max_results is None and allow_none:
        return
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        )
    if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at most "
            f"{SEARCH_MAX_RESULTS_THRESHOLD}"
        )


def _scope_digest(scope: str) -> str:
    return hashlib.sha256(scope.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def encode_page_token(scope: str, values: Sequence[TokenValue]) -> str:
    """The token of the page that starts after the row whose sort key is ``values``."""
    body = json.dumps({"v": _VERSION, "s": _scope_digest(scope), "k": list(values)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode("utf-8")).decode("ascii").rstrip("=")


def _valid_value(value: object) -> bool:
    """A JSON value we could have written: bound as a query parameter, it cannot fail or overflow."""
    if value is None:
        return True
    if isinstance(value, str):
        return _encodable(value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return _INT64[0] <= value <= _INT64[1]
    if isinstance(value, float):
        return not math.isnan(value)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_page_token(token: str | None, scope: str, arity: int) -> tuple[TokenValue, ...] | None:
    """The sort key a token resumes after (None for no token, i.e. the first page).

    Raises INVALID_PARAMETER_VALUE if the token is not one of ours, was tampered with, or was issued by a
    different search (``scope``) or for a sort of a different length (``arity``).
    """
    if not token:
        return None
    if isinstance(token, bytes):  # MLflow's own tokens are bytes; accept them as text
        token = token.decode("ascii", "replace")
    if not isinstance(token, str):
        raise invalid(f"Invalid page token, expected a string, got {type(token).__name__}")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise invalid("Invalid page token, could not base64-decode") from None
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise invalid(f"Invalid page token, decoded value={raw!r}") from None
    if (
        not isinstance(parsed, dict)
        or parsed.get("v") != _VERSION
        or not isinstance(parsed.get("k"), list)
        or not isinstance(parsed.get("s"), str)
    ):
        raise invalid(f"Invalid page token, parsed value={parsed!r}")
    if parsed["s"] != _scope_digest(scope):
        raise invalid(
            "Invalid page token: it was issued by a different search (the experiment ids, filter, view type "
            "and order_by of every page must be those of the first page)"
        )
    values = parsed["k"]
    if len(values) != arity or not all(_valid_value(v) for v in values):
        raise invalid(f"Invalid page token, parsed value={parsed!r}")
    return tuple(values)
