"""Every endpoint of the REST API against a real server: success responses checked field by field."""

from __future__ import annotations

import time
import uuid

import httpx
from server_helpers import API, call, fails, new_experiment, new_run

import asynctrack


def test_health_and_version(client: httpx.Client) -> None:
    """/health answers 200 "OK"; /version the MLflow release whose API the server follows (so MLflow's
    client does not refuse features as "server too old"), asynctrack's own version in a header."""
    health = client.get("/health")
    assert (health.status_code, health.text) == (200, "OK")
    version = client.get("/version")
    assert (version.status_code, version.text) == (200, "3.17.2")
    assert version.headers["X-Asynctrack-Version"] == asynctrack.__version__
    missing = client.get("/api/2.0/mlflow/traces/search")
    assert missing.status_code == 404 and missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert "/api/2.0/mlflow/traces/search" in missing.json()["message"]


def test_experiment_create_get_and_get_by_name(client: httpx.Client) -> None:
    """create returns the id; get and get-by-name return the experiment with every field MLflow sends."""
    name = f"exp-{uuid.uuid4().hex}"
    before = int(time.time() * 1000)
    created = call(
        client, "POST", "/experiments/create", {"name": name, "tags": [{"key": "a", "value": "b"}]}
    )
    assert set(created) == {"experiment_id"} and created["experiment_id"].isdigit()
    eid = created["experiment_id"]
    exp = call(client, "GET", "/experiments/get", experiment_id=eid)["experiment"]
    assert exp["experiment_id"] == eid
    assert exp["name"] == name
    assert exp["lifecycle_stage"] == "active"
    assert exp["artifact_location"].endswith(f"/{eid}")
    assert exp["tags"] == [{"key": "a", "value": "b"}]
    assert before <= exp["creation_time"] == exp["last_update_time"] <= int(time.time() * 1000)
    assert call(client, "GET", "/experiments/get-by-name", experiment_name=name)["experiment"] == exp


def test_experiment_artifact_location_is_kept(client: httpx.Client) -> None:
    """An explicit artifact_location under the server's artifact root is stored as given (others are
    refused: test_security_limits.py)."""
    default = call(client, "GET", "/experiments/get", experiment_id=new_experiment(client))["experiment"]
    root = default["artifact_location"].rsplit("/", 1)[0]
    location = f"{root}/custom-{uuid.uuid4().hex}"
    eid = call(
        client, "POST", "/experiments/create", {"name": uuid.uuid4().hex, "artifact_location": location}
    )["experiment_id"]
    assert call(client, "GET", "/experiments/get", experiment_id=eid)["experiment"]["artifact_location"] == (
        location
    )


def test_experiment_update_delete_restore(client: httpx.Client) -> None:
    """update renames; delete and restore move the lifecycle stage; each answers {}."""
    eid = new_experiment(client)
    new_name = f"renamed-{uuid.uuid4().hex}"
    assert call(client, "POST", "/experiments/update", {"experiment_id": eid, "new_name": new_name}) == {}
    assert call(client, "GET", "/experiments/get", experiment_id=eid)["experiment"]["name"] == new_name
    assert call(client, "POST", "/experiments/delete", {"experiment_id": eid}) == {}
    assert (
        call(client, "GET", "/experiments/get", experiment_id=eid)["experiment"]["lifecycle_stage"]
        == "deleted"
    )
    assert call(client, "POST", "/experiments/restore", {"experiment_id": eid}) == {}
    assert (
        call(client, "GET", "/experiments/get", experiment_id=eid)["experiment"]["lifecycle_stage"]
        == "active"
    )


def test_experiment_tags_set_and_delete(client: httpx.Client) -> None:
    """set-experiment-tag upserts, delete-experiment-tag removes."""
    eid = new_experiment(client)
    assert (
        call(
            client,
            "POST",
            "/experiments/set-experiment-tag",
            {"experiment_id": eid, "key": "k", "value": "1"},
        )
        == {}
    )
    call(client, "POST", "/experiments/set-experiment-tag", {"experiment_id": eid, "key": "k", "value": "2"})
    call(client, "POST", "/experiments/set-experiment-tag", {"experiment_id": eid, "key": "j"})
    tags = call(client, "GET", "/experiments/get", experiment_id=eid)["experiment"]["tags"]
    assert sorted((t["key"], t["value"]) for t in tags) == [("j", ""), ("k", "2")]
    assert (
        call(client, "POST", "/experiments/delete-experiment-tag", {"experiment_id": eid, "key": "k"}) == {}
    )
    tags = call(client, "GET", "/experiments/get", experiment_id=eid)["experiment"]["tags"]
    assert tags == [{"key": "j", "value": ""}]


def test_experiment_search_post_and_get_with_paging(client: httpx.Client) -> None:
    """search (POST body or GET query) filters, orders and pages with next_page_token."""
    prefix = f"srch-{uuid.uuid4().hex[:8]}"
    ids = [
        call(client, "POST", "/experiments/create", {"name": f"{prefix}-{i}"})["experiment_id"]
        for i in range(3)
    ]
    body = {"filter": f"name LIKE '{prefix}%'", "order_by": ["name ASC"], "max_results": 2}
    page1 = call(client, "POST", "/experiments/search", body)
    assert [e["experiment_id"] for e in page1["experiments"]] == ids[:2]
    page2 = call(client, "POST", "/experiments/search", {**body, "page_token": page1["next_page_token"]})
    assert [e["experiment_id"] for e in page2["experiments"]] == ids[2:]
    assert "next_page_token" not in page2
    got = call(
        client,
        "GET",
        "/experiments/search",
        filter=f"name LIKE '{prefix}%'",
        order_by="name DESC",
        max_results=5,
    )
    assert [e["experiment_id"] for e in got["experiments"]] == ids[::-1]
    call(client, "POST", "/experiments/delete", {"experiment_id": ids[0]})
    deleted = call(client, "POST", "/experiments/search", {**body, "view_type": "DELETED_ONLY"})
    assert [e["experiment_id"] for e in deleted["experiments"]] == [ids[0]]
    everything = call(client, "GET", "/experiments/search", filter=f"name LIKE '{prefix}%'", view_type="ALL")
    assert len(everything["experiments"]) == 3


def test_run_create_and_get(client: httpx.Client) -> None:
    """create returns the whole run; get (by run_id or run_uuid) returns the same."""
    eid = new_experiment(client)
    body = {
        "experiment_id": eid,
        "user_id": "alice",
        "run_name": "first",
        "start_time": 1234,
        "tags": [{"key": "t", "value": "v"}],
    }
    run = call(client, "POST", "/runs/create", body)["run"]
    info = run["info"]
    assert len(info["run_id"]) == 32 and info["run_uuid"] == info["run_id"]
    assert info["experiment_id"] == eid
    assert info["user_id"] == "alice"
    assert info["run_name"] == "first"
    assert info["status"] == "RUNNING"
    assert info["start_time"] == 1234
    assert "end_time" not in info
    assert info["lifecycle_stage"] == "active"
    assert info["artifact_uri"].endswith(f"/{eid}/{info['run_id']}/artifacts")
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags == {"t": "v", "mlflow.runName": "first"}
    assert "metrics" not in run["data"] and "params" not in run["data"]
    assert call(client, "GET", "/runs/get", run_id=info["run_id"])["run"] == run
    assert call(client, "GET", "/runs/get", run_uuid=info["run_id"])["run"] == run


def test_run_update_delete_restore(client: httpx.Client) -> None:
    """update sets status, end time and name and returns run_info; delete/restore flip the stage."""
    rid = new_run(client)
    info = call(
        client,
        "POST",
        "/runs/update",
        {"run_id": rid, "status": "FINISHED", "end_time": 5000, "run_name": "n2"},
    )["run_info"]
    assert (info["run_id"], info["status"], info["end_time"], info["run_name"]) == (
        rid,
        "FINISHED",
        5000,
        "n2",
    )
    assert (
        call(client, "POST", "/runs/update", {"run_uuid": rid, "status": 4})["run_info"]["status"] == "FAILED"
    )
    run = call(client, "GET", "/runs/get", run_id=rid)["run"]
    assert {t["key"]: t["value"] for t in run["data"]["tags"]}["mlflow.runName"] == "n2"
    assert call(client, "POST", "/runs/delete", {"run_id": rid}) == {}
    assert call(client, "GET", "/runs/get", run_id=rid)["run"]["info"]["lifecycle_stage"] == "deleted"
    assert call(client, "POST", "/runs/restore", {"run_id": rid}) == {}
    assert call(client, "GET", "/runs/get", run_id=rid)["run"]["info"]["lifecycle_stage"] == "active"


def test_log_metric_param_tag_and_delete_tag(client: httpx.Client) -> None:
    """The single-item writes land in the run (NaN as "NaN", int64 given as strings accepted)."""
    rid = new_run(client)
    assert (
        call(
            client,
            "POST",
            "/runs/log-metric",
            {"run_id": rid, "key": "m", "value": 0.5, "timestamp": 10, "step": 1},
        )
        == {}
    )
    call(
        client,
        "POST",
        "/runs/log-metric",
        {"run_uuid": rid, "key": "m", "value": "NaN", "timestamp": "11", "step": "2"},
    )
    call(
        client,
        "POST",
        "/runs/log-metric",
        {"run_id": rid, "key": "inf", "value": "Infinity", "timestamp": 12},
    )
    assert call(client, "POST", "/runs/log-parameter", {"run_id": rid, "key": "p", "value": "1"}) == {}
    call(client, "POST", "/runs/log-parameter", {"run_id": rid, "key": "p", "value": "1"})  # same value: fine
    assert call(client, "POST", "/runs/set-tag", {"run_id": rid, "key": "t", "value": "x"}) == {}
    call(client, "POST", "/runs/set-tag", {"run_id": rid, "key": "gone", "value": "y"})
    assert call(client, "POST", "/runs/delete-tag", {"run_id": rid, "key": "gone"}) == {}
    data = call(client, "GET", "/runs/get", run_id=rid)["run"]["data"]
    metrics = {m["key"]: m for m in data["metrics"]}
    assert metrics["m"] == {"key": "m", "value": "NaN", "timestamp": 11, "step": 2}
    assert metrics["inf"] == {"key": "inf", "value": "Infinity", "timestamp": 12, "step": 0}
    assert data["params"] == [{"key": "p", "value": "1"}]
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["t"] == "x" and "gone" not in tags


def test_log_batch_writes_everything(client: httpx.Client) -> None:
    """log-batch writes metrics (several keys, interleaved), params and tags; history keeps every point."""
    rid = new_run(client)
    metrics = [
        {"key": k, "value": float(i), "timestamp": 100 + i, "step": i} for i in range(10) for k in ("a", "b")
    ]
    body = {
        "run_id": rid,
        "metrics": metrics,
        "params": [{"key": "lr", "value": "0.1"}, {"key": "bs", "value": "32"}],
        "tags": [{"key": "phase", "value": "train"}, {"key": "mlflow.runName", "value": "renamed"}],
    }
    assert call(client, "POST", "/runs/log-batch", body) == {}
    run = call(client, "GET", "/runs/get", run_id=rid)["run"]
    assert run["info"]["run_name"] == "renamed"
    latest = {m["key"]: m for m in run["data"]["metrics"]}
    assert latest["a"] == {"key": "a", "value": 9.0, "timestamp": 109, "step": 9}
    assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"lr": "0.1", "bs": "32"}
    assert {t["key"]: t["value"] for t in run["data"]["tags"]}["phase"] == "train"
    history = call(client, "GET", "/metrics/get-history", run_id=rid, metric_key="b")["metrics"]
    assert history == [{"key": "b", "value": float(i), "timestamp": 100 + i, "step": i} for i in range(10)]


def test_log_inputs_accepted_for_an_active_run(client: httpx.Client) -> None:
    """log-inputs answers {} for an active run (datasets are checked, not stored: see log_inputs' docs)."""
    rid = new_run(client)
    body = {
        "run_id": rid,
        "datasets": [
            {
                "dataset": {"name": "d", "digest": "abc", "source_type": "local", "source": "/x"},
                "tags": [{"key": "mlflow.data.context", "value": "train"}],
            }
        ],
    }
    assert call(client, "POST", "/runs/log-inputs", body) == {}
    assert call(client, "POST", "/runs/log-inputs", {"run_id": rid}) == {}


def test_search_runs_filters_orders_and_pages(client: httpx.Client) -> None:
    """runs/search: filter on metrics, order_by, pages with a token; deleted runs by run_view_type."""
    eid = new_experiment(client)
    rids = [new_run(client, eid) for _ in range(3)]
    for i, rid in enumerate(rids):
        call(
            client, "POST", "/runs/log-metric", {"run_id": rid, "key": "acc", "value": i / 10, "timestamp": 1}
        )
    body = {
        "experiment_ids": [eid],
        "filter": "metrics.acc > 0.05",
        "order_by": ["metrics.acc DESC"],
        "max_results": 1,
    }
    page1 = call(client, "POST", "/runs/search", body)
    assert [r["info"]["run_id"] for r in page1["runs"]] == [rids[2]]
    page2 = call(client, "POST", "/runs/search", {**body, "page_token": page1["next_page_token"]})
    assert [r["info"]["run_id"] for r in page2["runs"]] == [rids[1]]
    assert "next_page_token" not in page2
    assert page1["runs"][0]["data"]["metrics"] == [{"key": "acc", "value": 0.2, "timestamp": 1, "step": 0}]
    call(client, "POST", "/runs/delete", {"run_id": rids[0]})
    deleted = call(client, "POST", "/runs/search", {"experiment_ids": [eid], "run_view_type": "DELETED_ONLY"})
    assert [r["info"]["run_id"] for r in deleted["runs"]] == [rids[0]]
    assert call(client, "POST", "/runs/search", {}) == {}


def test_get_history_pages_like_mlflow(client: httpx.Client) -> None:
    """get-history orders by (timestamp, step, value) and pages with MLflow's offset tokens."""
    rid = new_run(client)
    points = [(3, 30, 1.0), (1, 10, 2.0), (2, 20, 3.0), (0, 40, 4.0), (5, 50, 5.0)]  # (step, ts, value)
    body = {
        "run_id": rid,
        "metrics": [{"key": "m", "value": v, "timestamp": t, "step": s} for s, t, v in points],
    }
    call(client, "POST", "/runs/log-batch", body)
    expected = [
        {"key": "m", "value": v, "timestamp": t, "step": s} for s, t, v in sorted(points, key=lambda p: p[1])
    ]
    assert call(client, "GET", "/metrics/get-history", run_id=rid, metric_key="m") == {"metrics": expected}
    seen = []
    token = None
    for _ in range(3):
        params = {"run_id": rid, "metric_key": "m", "max_results": 2} | (
            {"page_token": token} if token else {}
        )
        page = call(client, "GET", "/metrics/get-history", **params)
        seen += page["metrics"]
        token = page.get("next_page_token")
    assert seen == expected and token is None
    assert call(client, "GET", "/metrics/get-history", run_id=rid, metric_key="none") == {}
    assert call(client, "GET", "/metrics/get-history", run_id="no-such-run", metric_key="m") == {}


def test_get_history_bulk_interval_samples_per_run(client: httpx.Client) -> None:
    """get-history-bulk-interval: per run at most max_results points in step order, first and last kept,
    each with its run_id; a step window limits the points; unknown runs contribute nothing."""
    r1, r2 = new_run(client), new_run(client)
    for rid, n in ((r1, 100), (r2, 3)):
        body = {
            "run_id": rid,
            "metrics": [{"key": "loss", "value": float(s), "timestamp": 1, "step": s} for s in range(n)],
        }
        call(client, "POST", "/runs/log-batch", body)
    got = call(
        client,
        "GET",
        "/metrics/get-history-bulk-interval",
        run_ids=[r1, r2, "nope"],
        metric_key="loss",
        max_results=10,
    )
    by_run: dict[str, list[int]] = {}
    for m in got["metrics"]:
        assert set(m) == {"key", "value", "timestamp", "step", "run_id"} and m["key"] == "loss"
        assert m["value"] == float(m["step"])
        by_run.setdefault(m["run_id"], []).append(m["step"])
    assert by_run[r2] == [0, 1, 2]
    assert len(by_run[r1]) <= 10 and by_run[r1][0] == 0 and by_run[r1][-1] == 99
    assert by_run[r1] == sorted(by_run[r1])
    window = call(
        client,
        "GET",
        "/metrics/get-history-bulk-interval",
        run_ids=[r1],
        metric_key="loss",
        start_step=10,
        end_step=12,
    )
    assert [m["step"] for m in window["metrics"]] == [10, 11, 12]


def test_ajax_prefix_serves_the_same_api(client: httpx.Client) -> None:
    """Every endpoint is also under /ajax-api/2.0/mlflow/ (MLflow's UI prefix)."""
    rid = new_run(client)
    response = client.get("/ajax-api/2.0/mlflow/runs/get", params={"run_id": rid})
    assert response.status_code == 200 and response.json()["run"]["info"]["run_id"] == rid
    status, body = fails(client, "GET", "/runs/get", run_id="nope")
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert client.get(API + "/runs/get", params={"run_id": rid}).json() == response.json()


def test_log_batch_with_an_idempotency_key_applies_once(client: httpx.Client) -> None:
    """asynctrack's REST store and journal send ``Idempotency-Key``; a resent request (lost response,
    journal replay) is acknowledged without logging its points again."""
    run_id = new_run(client)
    body = {
        "run_id": run_id,
        "metrics": [{"key": "k", "value": 1.0, "timestamp": 5, "step": i} for i in range(3)],
    }
    for _ in range(3):
        r = client.post(API + "/runs/log-batch", json=body, headers={"Idempotency-Key": f"test:{run_id}"})
        assert r.status_code == 200, r.text
    history = call(client, "GET", "/metrics/get-history", run_id=run_id, metric_key="k")["metrics"]
    assert [m["step"] for m in history] == [0, 1, 2]
    r = client.post(API + "/runs/log-batch", json=body, headers={"Idempotency-Key": "x" * 201})
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["message"]
