"""The tracking server's settings, and how they reach uvicorn's worker processes.

``asynctrack server`` parses its flags into one :class:`ServerConfig`. uvicorn starts each worker as a new
process that imports the app factory by name, so the settings travel in one environment variable
(``ASYNCTRACK_SERVER_CONFIG``, the config as JSON) set by the supervisor before it spawns workers.
"""

from __future__ import annotations

import os

import msgspec

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.server._hosts import HostPolicy

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_KEEP_ALIVE_TIMEOUT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_CONNECTIONS",
    "ServerConfig",
]

CONFIG_ENV_VAR = "ASYNCTRACK_SERVER_CONFIG"

#: 16 MiB. The largest legitimate MLflow request is a log-batch of 100 params (6,000 characters each),
#: 100 tags (8,000) and 800 metrics with 250-character keys: about 1.7 MB of JSON. log-inputs may carry
#: dataset schemas and profiles, hence the headroom.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

#: Seconds a client has to send a request's headers: nginx allows 60, Apache 20-40; a real client sends them
#: in one packet, so 30 s only ever closes stalled or hostile (slowloris) connections.
DEFAULT_HEADER_TIMEOUT = 30.0
#: Seconds the server waits for each further piece of a request body (nginx's client_body_timeout is 60).
DEFAULT_BODY_TIMEOUT = 60.0
#: uvicorn's default: an idle kept-alive connection is closed after 5 s.
DEFAULT_KEEP_ALIVE_TIMEOUT = 5.0
#: Connections plus requests in progress one worker holds before it answers 503 (which clients retry).
DEFAULT_MAX_CONNECTIONS = 1000


class ServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything one server process needs.

    ``backend_store_uri`` is a tracking URI as the client takes it (``None``: the client's default
    resolution, ``./mlruns``); ``max_body_bytes`` caps a request body (larger ones get 413);
    ``write_timeout`` bounds how long a write waits for a locked or unavailable store before the request
    fails with ``TEMPORARILY_UNAVAILABLE`` (503), which MLflow clients retry.

    Artifacts (``_artifacts.py``): ``serve_artifacts`` serves MLflow's proxied artifact API from
    ``artifacts_destination`` (a directory or ``file:`` URI); ``artifacts_only`` serves that API alone;
    ``default_artifact_root`` is where new experiments keep their artifacts (default: ``mlflow-artifacts:/``
    when serving artifacts, else the store's own root); ``max_artifact_size`` caps one uploaded artifact
    file in bytes (None: no cap, as MLflow).

    Security (``docs/security.md``): ``allowed_hosts`` are the ``Host`` headers answered (None: loopback
    names, IP literals and ``host``; ``*`` in the list: any), ``cors_allowed_origins`` the foreign origins
    allowed to write and to read through CORS. ``header_timeout`` bounds the time from a connection's
    start (or its previous response) until a request's headers are complete; ``body_timeout`` each wait
    for the next piece of a request body, and for the client to take the next piece of a download;
    ``keep_alive_timeout`` closes idle kept-alive connections and ``max_connections`` caps the
    connections and requests a worker holds at once (more get 503).

    Authentication (``auth/``): ``auth`` turns on users and per-experiment permissions, kept in the SQLite
    file ``auth_db`` (None: ``asynctrack-auth.db`` beside the tracking database); ``default_permission``
    is what a user may do on an experiment without a grant (MLflow's default ``READ``);
    ``admin_username`` is the first admin, created at startup from ``ASYNCTRACK_AUTH_ADMIN_PASSWORD``.
    """

    host: str = "127.0.0.1"
    port: int = 5000
    backend_store_uri: str | None = None
    workers: int = 1
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    write_timeout: float = 60.0
    serve_artifacts: bool = False
    artifacts_destination: str = "./mlartifacts"
    artifacts_only: bool = False
    default_artifact_root: str | None = None
    max_artifact_size: int | None = None
    allowed_hosts: list[str] | None = None
    cors_allowed_origins: list[str] = msgspec.field(default_factory=list)
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    auth: bool = False
    auth_db: str | None = None
    default_permission: str = "READ"
    admin_username: str = "admin"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise _invalid(f"--workers must be at least 1, got {self.workers}")
        if self.max_body_bytes < 1:
            raise _invalid(f"the body size limit must be positive, got {self.max_body_bytes}")
        if not 0 <= self.port <= 65535:
            raise _invalid(f"--port must be between 0 and 65535, got {self.port}")
        if not self.write_timeout > 0:
            raise _invalid(f"the write timeout must be positive, got {self.write_timeout}")
        if self.max_artifact_size is not None and self.max_artifact_size < 1:
            raise _invalid(f"--max-artifact-size must be positive, got {self.max_artifact_size}")
        for flag, value in (
            ("--header-timeout", self.header_timeout),
            ("--body-timeout", self.body_timeout),
            ("--keep-alive-timeout", self.keep_alive_timeout),
        ):
            if not 0 < value < float("inf"):
                raise _invalid(f"{flag} must be a positive number of seconds, got {value}")
        if self.max_connections < 1:
            raise _invalid(f"--max-connections must be at least 1, got {self.max_connections}")
        if self.allowed_hosts is not None:
            HostPolicy(self.allowed_hosts, self.host)  # a bad entry fails here, not in every worker
        if self.default_permission not in _PERMISSIONS:
            raise _invalid(
                f"--default-permission must be one of {', '.join(_PERMISSIONS)}, "
                f"got {self.default_permission!r}"
            )

    def to_env(self) -> str:
        return msgspec.json.encode(self).decode()

    @classmethod
    def from_env(cls) -> ServerConfig:
        """The config the supervisor left in ``ASYNCTRACK_SERVER_CONFIG``, or the defaults."""
        raw = os.environ.get(CONFIG_ENV_VAR)
        if not raw:
            return cls()
        try:
            return msgspec.json.decode(raw, type=cls)
        except msgspec.ValidationError as exc:
            raise _invalid(f"{CONFIG_ENV_VAR} is not a valid server configuration: {exc}") from None
        except msgspec.DecodeError as exc:
            raise _invalid(f"{CONFIG_ENV_VAR} is not JSON: {exc}") from None


_PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)
