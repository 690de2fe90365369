"""Settings every asynctrack HTTP client shares (the REST store's and the artifact client's)."""

from __future__ import annotations

import httpx

from asynctrack._version import __version__

__all__ = ["LIMITS", "USER_AGENT"]

#: Connections per server: enough for the pipeline's concurrent writes or the artifact queue's uploads,
#: plus readers on other threads; all may stay open between requests.
LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=32)

#: What servers see in their logs.
USER_AGENT = f"asynctrack/{__version__} httpx/{httpx.__version__}"
