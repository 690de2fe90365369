"""The REST store's parts that need no server: URI resolution, settings, back-off, batch splitting, codec."""

from __future__ import annotations

import email.utils
import json
import math
import random
import time

import msgspec
import numpy as np
import pytest

import asynctrack as mlflow
from asynctrack._http._backoff import delay_before_retry, parse_retry_after
from asynctrack._redact import redact
from asynctrack._rest._messages import MetricPointJ
from asynctrack._tracking_uri import resolve
from asynctrack.entities import Param, RunTag
from asynctrack.exceptions import MlflowException
from asynctrack.store import BatchLimits, MetricSeries
from asynctrack.store.rest import HttpConfig
from asynctrack.store.rest._codec import encode_log_batch, points_to_columns, split_batch

# -- tracking URIs


@pytest.mark.parametrize(
    ("uri", "scheme", "canonical"),
    [
        ("http://127.0.0.1:5000", "http", "http://127.0.0.1:5000"),
        ("http://127.0.0.1:5000/", "http", "http://127.0.0.1:5000"),
        ("HTTPS://Tracking.Example.COM", "https", "https://tracking.example.com"),
        ("https://host:8443/prefix/mlflow/", "https", "https://host:8443/prefix/mlflow"),
        ("http://user:Pw@Host:1", "http", "http://user:Pw@Host:1"),
    ],
)
def test_http_uris_resolve_to_remote_locations(uri, scheme, canonical):
    loc = resolve(uri)
    assert (loc.scheme, loc.uri, loc.db_path, loc.artifact_root) == (scheme, canonical, "", "")
    assert loc.is_remote
    assert not resolve("sqlite:///x.db").is_remote


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("http://", "no host"),
        ("https:///path", "no host"),
        ("http://host:5000/?token=1", "query"),
        ("http://host:5000#frag", "query or fragment"),
        ("http://host:port", "invalid port"),
    ],
)
def test_malformed_http_uris_fail_at_set_tracking_uri(uri, problem):
    with pytest.raises(MlflowException) as ei:
        mlflow.set_tracking_uri(uri)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE" and problem in ei.value.message
    assert mlflow.get_tracking_uri() != uri


def test_password_is_not_echoed_in_uri_errors():
    with pytest.raises(MlflowException) as ei:
        resolve("http://me:hunter2@host:5000/?x=1")
    assert "hunter2" not in ei.value.message and "me:***@host" in ei.value.message
    assert redact("https://me:hunter2@host:1/a") == "https://me:***@host:1/a"
    assert redact("https://host/a") == "https://host/a"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://me:hunter2@host:1/a", "https://me:***@host:1/a"),
        ("http://u:p@[::1]:5000", "http://u:***@[::1]:5000"),  # the IPv6 literal keeps its brackets
        ("http://u:p@[::1]/x?q=1", "http://u:***@[::1]/x?q=1"),
        ("http://U:p@HOST.example:80/x", "http://U:***@HOST.example:80/x"),  # the host as written
        ("http://u:p%40ss@host/", "http://u:***@host/"),  # an encoded @ in the password
        ("http://u:@host/", "http://u:***@host/"),  # an empty password is still hidden
        ("http://user@host/", "http://user@host/"),  # no password: unchanged
        ("https://host/a", "https://host/a"),
        ("http://u:p@[::1/x", "http://***@[::1/x"),  # unparseable (bad IPv6): user info hidden anyway
    ],
)
def test_redact_hides_only_the_password(url: str, expected: str) -> None:
    """redact() replaces the password and keeps everything else as written."""
    assert redact(url) == expected


def test_other_schemes_name_the_supported_ones():
    with pytest.raises(MlflowException, match=r"http:// or https://"):
        resolve("databricks://profile")
    with pytest.raises(MlflowException, match=r"http:// or https://"):
        resolve("mssql://db/x")


def test_get_tracking_uri_returns_the_uri_as_given(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000/")
    assert mlflow.get_tracking_uri() == "http://127.0.0.1:5000/"
    mlflow.set_tracking_uri("https://Example.com/base/")
    try:
        assert mlflow.get_tracking_uri() == "https://Example.com/base/"
    finally:
        mlflow.set_tracking_uri(None)


# -- settings


def test_config_defaults_are_mlflows():
    c = HttpConfig.from_env()  # the autouse fixture sets retries; defaults of the rest
    assert (c.timeout, c.respect_retry_after, c.authorization, c.insecure_tls) == (30.0, True, None, False)
    assert HttpConfig() == HttpConfig(
        timeout=120.0, max_retries=7, backoff_factor=2.0, backoff_jitter=1.0, respect_retry_after=True
    )


def test_config_limits_are_mlflows(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "11")
    with pytest.raises(MlflowException, match="in excess of the maximum allowable retries"):
        HttpConfig.from_env()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "121")
    with pytest.raises(MlflowException, match="backoff_factor"):
        HttpConfig.from_env()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "-1")
    with pytest.raises(ValueError, match="MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR must be a non-negative number"):
        HttpConfig.from_env()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "0")
    with pytest.raises(ValueError, match="MLFLOW_HTTP_REQUEST_TIMEOUT must be a positive number"):
        HttpConfig.from_env()


# -- back-off


def test_backoff_follows_urllib3_formula():
    c = HttpConfig(backoff_factor=2.0, backoff_jitter=0.0)
    assert [delay_before_retry(c, n) for n in range(1, 9)] == [0.0, 4.0, 8.0, 16.0, 32.0, 64.0, 120.0, 120.0]
    jittered = HttpConfig(backoff_factor=1.0, backoff_jitter=0.5)
    random.seed(3)
    delays = [delay_before_retry(jittered, 3) for _ in range(200)]
    assert min(delays) >= 4.0 and max(delays) <= 4.5 and len(set(delays)) > 100


def test_retry_after_wins_when_respected_and_is_capped():
    c = HttpConfig(backoff_factor=2.0, backoff_jitter=0.0)
    assert delay_before_retry(c, 3, 1.5) == 1.5
    assert delay_before_retry(c, 3, 10_000.0) == 120.0
    assert delay_before_retry(c, 3, 0.0) == 8.0  # "0" means no advice (urllib3 falls back too)
    ignoring = HttpConfig(backoff_factor=2.0, backoff_jitter=0.0, respect_retry_after=False)
    assert delay_before_retry(ignoring, 3, 1.5) == 8.0


def test_parse_retry_after_seconds_and_dates():
    assert parse_retry_after("7") == 7.0 and parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(later) <= 31
    assert parse_retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0


# -- log-batch bodies


def series(key, n, start=0):
    return MetricSeries(
        key,
        np.arange(start, start + n, dtype=np.float64),
        np.full(n, 5, np.int64),
        np.arange(start, start + n, dtype=np.int64),
    )


def test_within_limits_is_one_part():
    parts = list(
        split_batch(
            [series("a", 600), series("b", 300)], [Param("p", "1")], [RunTag("t", "x")], BatchLimits()
        )
    )
    assert len(parts) == 1


def test_over_limits_splits_in_order_within_every_limit():
    limits = BatchLimits()
    metrics = [series("a", 1800), series("b", 700)]
    params = [Param(f"p{i}", "v") for i in range(130)]
    tags = [RunTag(f"t{i}", "v") for i in range(20)]
    parts = list(split_batch(metrics, params, tags, limits))
    for m, p, t in parts:
        n = sum(len(s) for s in m)
        assert n <= 1000 and len(p) <= 100 and len(t) <= 100 and n + len(p) + len(t) <= 1000
    keys_values = [(s.key, v) for m, _, _ in parts for s in m for v in s.values.tolist()]
    assert keys_values == [("a", float(i)) for i in range(1800)] + [("b", float(i)) for i in range(700)]
    assert [p.key for _, ps, _ in parts for p in ps] == [p.key for p in params]
    assert [t.key for _, _, ts in parts for t in ts] == [t.key for t in tags]
    assert len(parts) == 3


def test_encoded_body_matches_mlflow_json_and_round_trips():
    values = np.array([1.5, math.nan, math.inf, -math.inf, 5e-324, -0.0, 1e300])
    s = MetricSeries("k", values, np.arange(7, dtype=np.int64) * 2**40, np.arange(7, dtype=np.int64) - 3)
    body = json.loads(encode_log_batch("r" * 32, [s], [], []))
    assert set(body) == {"run_id", "metrics"}
    assert [m["value"] for m in body["metrics"]][1:4] == ["NaN", "Infinity", "-Infinity"]
    points = msgspec.json.decode(json.dumps(body["metrics"]).encode(), type=list[MetricPointJ])
    v, ts, st = points_to_columns(points)
    assert np.array_equal(v, values, equal_nan=True) and math.copysign(1, v[5]) == -1
    assert ts.tolist() == (np.arange(7) * 2**40).tolist() and st.tolist() == list(range(-3, 4))


def test_history_columns_accept_int64_strings():
    """Protobuf's JSON mapping may write int64 as strings (some servers do): they are read as numbers."""
    points = [MetricPointJ("k", "1.25", "1700000000000", "3"), MetricPointJ("k", "NaN", 5, 4)]
    v, ts, st = points_to_columns(points)
    assert v[0] == 1.25 and math.isnan(v[1]) and ts.tolist() == [1700000000000, 5] and st.tolist() == [3, 4]
    with pytest.raises(ValueError):
        points_to_columns([MetricPointJ("k", "high", 0, 0)])
