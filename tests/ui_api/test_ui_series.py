"""The charts' endpoints against a real server: series (exact buckets, columnar, NaN/inf as null with
their counts) and updates (only the points written after the cursor)."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest
from ui_helpers import api, log, new_experiment, new_run, ui, ui_fails

from asynctrack.server.ui._series import decode_cursors, encode_cursor

START = 1_700_000_000_000


def _log_points(
    client: httpx.Client, run_id: str, steps: range, values: list[float], key: str = "loss"
) -> None:
    metrics = []
    for step, value in zip(steps, values, strict=True):
        wire: float | str = value
        if math.isnan(value):
            wire = "NaN"
        elif math.isinf(value):
            wire = "Infinity" if value > 0 else "-Infinity"
        metrics.append({"key": key, "value": wire, "timestamp": START + 10 * step, "step": step})
    for at in range(0, len(metrics), 1000):
        log(client, run_id, metrics=metrics[at : at + 1000])


def _seeded(client: httpx.Client, n: int = 3000) -> tuple[str, list[float]]:
    run_id = new_run(client, new_experiment(client), start_time=START)
    values = np.random.default_rng(3).normal(size=n).tolist()
    values[1234] = 1e6
    values[10] = math.nan
    values[11] = math.inf
    _log_points(client, run_id, range(n), values)
    return run_id, values


def test_series_buckets_are_exact_and_columnar(client: httpx.Client) -> None:
    run_id, values = _seeded(client)
    got = ui(client, "/series", run_ids=run_id, key="loss", buckets=100)
    assert got["key"] == "loss" and got["x"] == "step"
    (s,) = got["series"]
    assert s["run_id"] == run_id and s["count"] == 3000 and s["raw"] is False
    assert len(s["x"]) <= 100 and sum(s["counts"]) == 3000
    assert all(len(s[f]) == len(s["x"]) for f in ("min", "max", "last", "counts"))
    assert max(v for v in s["max"] if v is not None) == 1e6  # the spike survives
    assert (s["x_first"], s["x_last"]) == (0, 2999)
    assert s["x"][-1] == 2999
    # NaN and +inf: null in the arrays, counted in nonfinite
    nonfinite = s["nonfinite"]
    assert sum(nonfinite["nan"]) == 1 and sum(nonfinite["pos_inf"]) == 1 and sum(nonfinite["neg_inf"]) == 0
    first = s["counts"][0]
    assert s["max"][0] is None  # the first bucket holds the +inf point
    finite_first = [v for v in values[:first] if math.isfinite(v)]
    assert s["min"][0] == min(finite_first)
    assert isinstance(s["cursor"], str) and s["cursor"]


def test_series_zoom_relative_time_and_raw(client: httpx.Client) -> None:
    run_id, values = _seeded(client)
    got = ui(
        client, "/series", run_ids=run_id, key="loss", x="relative", start=12_300, end=12_400, buckets=50
    )
    (s,) = got["series"]
    assert s["raw"] is True and s["count"] == 11  # steps 1230..1240, ten ms apart
    assert s["x"] == list(range(12_300, 12_401, 10))
    assert s["min"] == s["max"] == s["last"] == values[1230:1241]
    assert s["counts"] is None and s["nonfinite"] is None
    wall = ui(client, "/series", run_ids=run_id, key="loss", x="wall", buckets=5000)["series"][0]
    assert wall["raw"] is True and wall["x_first"] == START and len(wall["x"]) == 3000
    assert wall["last"][10] is None and wall["last"][11] is None  # NaN, +inf


def test_series_several_runs_and_a_missing_key(client: httpx.Client) -> None:
    eid = new_experiment(client)
    a, b = new_run(client, eid), new_run(client, eid)
    _log_points(client, a, range(10), [float(i) for i in range(10)])
    got = ui(client, "/series", run_ids=f"{a},{b}", key="loss")["series"]
    assert [s["run_id"] for s in got] == [a, b]
    assert got[0]["count"] == 10 and got[0]["last"] == [float(i) for i in range(10)]
    assert got[1]["count"] == 0 and got[1]["x"] == [] and got[1]["x_first"] is None


def test_series_errors(client: httpx.Client) -> None:
    run_id = new_run(client, new_experiment(client))
    for params, needle in [
        ({"key": "loss"}, "run_ids"),
        ({"run_ids": run_id}, "key"),
        ({"run_ids": run_id, "key": "loss", "x": "epoch"}, "'epoch'"),
        ({"run_ids": run_id, "key": "loss", "buckets": "0"}, "buckets"),
        ({"run_ids": run_id, "key": "loss", "buckets": "many"}, "'many'"),
        ({"run_ids": run_id, "key": "loss", "start": "5", "end": "1"}, "start"),
        ({"run_ids": run_id, "key": "loss", "start": "nan"}, "'nan'"),
        ({"run_ids": "../../etc", "key": "loss"}, "run_id"),
    ]:
        status, err = ui_fails(client, "/series", **params)
        assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE", params
        assert needle in err["message"], (params, err)
    status, err = ui_fails(client, "/series", run_ids="f" * 32, key="loss")
    assert status == 404 and err["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # more buckets than allowed are capped, not refused
    _log_points(client, run_id, range(6000), [1.0] * 6000)
    capped = ui(client, "/series", run_ids=run_id, key="loss", buckets=10**6)["series"][0]
    assert 0 < len(capped["x"]) <= 5000 and capped["raw"] is False


def test_updates_send_only_new_points(client: httpx.Client) -> None:
    eid = new_experiment(client)
    a, b = new_run(client, eid, start_time=START), new_run(client, eid, start_time=START)
    _log_points(client, a, range(100), [float(i) for i in range(100)])
    cursors = [s["cursor"] for s in ui(client, "/series", run_ids=f"{a},{b}", key="loss")["series"]]
    idle = ui(client, "/updates", run_ids=f"{a},{b}", keys="loss", cursor=",".join(cursors))
    assert idle["series"] == []
    assert [r["status"] for r in idle["runs"]] == ["RUNNING", "RUNNING"]
    assert idle["runs"][0]["metrics"] == {"loss": 99.0} and idle["runs"][1]["metrics"] == {}

    _log_points(client, a, range(100, 103), [100.0, math.nan, 102.0])
    _log_points(client, b, range(5), [7.0] * 5)
    first = ui(client, "/updates", run_ids=f"{a},{b}", keys="loss", x="relative", cursor=idle["cursor"])
    by_run = {s["run_id"]: s for s in first["series"]}
    assert by_run[a]["x"] == [1000, 1010, 1020]  # relative ms of steps 100..102 only
    assert by_run[a]["last"] == [100.0, None, 102.0] and by_run[a]["raw"] is True
    assert by_run[a]["nonfinite"]["nan"] == [0, 1, 0]
    assert by_run[b]["last"] == [7.0] * 5 and by_run[b]["reset"] is False

    again = ui(client, "/updates", run_ids=f"{a},{b}", keys="loss", cursor=first["cursor"])
    assert again["series"] == []  # nothing new since
    api(client, "/runs/update", {"run_id": a, "status": "FINISHED", "end_time": START + 5})
    done = ui(client, "/updates", run_ids=a, keys="loss", cursor=first["cursor"])
    assert done["runs"][0]["status"] == "FINISHED" and done["runs"][0]["end_time"] == START + 5


def test_updates_errors(client: httpx.Client) -> None:
    run_id = new_run(client, new_experiment(client))
    status, err = ui_fails(client, "/updates", run_ids=run_id, keys="loss", cursor="%%%not-a-cursor")
    assert status == 400 and "cursor" in err["message"]
    status, err = ui_fails(client, "/updates", run_ids=run_id)
    assert status == 400 and "keys" in err["message"]
    status, err = ui_fails(client, "/updates", run_ids="f" * 32, keys="loss")
    assert status == 404
    # Well-formed wrapping around a store cursor the server never gave out: refused, naming it (not read
    # as "start over", which would send the whole history).
    for forged in ("garbage", "-5", "1e3"):
        token = encode_cursor([(run_id, "loss", forged)])
        status, err = ui_fails(client, "/updates", run_ids=run_id, keys="loss", cursor=token)
        assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE"
        assert f"Invalid cursor '{forged}' for metric 'loss'" in err["message"]


def test_updates_send_each_run_and_key_once(client: httpx.Client) -> None:
    eid = new_experiment(client)
    run_id = new_run(client, eid, start_time=START)
    (s,) = ui(client, "/series", run_ids=run_id, key="loss")["series"]
    _log_points(client, run_id, range(3), [1.0, 2.0, 3.0])
    got = ui(client, "/updates", run_ids=f"{run_id},{run_id}", keys="loss,loss,acc", cursor=s["cursor"])
    assert [r["run_id"] for r in got["runs"]] == [run_id]
    assert [(x["run_id"], x["key"]) for x in got["series"]] == [(run_id, "loss")]
    assert got["series"][0]["last"] == [1.0, 2.0, 3.0]
    assert len(decode_cursors([got["cursor"]])) == 2  # (run, loss) and (run, acc), once each


def test_updates_reduce_a_flood_of_new_points(client: httpx.Client) -> None:
    run_id = new_run(client, new_experiment(client), start_time=START)
    cursor = ui(client, "/series", run_ids=run_id, key="loss")["series"][0]["cursor"]
    values = [float(i % 7) for i in range(6000)]
    values[4321] = 1e6
    _log_points(client, run_id, range(6000), values)
    (s,) = ui(client, "/updates", run_ids=run_id, keys="loss", cursor=cursor)["series"]
    assert s["raw"] is False and len(s["x"]) <= 1000  # more than 5,000 new points arrive as buckets
    assert sum(s["counts"]) == 6000 and max(s["max"]) == 1e6 and s["x"][-1] == 5999


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("buckets", "-1", "-1"),
        ("buckets", "1_000", "'1_000'"),
        ("buckets", " 5", "' 5'"),
        ("buckets", "0x10", "'0x10'"),
        ("buckets", "\u0661\u0662", "'\u0661\u0662'"),
        ("buckets", "2.5", "'2.5'"),
        ("buckets", "9" * 5000, "(5000 characters)"),
        ("buckets", str(2**70), "must be in"),
        ("start", "1_0", "'1_0'"),
        ("start", "1e999", "'1e999'"),
        ("start", "9" * 400, "expected a finite number"),
        ("end", "inf", "'inf'"),
        ("end", "\u0661", "'\u0661'"),
        ("end", "\x00", "'\\x00'"),
    ],
)
def test_series_hostile_numbers_are_a_clear_400(
    client: httpx.Client, name: str, value: str, shown: str
) -> None:
    """Query numbers are plain ASCII decimals in range; anything else is a 400 naming the parameter and the
    value (int() and float() alone took '1_000', ' 5' and other scripts' digits, and a huge value was
    echoed whole in the message)."""
    run_id = new_run(client, new_experiment(client))
    status, err = ui_fails(client, "/series", run_ids=run_id, key="loss", **{name: value})
    assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE", err
    assert f"'{name}'" in err["message"] and shown in err["message"], err
    assert len(err["message"]) < 400  # a huge value is not echoed whole


@pytest.mark.slow
def test_series_accepts_the_numbers_a_page_sends(client: httpx.Client) -> None:
    run_id = new_run(client, new_experiment(client))
    _log_points(client, run_id, range(10), [float(i) for i in range(10)])
    for start, end in [("2", "5"), ("+2", "5.0"), ("-1e3", "1e+21"), (".5", "5.")]:
        got = ui(client, "/series", run_ids=run_id, key="loss", buckets="100", start=start, end=end)
        assert got["series"][0]["x"], (start, end)
