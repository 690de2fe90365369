"""The messages of MLflow's ``experiments/search-datasets`` (a UI endpoint, ``/ajax-api/2.0/mlflow`` only),
shared by the server and the REST store."""

from __future__ import annotations

import msgspec

__all__ = ["DatasetSummaryJ", "SearchDatasets", "SearchDatasetsResponse"]


class SearchDatasets(msgspec.Struct, omit_defaults=True):
    experiment_ids: list[str] | None = None


class DatasetSummaryJ(msgspec.Struct, omit_defaults=True):
    experiment_id: str
    name: str
    digest: str
    context: str | None = None


class SearchDatasetsResponse(msgspec.Struct, omit_defaults=True):
    dataset_summaries: list[DatasetSummaryJ] | None = None
