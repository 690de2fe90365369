"""PagedList: one page of search results and the token of the next, as MLflow returns them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["PagedList", "collect_pages"]

T = TypeVar("T")


class PagedList(list[T]):
    """A list of results with ``token``, the page token of the next page (None on the last page)."""

    def __init__(self, items: Iterable[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token


def collect_pages(
    fetch: Callable[[int, str | None], PagedList[T]], max_results: int | None, page_size: int = 1000
) -> list[T]:
    """Call ``fetch(n, token)`` page after page until the last page or ``max_results`` items."""
    out: list[T] = []
    token: str | None = None
    while max_results is None or len(out) < max_results:
        want = page_size if max_results is None else min(page_size, max_results - len(out))
        page = fetch(want, token)
        out.extend(page)
        token = page.token
        if not token:
            break
    return out
