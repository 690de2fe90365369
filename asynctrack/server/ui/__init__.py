"""The web UI: its data API under ``/ajax-api/asynctrack/ui/`` and the single-page app that reads it.

The app (``static/``, package data) is plain ES modules, no build step: ``static/index.html`` loads
``static/js/app.js``; uPlot is vendored under ``static/vendor/uplot/`` (refreshed with ``vendor.sh``).
``_pages.py`` serves it at ``/`` with a strict CSP; its writes go through MLflow's ``/ajax-api/2.0/mlflow/``.
"""

from __future__ import annotations

from asynctrack.server.ui._common import UI_API_PREFIX
from asynctrack.server.ui._pages import UI_HEADERS, app_version, page_routes
from asynctrack.server.ui._routes import ui_api_routes

__all__ = ["UI_API_PREFIX", "UI_HEADERS", "app_version", "page_routes", "ui_api_routes"]
