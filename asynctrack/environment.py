"""Every environment variable asynctrack reads, declared once, typed, with its default.

MLflow's own variables keep MLflow's names and parsing (``MLFLOW_*``); asynctrack's additions are
``ASYNCTRACK_*``. Values are read when they are needed (for the pipeline: when it starts), never per call
on the hot path except ``MLFLOW_ENABLE_ASYNC_LOGGING`` for ``synchronous=None``, whose parse is cached.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = [
    "ASYNCTRACK_ARTIFACT_CONCURRENCY",
    "ASYNCTRACK_ARTIFACT_QUEUE_BYTES",
    "ASYNCTRACK_ARTIFACT_QUEUE_SIZE",
    "ASYNCTRACK_EXIT_TIMEOUT",
    "ASYNCTRACK_JOURNAL",
    "ASYNCTRACK_JOURNAL_DIR",
    "ASYNCTRACK_JOURNAL_FSYNC",
    "ASYNCTRACK_JOURNAL_FSYNC_MS",
    "ASYNCTRACK_OFFLINE",
    "ASYNCTRACK_LINGER_MS",
    "ASYNCTRACK_MAX_LINGER_MS",
    "ASYNCTRACK_NO_EXTENSIONS",
    "ASYNCTRACK_QUEUE_FULL",
    "ASYNCTRACK_QUEUE_FILE",
    "ASYNCTRACK_QUEUE_FILE_MB",
    "ASYNCTRACK_QUEUE_SIZE",
    "ASYNCTRACK_POSTGRES_ACQUIRE_TIMEOUT",
    "ASYNCTRACK_POSTGRES_POOL_SIZE",
    "ASYNCTRACK_POSTGRES_STATEMENT_CACHE_SIZE",
    "ASYNCTRACK_POSTGRES_STATEMENT_TIMEOUT",
    "ASYNCTRACK_SQLITE_BUSY_TIMEOUT",
    "CURL_CA_BUNDLE",
    "MLFLOW_ENABLE_ASYNC_LOGGING",
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD",
    "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_ACTIVE_MODEL_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER",
    "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE",
    "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE",
    "MLFLOW_RUN_ID",
    "MLFLOW_SERVER_ALLOWED_HOSTS",
    "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS",
    "MLFLOW_SYSTEM_METRICS_NODE_ID",
    "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING",
    "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRUNCATE_LONG_VALUES",
    "REQUESTS_CA_BUNDLE",
    "EnvironmentVariable",
    "parse_bool",
]

T = TypeVar("T")

_TRUE = ("true", "1")
_FALSE = ("false", "0")


def parse_bool(name: str, raw: str) -> bool:
    """Parse MLflow's boolean form: true/false/1/0, case-insensitive; anything else is an error."""
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(
        f"{name} value must be one of ['true', 'false', '1', '0'] (case-insensitive), but got {raw}"
    )


class EnvironmentVariable(Generic[T]):
    """One variable: ``VAR.get()`` returns the parsed value or the default; ``VAR.is_set()`` tells."""

    def __init__(self, name: str, parse: Callable[[str, str], T], default: T, doc: str) -> None:
        self.name = name
        self._parse = parse
        self.default = default
        self.__doc__ = doc
        self._cache: tuple[str | None, T] | None = None

    def is_set(self) -> bool:
        return self.name in os.environ

    def get_raw(self) -> str | None:
        return os.environ.get(self.name)

    def get(self) -> T:
        raw = os.environ.get(self.name)
        cache = self._cache
        if cache is not None and cache[0] == raw:
            return cache[1]
        value = self.default if raw is None else self._parse(self.name, raw)
        self._cache = (raw, value)
        return value

    def __repr__(self) -> str:
        return f"<EnvironmentVariable {self.name} default={self.default!r}>"


def _str(name: str, raw: str) -> str:
    return raw


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, but got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, but got {raw!r}")
    return value


def _non_negative_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a non-negative number, but got {raw!r}") from None
    if not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, but got {raw!r}")
    return value


def _non_negative_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a non-negative integer, but got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, but got {raw!r}")
    return value


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive number, but got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number, but got {raw!r}")
    return value


def _queue_full_policy(name: str, raw: str) -> str:
    low = raw.strip().lower()
    if low not in ("block", "raise"):
        raise ValueError(f"{name} must be 'block' or 'raise', but got {raw!r}")
    return low


MLFLOW_TRACKING_URI = EnvironmentVariable[str | None](
    "MLFLOW_TRACKING_URI",
    _str,
    None,
    "Where runs are stored; unset means the embedded SQLite store under ./mlruns.",
)
MLFLOW_ENABLE_ASYNC_LOGGING = EnvironmentVariable[bool](
    "MLFLOW_ENABLE_ASYNC_LOGGING",
    parse_bool,
    False,
    "Default for synchronous=None: true makes logging calls return RunOperations without waiting.",
)
MLFLOW_TRUNCATE_LONG_VALUES = EnvironmentVariable[bool](
    "MLFLOW_TRUNCATE_LONG_VALUES",
    parse_bool,
    True,
    "Param and tag values over MLflow's limits are truncated with a warning (true) or rejected (false).",
)
MLFLOW_EXPERIMENT_NAME = EnvironmentVariable[str | None](
    "MLFLOW_EXPERIMENT_NAME", _str, None, "Experiment used by start_run when none is set."
)
MLFLOW_EXPERIMENT_ID = EnvironmentVariable[str | None](
    "MLFLOW_EXPERIMENT_ID", _str, None, "Experiment id used by start_run when none is set."
)
MLFLOW_ACTIVE_MODEL_ID = EnvironmentVariable[str | None](
    "MLFLOW_ACTIVE_MODEL_ID",
    _str,
    None,
    "Logged model id that get_active_model_id() returns until set_active_model() is called (the legacy "
    "_MLFLOW_ACTIVE_MODEL_ID is read when this is unset).",
)
_MLFLOW_ACTIVE_MODEL_ID = EnvironmentVariable[str | None](
    "_MLFLOW_ACTIVE_MODEL_ID", _str, None, "Legacy name of MLFLOW_ACTIVE_MODEL_ID (MLflow's internal one)."
)
MLFLOW_RUN_ID = EnvironmentVariable[str | None](
    "MLFLOW_RUN_ID", _str, None, "Run resumed by start_run() when no run id is passed."
)
MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING = EnvironmentVariable[bool](
    "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING",
    parse_bool,
    False,
    "Default for start_run(log_system_metrics=None): sample CPU, memory, disk, network (and GPU) into "
    "system/* metrics of each run the fluent API starts.",
)
MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL = EnvironmentVariable[float | None](
    "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL",
    _positive_float,
    None,
    "Seconds between two system metrics samples (MLflow's default: 10).",
)
MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING = EnvironmentVariable[int | None](
    "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING",
    _positive_int,
    None,
    "How many samples are averaged into one logged system metrics step (MLflow's default: 1).",
)
MLFLOW_SYSTEM_METRICS_NODE_ID = EnvironmentVariable[str | None](
    "MLFLOW_SYSTEM_METRICS_NODE_ID",
    _str,
    None,
    "A node name put in system metric keys (system/<node>/cpu_utilization_percentage) for multi-node runs.",
)
ASYNCTRACK_QUEUE_SIZE = EnvironmentVariable[int](
    "ASYNCTRACK_QUEUE_SIZE",
    _positive_int,
    50_000,
    "Capacity of each pipeline's queue, in operations; a full queue applies ASYNCTRACK_QUEUE_FULL.",
)
ASYNCTRACK_QUEUE_FULL = EnvironmentVariable[str](
    "ASYNCTRACK_QUEUE_FULL",
    _queue_full_policy,
    "block",
    "'block' (default): a caller facing a full queue waits for room; 'raise': it gets RESOURCE_EXHAUSTED.",
)
ASYNCTRACK_LINGER_MS = EnvironmentVariable[float](
    "ASYNCTRACK_LINGER_MS",
    _non_negative_float,
    50.0,
    "How long the worker lets a batch grow once woken, in milliseconds (cut short when the queue is "
    "half full or a caller waits).",
)
ASYNCTRACK_MAX_LINGER_MS = EnvironmentVariable[float](
    "ASYNCTRACK_MAX_LINGER_MS",
    _non_negative_float,
    1000.0,
    "The longest the worker stretches its linger to, in milliseconds, when its write cycles take long (a "
    "training loop holding the GIL, a slow store), so that writing takes at most 0.3 % of the time; at "
    "or below ASYNCTRACK_LINGER_MS the linger stays fixed.",
)
ASYNCTRACK_EXIT_TIMEOUT = EnvironmentVariable[float](
    "ASYNCTRACK_EXIT_TIMEOUT",
    _non_negative_float,
    10.0,
    "Seconds the at-exit flush may take before it gives up and reports what was not written.",
)
ASYNCTRACK_SQLITE_BUSY_TIMEOUT = EnvironmentVariable[float](
    "ASYNCTRACK_SQLITE_BUSY_TIMEOUT",
    _non_negative_float,
    0.1,
    "Seconds one SQLite statement waits on another process's lock before the store backs off and retries.",
)

ASYNCTRACK_POSTGRES_POOL_SIZE = EnvironmentVariable[int](
    "ASYNCTRACK_POSTGRES_POOL_SIZE",
    _positive_int,
    10,
    "Connections one process's PostgreSQL store may hold (the URI option pool_size wins).",
)
ASYNCTRACK_POSTGRES_STATEMENT_CACHE_SIZE = EnvironmentVariable[int](
    "ASYNCTRACK_POSTGRES_STATEMENT_CACHE_SIZE",
    _non_negative_int,
    100,
    "Prepared statements asyncpg caches per PostgreSQL connection; 0 behind pgbouncer in transaction mode "
    "(the URI options statement_cache_size=0 or pgbouncer=true win).",
)
ASYNCTRACK_POSTGRES_STATEMENT_TIMEOUT = EnvironmentVariable[float](
    "ASYNCTRACK_POSTGRES_STATEMENT_TIMEOUT",
    _non_negative_float,
    60.0,
    "Seconds PostgreSQL lets one statement of the store run before cancelling it (0: no limit).",
)
ASYNCTRACK_POSTGRES_ACQUIRE_TIMEOUT = EnvironmentVariable[float](
    "ASYNCTRACK_POSTGRES_ACQUIRE_TIMEOUT",
    _non_negative_float,
    30.0,
    "Seconds a PostgreSQL store call waits for a free pooled connection before failing as unavailable.",
)


def _journal_mode(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value in ("auto", "on", "off"):
        return value
    try:
        return "on" if parse_bool(name, raw) else "off"
    except ValueError:
        raise ValueError(f"{name} must be 'auto', 'on', 'off' or a boolean, but got {raw!r}") from None


def _fsync_policy(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("batch", "interval", "never"):
        raise ValueError(f"{name} must be 'batch', 'interval' or 'never', but got {raw!r}")
    return value


ASYNCTRACK_JOURNAL = EnvironmentVariable[str](
    "ASYNCTRACK_JOURNAL",
    _journal_mode,
    "auto",
    "Write-ahead journal of logged operations: 'auto' (default) journals when the store is remote (REST), "
    "where a crash, a kill or an outage at exit would otherwise lose what is queued; 'off' never; 'on' "
    "is the same as 'auto' (the embedded SQLite store is its own journal).",
)
ASYNCTRACK_JOURNAL_DIR = EnvironmentVariable[str | None](
    "ASYNCTRACK_JOURNAL_DIR",
    _str,
    None,
    "Where journals live (one subdirectory per target); default ./mlruns/.journal, resolved at first use.",
)
ASYNCTRACK_JOURNAL_FSYNC = EnvironmentVariable[str](
    "ASYNCTRACK_JOURNAL_FSYNC",
    _fsync_policy,
    "interval",
    "When the journal is synced to disk: 'batch' (before each write is shipped: survives power loss), "
    "'interval' (default: at most every ASYNCTRACK_JOURNAL_FSYNC_MS; a process crash loses nothing, a "
    "power loss at most that interval), 'never' (the OS decides).",
)
ASYNCTRACK_JOURNAL_FSYNC_MS = EnvironmentVariable[float](
    "ASYNCTRACK_JOURNAL_FSYNC_MS",
    _positive_float,
    200.0,
    "The 'interval' fsync policy's period, in milliseconds.",
)
ASYNCTRACK_QUEUE_FILE = EnvironmentVariable[bool](
    "ASYNCTRACK_QUEUE_FILE",
    parse_bool,
    True,
    "Keep each pipeline's queue in a memory-mapped file (default: on), so that what a logging call accepted "
    "survives a kill -9 of the process and is written by the next process or `asynctrack sync`; off keeps "
    "the queue in memory only (docs/journal.md, 'The queue file').",
)
ASYNCTRACK_QUEUE_FILE_MB = EnvironmentVariable[int](
    "ASYNCTRACK_QUEUE_FILE_MB",
    _positive_int,
    16,
    "Size of each queue file's ring in MiB, rounded down to a power of two (allocated when the pipeline "
    "starts; a full ring makes callers wait, as a full queue does).",
)
ASYNCTRACK_NO_EXTENSIONS = EnvironmentVariable[bool](
    "ASYNCTRACK_NO_EXTENSIONS",
    parse_bool,
    False,
    "Use the pure-Python code even where the compiled hot path (asynctrack/pipeline/_cqueue.c: a metric "
    "call's record written into the queue file) is built; read once, when asynctrack is imported. The "
    "two write the same bytes (docs/pipeline.md, 'The compiled calls').",
)
ASYNCTRACK_OFFLINE = EnvironmentVariable[bool](
    "ASYNCTRACK_OFFLINE",
    parse_bool,
    False,
    "Log to the journal only, without contacting the tracking server; upload later with `asynctrack sync`.",
)

# -- artifacts: the upload queue (asynctrack/artifacts/_queue.py) and MLflow's proxied multipart upload
ASYNCTRACK_ARTIFACT_QUEUE_SIZE = EnvironmentVariable[int](
    "ASYNCTRACK_ARTIFACT_QUEUE_SIZE",
    _positive_int,
    1000,
    "Artifact uploads that may be queued or in flight before an artifact logging call blocks.",
)
ASYNCTRACK_ARTIFACT_QUEUE_BYTES = EnvironmentVariable[int](
    "ASYNCTRACK_ARTIFACT_QUEUE_BYTES",
    _positive_int,
    512 * 1024 * 1024,
    "Bytes of in-memory artifact payloads (text, images, figures) the queue may hold before a call blocks.",
)
ASYNCTRACK_ARTIFACT_CONCURRENCY = EnvironmentVariable[int](
    "ASYNCTRACK_ARTIFACT_CONCURRENCY",
    _positive_int,
    4,
    "Artifact uploads that run at once.",
)
MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD = EnvironmentVariable[bool](
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD",
    parse_bool,
    False,
    "Upload large files through a tracking server's multipart API (unset: ask the server, for "
    "mlflow-artifacts: URIs).",
)
MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE = EnvironmentVariable[int](
    "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE",
    _positive_int,
    500 * 1024 * 1024,
    "Files of at least this many bytes are uploaded in parts, when multipart upload is on.",
)
MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE = EnvironmentVariable[int](
    "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE",
    _positive_int,
    10 * 1024 * 1024,
    "Bytes per part of a multipart upload.",
)

# -- the REST store (http:// and https:// tracking URIs): MLflow's names, defaults and meaning. MLflow
# parses the timeout and the back-off factor as integers; a fractional value is accepted here too.
MLFLOW_HTTP_REQUEST_TIMEOUT = EnvironmentVariable[float](
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    _positive_float,
    120.0,
    "Seconds to wait for a tracking server to accept a connection, and then for each read of its answer.",
)
MLFLOW_HTTP_REQUEST_MAX_RETRIES = EnvironmentVariable[int](
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    _non_negative_int,
    7,
    "Retries of a request that failed transiently (connection error, timeout, HTTP 408, 429, 500, 502, "
    "503, 504) before it is reported as TEMPORARILY_UNAVAILABLE; at most 10, as in MLflow.",
)
MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR = EnvironmentVariable[float](
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    _non_negative_float,
    2.0,
    "Exponential back-off between retries: the first retry is immediate, the n-th waits "
    "factor * 2**(n-1) seconds plus jitter, capped at 120 s (urllib3's formula, as MLflow); at most 120.",
)
MLFLOW_HTTP_REQUEST_BACKOFF_JITTER = EnvironmentVariable[float](
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER",
    _non_negative_float,
    1.0,
    "Upper bound of the random seconds added to each back-off delay, so clients do not retry in step.",
)
MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER = EnvironmentVariable[bool](
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER",
    parse_bool,
    True,
    "Wait as long as a 429 or 503 answer's Retry-After header asks (capped at 120 s) instead of the "
    "back-off.",
)
MLFLOW_TRACKING_USERNAME = EnvironmentVariable[str | None](
    "MLFLOW_TRACKING_USERNAME",
    _str,
    None,
    "With MLFLOW_TRACKING_PASSWORD: HTTP basic authentication with the tracking server (takes precedence "
    "over MLFLOW_TRACKING_TOKEN, as in MLflow).",
)
MLFLOW_TRACKING_PASSWORD = EnvironmentVariable[str | None](
    "MLFLOW_TRACKING_PASSWORD", _str, None, "The password for HTTP basic authentication."
)
MLFLOW_TRACKING_TOKEN = EnvironmentVariable[str | None](
    "MLFLOW_TRACKING_TOKEN",
    _str,
    None,
    "Bearer token sent as 'Authorization: Bearer <token>' when no username and password are set.",
)
MLFLOW_TRACKING_INSECURE_TLS = EnvironmentVariable[bool](
    "MLFLOW_TRACKING_INSECURE_TLS",
    parse_bool,
    False,
    "Do not verify the tracking server's TLS certificate (insecure; excludes "
    "MLFLOW_TRACKING_SERVER_CERT_PATH).",
)
MLFLOW_TRACKING_SERVER_CERT_PATH = EnvironmentVariable[str | None](
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    _str,
    None,
    "CA bundle (PEM file, or a directory of hashed certificates) that the tracking server's certificate "
    "must chain to, instead of the default trust store.",
)
MLFLOW_TRACKING_CLIENT_CERT_PATH = EnvironmentVariable[str | None](
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    _str,
    None,
    "PEM file holding this client's certificate and private key, for servers that require mutual TLS.",
)
REQUESTS_CA_BUNDLE = EnvironmentVariable[str | None](
    "REQUESTS_CA_BUNDLE",
    _str,
    None,
    "The CA bundle MLflow's HTTP library (requests) trusts by default; honoured the same way when "
    "MLFLOW_TRACKING_SERVER_CERT_PATH is not set.",
)
CURL_CA_BUNDLE = EnvironmentVariable[str | None](
    "CURL_CA_BUNDLE", _str, None, "Like REQUESTS_CA_BUNDLE (which wins when both are set), as in requests."
)

# -- asynctrack server (MLflow's server variables, read as defaults of the matching options)

MLFLOW_SERVER_ALLOWED_HOSTS = EnvironmentVariable[str | None](
    "MLFLOW_SERVER_ALLOWED_HOSTS",
    _str,
    None,
    "Default of `asynctrack server --allowed-hosts` (comma-separated), as MLflow's server reads it.",
)
MLFLOW_SERVER_CORS_ALLOWED_ORIGINS = EnvironmentVariable[str | None](
    "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS",
    _str,
    None,
    "Default of `asynctrack server --cors-allowed-origins` (comma-separated), as MLflow's server reads it.",
)
