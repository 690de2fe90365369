"""How the REST store talks HTTP: timeouts, retries, authentication and TLS, read once from MLflow's
environment variables when a store opens.

Usage forms::

    HttpConfig.from_env()                        # MLflow's variables, MLflow's defaults
    HttpConfig(max_retries=0, timeout=5.0)       # explicit (tests, embedding)
    config.ssl_context()                         # the TLS settings as one ssl.SSLContext
"""

from __future__ import annotations

import base64
import os
import ssl

import httpx
import msgspec

from asynctrack import environment as env
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["MAX_BACKOFF", "HttpConfig"]

# MLflow's (internal) ceilings on the retry settings, and urllib3's cap on one back-off delay.
_MAX_RETRIES_LIMIT = 10
_MAX_BACKOFF_FACTOR_LIMIT = 120.0
MAX_BACKOFF = 120.0


class HttpConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the store's HTTP client needs to know; the defaults are MLflow's.

    ``authorization`` is the ready ``Authorization`` header value (basic wins over bearer, as in
    MLflow's ``http_request``); ``server_cert_path`` names a CA bundle file or directory.
    """

    timeout: float = 120.0
    max_retries: int = 7
    backoff_factor: float = 2.0
    backoff_jitter: float = 1.0
    respect_retry_after: bool = True
    authorization: str | None = None
    insecure_tls: bool = False
    server_cert_path: str | None = None
    client_cert_path: str | None = None

    def __post_init__(self) -> None:
        if self.max_retries > _MAX_RETRIES_LIMIT:
            raise MlflowException(
                f"The configured max_retries value ({self.max_retries}) is in excess of the maximum "
                f"allowable retries ({_MAX_RETRIES_LIMIT})",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if self.backoff_factor > _MAX_BACKOFF_FACTOR_LIMIT:
            raise MlflowException(
                f"The configured backoff_factor value ({self.backoff_factor:g}) is in excess of the "
                f"maximum allowable backoff_factor limit ({_MAX_BACKOFF_FACTOR_LIMIT:g})",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if self.insecure_tls and self.server_cert_path is not None:
            raise MlflowException(
                "When 'ignore_tls_verification' is true then 'server_cert_path' must not be set! This "
                "error may have occurred because the 'MLFLOW_TRACKING_INSECURE_TLS' and "
                "'MLFLOW_TRACKING_SERVER_CERT_PATH' environment variables are both set - only one of "
                "these environment variables may be set.",
                error_code=INVALID_PARAMETER_VALUE,
            )

    @classmethod
    def from_env(cls) -> HttpConfig:
        """The settings MLflow's client would use in this environment."""
        username, password = env.MLFLOW_TRACKING_USERNAME.get(), env.MLFLOW_TRACKING_PASSWORD.get()
        token = env.MLFLOW_TRACKING_TOKEN.get()
        authorization = None
        if username and password:
            pair = base64.standard_b64encode(f"{username}:{password}".encode()).decode("ascii")
            authorization = f"Basic {pair}"
        elif token:
            authorization = f"Bearer {token}"
        return cls(
            timeout=env.MLFLOW_HTTP_REQUEST_TIMEOUT.get(),
            max_retries=env.MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(),
            backoff_factor=env.MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get(),
            backoff_jitter=env.MLFLOW_HTTP_REQUEST_BACKOFF_JITTER.get(),
            respect_retry_after=env.MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER.get(),
            authorization=authorization,
            insecure_tls=env.MLFLOW_TRACKING_INSECURE_TLS.get(),
            server_cert_path=env.MLFLOW_TRACKING_SERVER_CERT_PATH.get(),
            client_cert_path=env.MLFLOW_TRACKING_CLIENT_CERT_PATH.get(),
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for https:// servers.

        Trust, in order: ``server_cert_path``; else requests' ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``
        (MLflow users set these); else httpx's default (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, certifi).
        """
        try:
            if self.insecure_tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            else:
                bundle = self.server_cert_path or env.REQUESTS_CA_BUNDLE.get() or env.CURL_CA_BUNDLE.get()
                if bundle is None:
                    # httpx's own default (SSL_CERT_FILE / SSL_CERT_DIR, else certifi's bundle), built
                    # here so that a client certificate can be added to the same context.
                    ctx = httpx.create_ssl_context()
                elif os.path.isdir(bundle):
                    ctx = ssl.create_default_context(capath=bundle)
                else:
                    ctx = ssl.create_default_context(cafile=bundle)
            if self.client_cert_path is not None:
                ctx.load_cert_chain(self.client_cert_path)
        except (OSError, ssl.SSLError) as exc:
            raise MlflowException(
                f"Could not load the TLS certificates for the tracking server (server CA: "
                f"{self.server_cert_path!r}, client certificate: {self.client_cert_path!r}): {exc}",
                error_code=INVALID_PARAMETER_VALUE,
            ) from exc
        return ctx
