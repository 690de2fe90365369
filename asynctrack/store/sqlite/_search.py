"""search_runs and search_experiments for the embedded store: filters compiled to SQL (placeholder;
the implementation arrives with the search grammar)."""

from __future__ import annotations

import sqlite3

from asynctrack.entities import Experiment, Run
from asynctrack.exceptions import MlflowException

__all__ = ["search_experiments", "search_runs"]


def search_runs(
    conn: sqlite3.Connection,
    experiment_ids: list[str],
    filter_string: str,
    run_view_type: int,
    max_results: int,
    order_by: list[str],
    page_token: str | None,
) -> tuple[list[Run], str | None]:
    raise MlflowException("search_runs is not implemented yet", error_code="NOT_IMPLEMENTED")


def search_experiments(
    conn: sqlite3.Connection,
    view_type: int,
    max_results: int,
    filter_string: str,
    order_by: list[str],
    page_token: str | None,
) -> tuple[list[Experiment], str | None]:
    raise MlflowException("search_experiments is not implemented yet", error_code="NOT_IMPLEMENTED")
