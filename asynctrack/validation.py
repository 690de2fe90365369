"""MLflow's validation rules for keys, values, ids and batch sizes, shared by clients, stores and server.

Every check raises :class:`~asynctrack.exceptions.MlflowException` with ``INVALID_PARAMETER_VALUE`` and a
message naming the bad value and the rule it broke. The metric checks sit on the logging hot path, so they
cache keys already seen valid and try the common types first.
"""

from __future__ import annotations

import json
import logging
import numbers
import posixpath
import re

from asynctrack._int64 import INT64_MAX as _INT64_MAX
from asynctrack._int64 import INT64_MIN as _INT64_MIN
from asynctrack.environment import MLFLOW_TRUNCATE_LONG_VALUES
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

_log = logging.getLogger("asynctrack")

__all__ = [
    "MAX_ENTITIES_PER_BATCH",
    "MAX_ENTITY_KEY_LENGTH",
    "MAX_EXPERIMENT_NAME_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_TAGS_PER_BATCH",
    "MAX_PARAM_VAL_LENGTH",
    "MAX_TAG_VAL_LENGTH",
    "check_batch_limits",
    "check_experiment_name",
    "check_experiment_tag",
    "check_metric",
    "check_metric_key",
    "check_param",
    "check_run_id",
    "check_tag",
    "check_tag_key",
]

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500


_VALID_KEY = re.compile(r"^[/\w.\- :]*$")
_BAD_CHARACTERS = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), "
    "spaces ( ), colon(:) and slashes (/)."
)
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")

# Keys already proven valid, per entity kind; bounded so a caller inventing keys cannot grow it forever.
_KEY_CACHE_LIMIT = 100_000
_valid_metric_keys: set[str] = set()
_valid_other_keys: set[str] = set()


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _show(value: object) -> str:
    """A value as MLflow shows it in messages: compact JSON with sorted keys, repr if not JSON."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(value)


def _invalid_value(path: str, value: object, rule: str) -> MlflowException:
    return _invalid(f"Invalid value {_show(value)} for parameter '{path}' supplied: {rule}")


def _check_key(kind: str, label: str, key: object, path: str) -> str:
    if key is None:
        # MLflow's three wordings for a missing key.
        if kind == "param":
            raise _invalid_value(path, "", "A key name must be provided.")
        if kind == "tag":
            raise _invalid(f"Missing value for required parameter '{path}'.")
        raise _invalid_value(path, key, f"{label} cannot be None. A key name must be provided.")
    if not isinstance(key, str):
        raise _invalid(
            f"Invalid {kind} name: {_show(key)} ({type(key).__name__}). "
            f"{kind.capitalize()} names must be strings."
        )
    if not _VALID_KEY.match(key):
        raise _invalid_value(path, key, _BAD_CHARACTERS)
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith(("..", "/")):
        raise _invalid_value(
            path,
            key,
            "Names may be treated as files in certain cases, and must not resolve to other names "
            f"when treated as such. This name would resolve to {norm!r}",
        )
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise _invalid(f"'{label}' exceeds the maximum length of {MAX_ENTITY_KEY_LENGTH} characters")
    return key


def check_metric_key(key: object) -> str:
    """A metric key: MLflow's name characters, no path tricks, at most 250 characters."""
    if type(key) is str and key in _valid_metric_keys:
        return key
    _check_key("metric", "Metric name", key, "name")
    if len(_valid_metric_keys) >= _KEY_CACHE_LIMIT:
        _valid_metric_keys.clear()
    _valid_metric_keys.add(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def _check_other_key(kind: str, label: str, key: object) -> str:
    if type(key) is str and key in _valid_other_keys:
        return key
    _check_key(kind, label, key, "key")
    if len(_valid_other_keys) >= _KEY_CACHE_LIMIT:
        _valid_other_keys.clear()
    _valid_other_keys.add(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def check_tag_key(key: object) -> str:
    """A tag key, checked as MLflow checks param and tag names."""
    return _check_other_key("tag", "key", key)


def metric_value(key: str, value: object, timestamp: object = None) -> float:
    """The metric value as a float.

    As MLflow's client does, anything ``float()`` accepts is taken: Python and numpy numbers, bools,
    one-element arrays and tensors, numeric strings. NaN and +-inf are kept exactly (MLflow's SQL store turns
    +-inf into +-1.797e308; asynctrack reads back what was logged).
    """
    if type(value) is float:
        return value
    if value is None:
        raise _invalid("Missing value for required parameter 'value'.")
    if not isinstance(value, complex):
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            pass
        item = getattr(value, "item", None)  # one-element numpy arrays and tensors, as MLflow's client
        if item is not None and getattr(value, "size", 1) == 1:
            try:
                return float(item())
            except (TypeError, ValueError, OverflowError):
                pass
    raise _invalid_value(
        "value",
        value,
        f"metric '{key}' (timestamp={timestamp}). "
        "Please specify value as a valid double (64-bit floating point)",
    )


def _integer(path: str, value: object, key: str, rule: str) -> int:
    if type(value) is int:
        result = value
    elif isinstance(value, numbers.Integral):
        result = int(value)
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        result = int(float(value))
    else:
        raise _invalid_value(path, value, f"metric '{key}'. {rule}")
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise _invalid_value(path, value, f"metric '{key}'. {rule}")
    return result


def metric_step(key: str, step: object) -> int:
    """The step as an int: any integral number (1 and 1.0; not 1.5, which MLflow would store as given)."""
    return _integer("step", step, key, "Step must be an integer that fits in 64 bits (int64).")


def metric_timestamp(key: str, timestamp: object) -> int:
    """The timestamp as an int of milliseconds since the epoch, nonnegative."""
    rule = "Timestamp must be a nonnegative integer of milliseconds since the epoch (int64)."
    ts = _integer("timestamp", timestamp, key, rule)
    if ts < 0:
        raise _invalid_value("timestamp", timestamp, f"metric '{key}'. {rule}")
    return ts


def check_metric(key: object, value: object, timestamp: object, step: object) -> tuple[float, int, int]:
    """Check one metric point; return ``(value, timestamp, step)`` normalised to float, int, int."""
    k = check_metric_key(key)
    v = value if type(value) is float else metric_value(k, value, timestamp)
    ts = (
        timestamp
        if type(timestamp) is int and 0 <= timestamp <= _INT64_MAX
        else metric_timestamp(k, timestamp)
    )
    st = step if type(step) is int and _INT64_MIN <= step <= _INT64_MAX else metric_step(k, step)
    return v, ts, st


def _stringify(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _limit_value(label: str, value: str, limit: int) -> str:
    """MLflow's rule for long values: truncate with a warning, or raise when truncation is turned off."""
    if len(value) <= limit:
        return value
    if not MLFLOW_TRUNCATE_LONG_VALUES.get():
        raise _invalid(f"'{label}' exceeds the maximum length of {limit} characters")
    _log.warning(
        "%s '%s...' (%d characters) is truncated to %d characters to meet the length limit.",
        label,
        value[:100],
        len(value),
        limit,
    )
    return value[:limit]


def check_param(key: object, value: object) -> tuple[str, str]:
    """A param: key rules; the value stringified (as MLflow does), at most 6000 characters."""
    k = _check_other_key("param", "Param key", key)
    return k, _limit_value("Param value", _stringify(value), MAX_PARAM_VAL_LENGTH)


def check_tag(key: object, value: object) -> tuple[str, str]:
    """A run tag: key rules; the value stringified, at most 8000 characters."""
    k = check_tag_key(key)
    return k, _limit_value("value", _stringify(value), MAX_TAG_VAL_LENGTH)


def check_run_id(run_id: object) -> str:
    """A run id: 1-256 word characters or dashes, starting with a letter or digit."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise _invalid_value("run_id", run_id, "Run IDs are 1-256 letters, digits, '_' or '-'.")
    return run_id


def check_experiment_name(name: object) -> str:
    """An experiment name: a non-empty string of at most 500 characters."""
    if not isinstance(name, str):
        if name is None:
            raise _invalid("Invalid experiment name: 'None'")
        raise _invalid(f"Invalid experiment name: {name!r}. Expects a string.")
    if name == "":
        raise _invalid("Invalid experiment name: ''")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise _invalid(f"'name' exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters")
    return name


MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000


def check_experiment_tag(key: object, value: object) -> tuple[str, str]:
    """An experiment tag: key rules, value stringified, at most 20,000 characters (MLflow's limits)."""
    k = _check_other_key("tag", "key", key)
    return k, _limit_value("value", _stringify(value), MAX_EXPERIMENT_TAG_VAL_LENGTH)


def check_batch_limits(n_metrics: int, n_params: int, n_tags: int) -> None:
    """MLflow's log_batch limits: 1000 metrics, 100 params, 100 tags, 1000 entities in all."""
    for what, n, limit in (
        ("metrics", n_metrics, MAX_METRICS_PER_BATCH),
        ("params", n_params, MAX_PARAMS_TAGS_PER_BATCH),
        ("tags", n_tags, MAX_PARAMS_TAGS_PER_BATCH),
        ("metrics, params, and tags", n_metrics + n_params + n_tags, MAX_ENTITIES_PER_BATCH),
    ):
        if n > limit:
            raise _invalid(
                f"A batch logging request can contain at most {limit} {what}. Got {n} {what}. "
                f"Please split up {what} across multiple requests and try again."
            )
