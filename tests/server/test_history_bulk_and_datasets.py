"""MLflow's UI endpoints get-history-bulk and search-datasets, and log-inputs stored, against a real
``asynctrack server`` (answers as MLflow 3.17.2 gives them; the interop tests compare with the real one)."""

from __future__ import annotations

import httpx
from server_helpers import API, call, fails, new_experiment, new_run

AJAX = "/ajax-api/2.0/mlflow"


def _log(client: httpx.Client, run_id: str, key: str, value: float | str, timestamp: int, step: int) -> None:
    body = {"run_id": run_id, "key": key, "value": value, "timestamp": timestamp, "step": step}
    call(client, "POST", "/runs/log-metric", body)


def test_get_history_bulk_orders_by_run_then_time_and_cuts_at_max_results(client: httpx.Client) -> None:
    eid = new_experiment(client)
    runs = sorted(new_run(client, eid) for _ in range(2))
    points = [(5, 1, 3.0), (1, 2, 2.0), (1, 2, 1.0), (3, 0, "NaN")]  # (timestamp, step, value)
    for run_id in runs:
        for t, s, v in points:
            _log(client, run_id, "m", v, t, s)
    response = client.get(
        AJAX + "/metrics/get-history-bulk", params={"run_id": runs[::-1], "metric_key": "m"}
    )
    assert response.status_code == 200, response.text
    got = response.json()["metrics"]
    want_order = [(1, 2, 1.0), (1, 2, 2.0), (3, 0, "NaN"), (5, 1, 3.0)]
    assert [(m["run_id"], m["timestamp"], m["step"], m["value"]) for m in got] == [
        (r, t, s, v) for r in runs for t, s, v in want_order
    ]
    cut = client.get(
        AJAX + "/metrics/get-history-bulk", params={"run_id": runs, "metric_key": "m", "max_results": 5}
    )
    assert [m["run_id"] for m in cut.json()["metrics"]] == [runs[0]] * 4 + [runs[1]]
    unknown = client.get(AJAX + "/metrics/get-history-bulk", params={"run_id": ["nope"], "metric_key": "m"})
    assert unknown.json() == {"metrics": []}
    # MLflow serves it under the UI prefix only.
    assert client.get(API + "/metrics/get-history-bulk", params={"run_id": runs}).status_code == 404


def test_get_history_bulk_refusals(client: httpx.Client) -> None:
    url = AJAX + "/metrics/get-history-bulk"
    for params, message in (
        ({"metric_key": "k"}, "GetMetricHistoryBulk request must specify at least one run_id."),
        ({"run_id": [f"r{i}" for i in range(101)], "metric_key": "k"}, "cannot specify more than 100"),
        ({"run_id": ["r"]}, "GetMetricHistoryBulk request must specify a metric_key."),
        ({"run_id": ["r"], "metric_key": "k", "max_results": "x"}, "parameter 'max_results'"),
    ):
        response = client.get(url, params=params)
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert message in response.json()["message"]


def _dataset(name: str, digest: str, context: str | None = None, **tags: str) -> dict[str, object]:
    all_tags = [{"key": k, "value": v} for k, v in tags.items()]
    if context is not None:
        all_tags.append({"key": "mlflow.data.context", "value": context})
    return {
        "dataset": {"name": name, "digest": digest, "source_type": "local", "source": '{"uri": "/d"}'},
        "tags": all_tags,
    }


def test_log_inputs_are_stored_returned_searched_and_summarised(client: httpx.Client) -> None:
    eid = new_experiment(client)
    r1, r2 = new_run(client, eid), new_run(client, eid)
    first = [
        _dataset("train", "d1", "training", a="1"),
        _dataset("train", "d1", "ignored"),
        _dataset("ev", "d2"),
    ]
    call(client, "POST", "/runs/log-inputs", {"run_id": r1, "datasets": first})
    call(client, "POST", "/runs/log-inputs", {"run_id": r1, "datasets": [_dataset("train", "d1", "again")]})
    call(client, "POST", "/runs/log-inputs", {"run_id": r2, "datasets": [_dataset("train", "d1", "eval")]})
    inputs = call(client, "GET", "/runs/get", run_id=r1)["run"]["inputs"]["dataset_inputs"]
    assert inputs == [
        {
            "tags": [{"key": "a", "value": "1"}, {"key": "mlflow.data.context", "value": "training"}],
            "dataset": first[0]["dataset"],
        },
        {"dataset": first[2]["dataset"]},
    ]

    def found(expr: str) -> set[str]:
        runs = call(client, "POST", "/runs/search", {"experiment_ids": [eid], "filter": expr}).get("runs", [])
        assert all("inputs" in r for r in runs)
        return {r["info"]["run_id"] for r in runs}

    assert found("datasets.name = 'train'") == {r1, r2}
    assert found("datasets.context = 'training'") == {r1}
    assert found("datasets.digest IN ('d2', 'zz')") == {r1}
    assert found("dataset.context LIKE 'ev%'") == {r2}
    assert found("datasets.name != 'train'") == {r1}
    summaries = client.post(AJAX + "/experiments/search-datasets", json={"experiment_ids": [eid]}).json()
    assert sorted(
        tuple(s.get(k) for k in ("experiment_id", "name", "digest", "context"))
        for s in summaries["dataset_summaries"]
    ) == [
        (eid, "ev", "d2", None),
        (eid, "train", "d1", "eval"),
        (eid, "train", "d1", "training"),
    ]


def test_log_inputs_and_search_datasets_refusals(client: httpx.Client) -> None:
    run_id = new_run(client)
    # As MLflow's server: an absent field is protobuf's empty string, stored so.
    sparse = _dataset("n", "d")
    del sparse["dataset"]["source"]  # type: ignore[attr-defined]
    call(client, "POST", "/runs/log-inputs", {"run_id": run_id, "datasets": [sparse]})
    stored = call(client, "GET", "/runs/get", run_id=run_id)["run"]["inputs"]["dataset_inputs"]
    assert stored[0]["dataset"] == {"name": "n", "digest": "d", "source_type": "local", "source": ""}
    too_long = _dataset("n" * 501, "d")
    _, body = fails(client, "POST", "/runs/log-inputs", {"run_id": run_id, "datasets": [too_long]})
    assert "exceeds the maximum length of 500" in body["message"]
    call(client, "POST", "/runs/delete", {"run_id": run_id})
    _, body = fails(client, "POST", "/runs/log-inputs", {"run_id": run_id, "datasets": [_dataset("n", "d")]})
    assert "must be in the 'active' state" in body["message"]
    for payload, message in (
        ({}, "SearchDatasets request must specify at least one experiment_id."),
        ({"experiment_ids": [str(i) for i in range(21)]}, "cannot specify more than 20"),
    ):
        response = client.post(AJAX + "/experiments/search-datasets", json=payload)
        assert response.status_code == 400 and message in response.json()["message"]
