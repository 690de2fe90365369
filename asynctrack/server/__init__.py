"""The asynctrack tracking server: MLflow's REST API 2.0 over any asynctrack store.

``asynctrack server --backend-store-uri sqlite:///mlflow.db --workers 4`` serves the official ``mlflow``
client (``MLFLOW_TRACKING_URI=http://127.0.0.1:5000``) and asynctrack's REST store. Starlette routes,
msgspec decodes and encodes every body, uvicorn (uvloop, httptools) serves; log-batch requests that arrive
together are written in one transaction (group commit), each answered once its data is durable.

Programmatic use::

    from asynctrack.server import ServerConfig, create_app, serve

    serve(ServerConfig(port=5001, backend_store_uri="sqlite:///runs.db", workers=2))
    app = create_app(ServerConfig(backend_store_uri="sqlite:///runs.db"))  # any ASGI server
"""

from __future__ import annotations

from asynctrack.server._app import create_app
from asynctrack.server._config import DEFAULT_MAX_BODY_BYTES, ServerConfig
from asynctrack.server._serve import serve

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServerConfig", "create_app", "serve"]
