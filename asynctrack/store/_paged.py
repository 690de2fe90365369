"""PagedList: one page of search results and the token of the next, as MLflow returns them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

__all__ = ["PagedList"]

T = TypeVar("T")


class PagedList(list[T]):
    """A list of results with ``token``, the page token of the next page (None on the last page)."""

    def __init__(self, items: Iterable[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token
