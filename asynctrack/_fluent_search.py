"""Fluent ``search_runs`` and ``search_experiments``: every page gathered, runs as a pandas DataFrame
shaped like MLflow's (or as a list of Run)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asynctrack._runs_frame import runs_to_dataframe
from asynctrack.client import MlflowClient
from asynctrack.entities import Experiment, Run, ViewType
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.fluent import _active_experiment_for_search
from asynctrack.store._paged import collect_pages

__all__ = ["search_experiments", "search_runs"]

SEARCH_MAX_RESULTS_PANDAS = 100_000


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    """Every experiment matching the filter (or at most ``max_results``)."""
    client = MlflowClient()
    return collect_pages(
        lambda n, token: client.search_experiments(view_type, n, filter_string, order_by, token), max_results
    )


def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = SEARCH_MAX_RESULTS_PANDAS,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Runs matching MLflow's filter grammar, as a pandas DataFrame (``output_format="pandas"``,
    needs the ``pandas`` extra) or a list of :class:`Run` (``"list"``).

    With neither ids nor names, searches the active experiment (or every active experiment with
    ``search_all_experiments=True``).
    """
    if output_format not in ("pandas", "list"):
        raise ValueError(
            f"Unsupported output format: {output_format}. Supported string values are 'pandas' or 'list'"
        )
    client = MlflowClient()
    if experiment_ids and experiment_names:
        raise MlflowException(
            "Only experiment_ids or experiment_names can be used, but not both",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if experiment_names:
        ids = [e.experiment_id for n in experiment_names if (e := client.get_experiment_by_name(n))]
    elif experiment_ids:
        ids = [str(e) for e in experiment_ids]
    elif search_all_experiments:
        ids = [e.experiment_id for e in search_experiments(ViewType.ACTIVE_ONLY)]
    else:
        ids = [_active_experiment_for_search()]
    runs: list[Run] = []
    if ids:
        runs = collect_pages(
            lambda n, token: client.search_runs(ids, filter_string, run_view_type, n, order_by, token),
            max_results,
        )
    return runs if output_format == "list" else runs_to_dataframe(runs)
