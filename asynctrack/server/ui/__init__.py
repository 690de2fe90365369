"""The web UI's server side: its data API under ``/ajax-api/asynctrack/ui/``."""

from __future__ import annotations

from asynctrack.server.ui._common import UI_API_PREFIX
from asynctrack.server.ui._routes import ui_api_routes

__all__ = ["UI_API_PREFIX", "ui_api_routes"]
