"""The web UI's data API routes, under ``/ajax-api/asynctrack/ui/`` (MLflow's ``/api/2.0/mlflow/`` stays
exactly MLflow's). docs/ui.md describes the contract with the page."""

from __future__ import annotations

from starlette.routing import Route

from asynctrack.server._config import ServerConfig
from asynctrack.server.ui import _api, _artifacts, _series
from asynctrack.server.ui._common import UI_API_PREFIX, Endpoint, guarded

__all__ = ["ui_api_routes"]


def ui_api_routes(config: ServerConfig) -> list[Route]:
    """The UI's data endpoints; none in ``--artifacts-only`` mode (there is no tracking store)."""
    if config.artifacts_only:
        return []
    table: list[tuple[str, str, Endpoint]] = [
        ("/experiments", "GET", _api.experiments),
        ("/runs", "POST", _api.runs),
        ("/runs", "GET", _api.runs),
        ("/keys", "GET", _api.keys),
        ("/run", "GET", _api.run),
        ("/series", "GET", _series.series),
        ("/updates", "GET", _series.updates),
        ("/artifacts/list", "GET", _artifacts.list_artifacts),
        ("/artifacts/get", "GET", _artifacts.get_artifact),
    ]
    return [Route(UI_API_PREFIX + path, guarded(fn), methods=[method]) for path, method, fn in table]
