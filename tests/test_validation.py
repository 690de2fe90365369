"""Table-driven tests of asynctrack.validation against MLflow's rules and messages.

Deliberate differences from MLflow: steps must be integral (1.0 accepted, 1.5 rejected) and +-inf is kept.
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from asynctrack import validation as v
from asynctrack.exceptions import MlflowException

BAD_CHARS = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), "
    "colon(:) and slashes (/)."
)
PATH_RULE = (
    "Names may be treated as files in certain cases, and must not resolve to other names when treated "
    "as such. This name would resolve to "
)


def _key_of(kind: str, key: object) -> str:
    if kind == "metric":
        return v.check_metric_key(key)
    if kind == "param":
        return v.check_param(key, "v")[0]
    return v.check_tag(key, "v")[0]


def _invalid(fn, *args) -> MlflowException:
    with pytest.raises(MlflowException) as ei:
        fn(*args)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    return ei.value


KINDS = ["metric", "param", "tag"]

# -- keys


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "key",
    ["a", "loss", "a/b", "a.b", "a-b", "a_b", "a b", "a:b", "Ünïcödé", "x" * 250, "a\n", "1"],
    ids=repr,
)
def test_valid_keys_accepted(kind, key):
    """Keys of MLflow's characters (Unicode \\w, '/', '.', '-', ' ', ':'), up to 250 chars, pass."""
    assert _key_of(kind, key) == key


BAD_CHAR_KEYS = ["a\tb", "a$b", "a\nb", "a*b", "a\\b", "a,b"]


@pytest.mark.parametrize("kind", ["param", "tag"])
@pytest.mark.parametrize("key", BAD_CHAR_KEYS, ids=repr)
def test_bad_characters_rejected_param_tag(kind, key):
    """Param/tag keys with other characters get MLflow's exact message naming the key."""
    e = _invalid(_key_of, kind, key)
    json_key = key.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    assert e.message == f"Invalid value \"{json_key}\" for parameter 'key' supplied: {BAD_CHARS}"


@pytest.mark.parametrize("key", BAD_CHAR_KEYS, ids=repr)
def test_bad_characters_rejected_metric(key):
    """Metric keys with other characters are rejected with MLflow's rule text, naming the key."""
    e = _invalid(v.check_metric_key, key)
    json_key = key.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    assert e.message.startswith(f'Invalid value "{json_key}" for parameter ')
    assert e.message.endswith(BAD_CHARS)


PATH_CASES = [
    ("", "."),
    (".", "."),
    ("..", ".."),
    ("../x", "../x"),
    ("a/../b", "b"),
    ("/abs", "/abs"),
    ("a//b", "a/b"),
    ("a/", "a"),
    ("./a", "a"),
    ("a/.", "a"),
    ("..foo", "..foo"),
]


@pytest.mark.parametrize("kind", ["param", "tag"])
@pytest.mark.parametrize(("key", "norm"), PATH_CASES, ids=[c[0] or "<empty>" for c in PATH_CASES])
def test_path_like_keys_rejected_param_tag(kind, key, norm):
    """Param/tag keys that normalise to another path get MLflow's exact message with the normpath."""
    e = _invalid(_key_of, kind, key)
    assert e.message == f"Invalid value \"{key}\" for parameter 'key' supplied: {PATH_RULE}'{norm}'"


@pytest.mark.parametrize(("key", "norm"), PATH_CASES, ids=[c[0] or "<empty>" for c in PATH_CASES])
def test_path_like_keys_rejected_metric(key, norm):
    """Metric keys that normalise to another path are rejected, naming the key and its normpath."""
    e = _invalid(v.check_metric_key, key)
    assert e.message.startswith(f'Invalid value "{key}" for parameter ')
    assert e.message.endswith(f"{PATH_RULE}'{norm}'")


def test_metric_key_errors_name_parameter_name():
    """Metric-key errors name MLflow's parameter 'name' (None, bad characters, path rule)."""
    assert _invalid(v.check_metric_key, None).message == (
        "Invalid value null for parameter 'name' supplied: Metric name cannot be None. "
        "A key name must be provided."
    )
    assert _invalid(v.check_metric_key, "a*b").message == (
        f"Invalid value \"a*b\" for parameter 'name' supplied: {BAD_CHARS}"
    )
    assert _invalid(v.check_metric_key, "a//b").message == (
        f"Invalid value \"a//b\" for parameter 'name' supplied: {PATH_RULE}'a/b'"
    )


def test_none_metric_key_rejected():
    """A None metric key is rejected with 'Metric name cannot be None'."""
    e = _invalid(v.check_metric_key, None)
    assert e.message.startswith("Invalid value null for parameter ")
    assert e.message.endswith("Metric name cannot be None. A key name must be provided.")


@pytest.mark.parametrize("kind", ["param", "tag"])
def test_none_param_tag_key_rejected(kind):
    """A None param/tag key is rejected with INVALID_PARAMETER_VALUE naming parameter 'key'."""
    e = _invalid(_key_of, kind, None)
    assert "'key'" in e.message


def test_none_param_tag_key_messages_match_mlflow():
    """None param/tag keys get MLflow's exact messages."""
    assert _invalid(_key_of, "param", None).message == (
        "Invalid value \"\" for parameter 'key' supplied: A key name must be provided."
    )
    assert _invalid(_key_of, "tag", None).message == "Missing value for required parameter 'key'."


@pytest.mark.parametrize("kind", KINDS)
def test_non_string_key_rejected(kind):
    """A non-string key (an int) is rejected with INVALID_PARAMETER_VALUE naming the value."""
    e = _invalid(_key_of, kind, 123)
    assert "123" in e.message


@pytest.mark.parametrize("kind", KINDS)
def test_unhashable_key_rejected(kind):
    """An unhashable key (a list) is rejected with MlflowException, not a raw TypeError."""
    e = _invalid(_key_of, kind, ["a"])
    assert '["a"]' in e.message or "['a']" in e.message


@pytest.mark.parametrize(
    ("kind", "label"), [("metric", "Metric name"), ("param", "Param key"), ("tag", "key")]
)
def test_key_length_limit(kind, label):
    """Keys of 250 characters pass; 251 are rejected with MLflow's per-entity length message."""
    assert _key_of(kind, "k" * 250) == "k" * 250
    e = _invalid(_key_of, kind, "k" * 251)
    assert e.message == f"'{label}' exceeds the maximum length of 250 characters"


def test_non_ascii_key_rendered_like_json_dumps():
    """A bad non-ASCII key appears JSON-escaped as in MLflow ("\\u00fc\\t")."""
    e = _invalid(_key_of, "param", "ü\t")
    assert e.message.startswith("Invalid value \"\\u00fc\\t\" for parameter 'key'")


# -- metric values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        (-3, -3.0),
        (1.5, 1.5),
        (True, 1.0),
        (False, 0.0),
        (np.float32(1.5), 1.5),
        (np.float64(2.25), 2.25),
        (np.int64(7), 7.0),
        (np.int8(-2), -2.0),
        (np.bool_(True), 1.0),
        (np.array(2.5), 2.5),
        ("1.5", 1.5),
        (" 2 ", 2.0),
        ("-1e3", -1000.0),
        (Decimal("0.25"), 0.25),
        (Fraction(1, 4), 0.25),
    ],
    ids=repr,
)
def test_metric_values_accepted_as_float(value, expected):
    """As MLflow's client, anything float() accepts (numbers, numpy scalars, numeric strings) is taken."""
    got, ts, step = v.check_metric("k", value, 5, 0)
    assert type(got) is float and got == expected
    assert (ts, step) == (5, 0)


def test_one_element_array_metric_value_accepted():
    """A one-element numpy array is accepted as its single value, as MLflow's client does."""
    assert v.check_metric("k", np.array([2.5]), 5, 0)[0] == 2.5


@pytest.mark.parametrize(
    ("value", "shown"),
    [("abc", '"abc"'), ("", '""'), (1j, "1j"), ([1.0], "[1.0]"), ({"a": 1}, '{"a":1}')],
    ids=repr,
)
def test_metric_values_rejected(value, shown):
    """Values float() refuses (and complex) are rejected with MLflow's message naming the value."""
    e = _invalid(v.check_metric, "k", value, 5, 0)
    assert e.message.startswith(f"Invalid value {shown} for parameter 'value' supplied: ")
    assert "(timestamp=5)" in e.message
    assert e.message.endswith("Please specify value as a valid double (64-bit floating point)")


def test_metric_value_none_rejected():
    """A None value is rejected with MLflow's 'Missing value for required parameter' message."""
    e = _invalid(v.check_metric, "k", None, 5, 0)
    assert e.message == "Missing value for required parameter 'value'."


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), "nan", "-inf", np.float32("nan")], ids=repr
)
def test_nan_and_inf_values_accepted_exactly(value):
    """NaN and +-inf are accepted and kept as such (not clamped to +-1.797e308)."""
    got = v.check_metric("k", value, 5, 0)[0]
    expected = float(value)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


# -- steps


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 0),
        (7, 7),
        (-5, -5),
        (1.0, 1),
        (np.int64(3), 3),
        (np.int32(-4), -4),
        (np.float64(4.0), 4),
        (True, 1),
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
    ],
    ids=repr,
)
def test_steps_accepted(step, expected):
    """Integral steps (ints, integral floats, numpy integers, negatives) within int64 pass as int."""
    got = v.check_metric("k", 1.0, 5, step)[2]
    assert type(got) is int and got == expected


@pytest.mark.parametrize(
    ("step", "shown"),
    [(1.5, "1.5"), ("1", '"1"'), (None, "null"), (2**63, str(2**63)), (-(2**63) - 1, str(-(2**63) - 1))],
    ids=repr,
)
def test_steps_rejected(step, shown):
    """Non-integral, non-numeric or out-of-int64 steps are rejected, naming the step and the metric."""
    e = _invalid(v.check_metric, "k", 1.0, 5, step)
    assert e.message.startswith(f"Invalid value {shown} for parameter 'step' supplied: metric 'k'")


@pytest.mark.parametrize(
    ("field", "bad", "shown"),
    [("step", float("nan"), "NaN"), ("step", float("inf"), "Infinity"), ("timestamp", float("nan"), "NaN")],
)
def test_non_finite_step_or_timestamp_named_in_message(field, bad, shown):
    """A NaN/inf step or timestamp is rejected with a message naming it as json.dumps would."""
    args = {"timestamp": 5, "step": 0, field: bad}
    e = _invalid(v.check_metric, "k", 1.0, args["timestamp"], args["step"])
    assert e.message.startswith(f"Invalid value {shown} for parameter '{field}' supplied")


# -- timestamps


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (0, 0),
        (1_700_000_000_000, 1_700_000_000_000),
        (5.0, 5),
        (np.int64(9), 9),
        (True, 1),
        (2**63 - 1, 2**63 - 1),
    ],
    ids=repr,
)
def test_timestamps_accepted(ts, expected):
    """Nonnegative integral timestamps within int64 pass as int."""
    got = v.check_metric("k", 1.0, ts, 0)[1]
    assert type(got) is int and got == expected


@pytest.mark.parametrize(("ts", "shown"), [(-1, "-1"), ("5", '"5"'), (None, "null"), (1.5, "1.5")], ids=repr)
def test_timestamps_rejected(ts, shown):
    """Negative, non-numeric or non-integral timestamps are rejected, naming the timestamp and metric."""
    e = _invalid(v.check_metric, "k", 1.0, ts, 0)
    assert e.message.startswith(f"Invalid value {shown} for parameter 'timestamp' supplied: metric 'k'")


@pytest.mark.parametrize("ts", [2**63, 2**64 + 5], ids=["2**63", "2**64+5"])
def test_timestamp_beyond_int64_rejected(ts):
    """A timestamp beyond int64 is rejected with INVALID_PARAMETER_VALUE naming it."""
    e = _invalid(v.check_metric, "k", 1.0, ts, 0)
    assert e.message.startswith(f"Invalid value {ts} for parameter 'timestamp'")


def test_check_metric_validates_key_first():
    """check_metric reports a bad key before a bad value (MLflow's check order)."""
    e = _invalid(v.check_metric, "a*b", "abc", -1, 1.5)
    assert e.message.startswith('Invalid value "a*b"')


# -- params and tags


@pytest.mark.parametrize(
    ("value", "expected"), [("x", "x"), (1, "1"), (0.5, "0.5"), (None, "None"), (True, "True")], ids=repr
)
def test_param_and_tag_values_stringified(value, expected):
    """Param and tag values are stored as str(value), as MLflow does (None becomes 'None')."""
    assert v.check_param("p", value) == ("p", expected)
    assert v.check_tag("t", value) == ("t", expected)


@pytest.mark.parametrize(
    ("check", "limit", "label"),
    [(v.check_param, 6000, "Param value"), (v.check_tag, 8000, "value")],
    ids=["param", "tag"],
)
def test_long_values_truncated_by_default(check, limit, label, monkeypatch, caplog):
    """By default (MLFLOW_TRUNCATE_LONG_VALUES unset) over-long values are truncated with a warning."""
    monkeypatch.delenv("MLFLOW_TRUNCATE_LONG_VALUES", raising=False)
    assert check("k", "y" * limit) == ("k", "y" * limit)
    with caplog.at_level(logging.WARNING, logger="asynctrack"):
        key, value = check("k", "z" * (limit + 1))
    assert key == "k" and value == "z" * limit
    assert f"{label} '" in caplog.text
    assert f"({limit + 1} characters) is truncated to {limit} characters" in caplog.text


@pytest.mark.parametrize("setting", ["false", "FALSE", "0"])
@pytest.mark.parametrize(
    ("check", "limit", "label"),
    [(v.check_param, 6000, "Param value"), (v.check_tag, 8000, "value")],
    ids=["param", "tag"],
)
def test_long_values_rejected_when_truncation_off(check, limit, label, setting, monkeypatch):
    """With MLFLOW_TRUNCATE_LONG_VALUES false, over-long values are rejected with MLflow's message."""
    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", setting)
    assert check("k", "y" * limit)[1] == "y" * limit
    e = _invalid(check, "k", "z" * (limit + 1))
    assert e.message == f"'{label}' exceeds the maximum length of {limit} characters"


def test_keys_are_never_truncated(monkeypatch):
    """Over-long keys are rejected even when values would be truncated."""
    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", "true")
    _invalid(v.check_param, "k" * 251, "v")


# -- run ids


@pytest.mark.parametrize(
    "run_id", ["a", "0123456789abcdef0123456789abcdef", "Run_1-x", "Z" * 256, "9"], ids=lambda r: r[:20]
)
def test_valid_run_ids(run_id):
    """Run ids of 1-256 word characters or dashes starting with a letter/digit pass."""
    assert v.check_run_id(run_id) == run_id


@pytest.mark.parametrize(
    ("run_id", "shown"),
    [
        ("", '""'),
        ("_a", '"_a"'),
        ("-a", '"-a"'),
        ("a b", '"a b"'),
        ("a/b", '"a/b"'),
        ("a" * 257, '"' + "a" * 257 + '"'),
        (None, "null"),
        (123, "123"),
    ],
    ids=["empty", "underscore", "dash", "space", "slash", "257", "None", "int"],
)
def test_invalid_run_ids(run_id, shown):
    """Malformed run ids are rejected with MLflow's 'Invalid value ... for parameter run_id' prefix."""
    e = _invalid(v.check_run_id, run_id)
    assert e.message.startswith(f"Invalid value {shown} for parameter 'run_id' supplied")


# -- experiment names


@pytest.mark.parametrize("name", ["x", "My exp/1 ü", "n" * 500], ids=lambda n: n[:10])
def test_valid_experiment_names(name):
    """Non-empty strings up to 500 characters are valid experiment names."""
    assert v.check_experiment_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Invalid experiment name: ''"),
        (None, "Invalid experiment name: 'None'"),
        (5, "Invalid experiment name: 5. Expects a string."),
        ("n" * 501, "'name' exceeds the maximum length of 500 characters"),
    ],
    ids=["empty", "None", "int", "501"],
)
def test_invalid_experiment_names(name, message):
    """Empty, None, non-string and over-long experiment names get MLflow's messages."""
    assert _invalid(v.check_experiment_name, name).message == message


# -- batch limits


@pytest.mark.parametrize("counts", [(0, 0, 0), (1000, 0, 0), (0, 100, 100), (800, 100, 100)], ids=str)
def test_batch_limits_accept(counts):
    """Batches within 1000 metrics, 100 params, 100 tags and 1000 entities pass."""
    assert v.check_batch_limits(*counts) is None


@pytest.mark.parametrize(
    ("counts", "limit", "what", "n"),
    [
        ((1001, 0, 0), 1000, "metrics", 1001),
        ((0, 101, 0), 100, "params", 101),
        ((0, 0, 101), 100, "tags", 101),
        ((801, 100, 100), 1000, "metrics, params, and tags", 1001),
        ((1001, 101, 101), 1000, "metrics", 1001),
        ((0, 101, 101), 100, "params", 101),
    ],
    ids=["metrics", "params", "tags", "total", "metrics-first", "params-before-tags"],
)
def test_batch_limits_reject(counts, limit, what, n):
    """Over-limit batches get MLflow's message for the first limit broken (metrics, params, tags, total)."""
    e = _invalid(v.check_batch_limits, *counts)
    assert e.message == (
        f"A batch logging request can contain at most {limit} {what}. Got {n} {what}. "
        f"Please split up {what} across multiple requests and try again."
    )


def test_constants_match_mlflow():
    """The limit constants equal MLflow's."""
    assert v.MAX_PARAMS_TAGS_PER_BATCH == 100
    assert v.MAX_METRICS_PER_BATCH == v.MAX_ENTITIES_PER_BATCH == 1000
    assert (v.MAX_ENTITY_KEY_LENGTH, v.MAX_PARAM_VAL_LENGTH, v.MAX_TAG_VAL_LENGTH) == (250, 6000, 8000)
    assert v.MAX_EXPERIMENT_NAME_LENGTH == 500
