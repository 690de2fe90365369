"""The UI's list and detail endpoints against a real server: experiments, runs, keys, run."""

from __future__ import annotations

import uuid

import httpx
from ui_helpers import HOSTILE, UI, api, log, new_experiment, new_run, ui, ui_fails


def _metric(key: str, value: float | str, step: int = 0, timestamp: int = 5000) -> dict[str, object]:
    return {"key": key, "value": value, "timestamp": timestamp, "step": step}


def test_experiments_counts_activity_search_and_views(client: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:8]
    busy = new_experiment(client, f"Busy-{tag}")
    idle = new_experiment(client, f"{HOSTILE}-{tag}")
    gone = new_experiment(client, f"gone-{tag}")
    for start in (1000, 3000):
        new_run(client, busy, start_time=start)
    finished = new_run(client, busy, start_time=2000)
    api(client, "/runs/update", {"run_id": finished, "status": "FINISHED", "end_time": 9000})
    deleted_run = new_run(client, busy, start_time=50_000)
    api(client, "/runs/delete", {"run_id": deleted_run})
    api(client, "/experiments/delete", {"experiment_id": gone})

    rows = ui(client, "/experiments", q=f"busy-{tag}".upper())["experiments"]
    assert [r["experiment_id"] for r in rows] == [busy]
    (row,) = rows
    assert row["run_count"] == 3  # the deleted run is not counted
    assert row["last_activity"] == 9000  # latest start or end among active runs
    assert row["lifecycle_stage"] == "active"
    assert set(row) == {
        "experiment_id",
        "name",
        "lifecycle_stage",
        "artifact_location",
        "creation_time",
        "last_update_time",
        "run_count",
        "last_activity",
    }

    (hostile,) = ui(client, "/experiments", q=HOSTILE)["experiments"]
    assert hostile["name"] == f"{HOSTILE}-{tag}"  # returned as data, byte for byte
    assert hostile["run_count"] == 0
    assert hostile["last_activity"] == hostile["creation_time"]

    assert ui(client, "/experiments", q=f"gone-{tag}")["experiments"] == []
    (dead,) = ui(client, "/experiments", q=f"gone-{tag}", view="deleted")["experiments"]
    assert dead["experiment_id"] == gone and dead["lifecycle_stage"] == "deleted"
    assert {r["experiment_id"] for r in ui(client, "/experiments", q=tag, view="all")["experiments"]} == {
        busy,
        idle,
        gone,
    }

    status, err = ui_fails(client, "/experiments", view="sometimes")
    assert (
        status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE" and "'sometimes'" in err["message"]
    )


def _seed_table(client: httpx.Client) -> tuple[str, dict[str, str]]:
    eid = new_experiment(client)
    ids = {}
    for i, (lr, loss) in enumerate([("0.1", 0.5), ("0.01", 0.1), ("0.001", 0.3)]):
        run_id = new_run(client, eid, name=f"run-{i}", start_time=1000 + i)
        log(
            client,
            run_id,
            metrics=[_metric("loss", loss), _metric("acc", 1 - loss)],
            params=[{"key": "lr", "value": lr}, {"key": "batch", "value": "32"}],
            tags=[{"key": "mlflow.source.name", "value": f"train{i}.py"}, {"key": "team", "value": HOSTILE}],
        )
        ids[lr] = run_id
    return eid, ids


def test_runs_filter_sort_columns(client: httpx.Client) -> None:
    eid, ids = _seed_table(client)
    body = {
        "experiment_ids": [eid],
        "filter": "metrics.loss < 0.4",
        "order_by": ["metrics.loss ASC"],
        "columns": {"params": ["lr", "absent"], "metrics": ["loss"], "tags": ["team"]},
    }
    page = ui(client, "/runs", body)
    assert page["next_page_token"] is None
    assert [r["run_id"] for r in page["runs"]] == [ids["0.01"], ids["0.001"]]
    first = page["runs"][0]
    assert first["params"] == {"lr": "0.01"}  # only the chosen columns, and only those the run has
    assert first["metrics"] == {"loss": 0.1}
    assert first["tags"] == {"team": HOSTILE}
    assert first["source"] == "train1.py" and first["parent_run_id"] is None
    assert first["run_name"] == "run-1" and first["status"] == "RUNNING" and first["start_time"] == 1001
    # No columns asked: none sent.
    bare = ui(client, "/runs", {"experiment_ids": [eid]})["runs"]
    assert [r["run_id"] for r in bare] == [ids["0.001"], ids["0.01"], ids["0.1"]]  # start_time DESC
    assert all(r["params"] == {} and r["metrics"] == {} and r["tags"] == {} for r in bare)


def test_runs_nonfinite_metric_and_parent(client: httpx.Client) -> None:
    eid = new_experiment(client)
    parent = new_run(client, eid)
    child = new_run(client, eid, tags=[{"key": "mlflow.parentRunId", "value": parent}])
    log(client, child, metrics=[_metric("a", "NaN"), _metric("b", "-Infinity")])
    rows = ui(client, "/runs", {"experiment_ids": [eid], "columns": {"metrics": ["a", "b"]}})["runs"]
    by_id = {r["run_id"]: r for r in rows}
    assert by_id[child]["parent_run_id"] == parent
    assert by_id[child]["metrics"] == {"a": "NaN", "b": "-Infinity"}


def test_runs_keyset_paging_stays_correct_while_runs_are_added(client: httpx.Client) -> None:
    eid = new_experiment(client)
    for i in range(5):
        new_run(client, eid, name=f"r{i}", start_time=10 + i)
    body = {"experiment_ids": [eid], "order_by": ["attributes.start_time ASC"], "max_results": 2}
    first = ui(client, "/runs", body)
    assert [r["run_name"] for r in first["runs"]] == ["r0", "r1"]
    new_run(client, eid, name="early", start_time=1)  # sorts before the page already seen
    seen = [r["run_name"] for r in first["runs"]]
    token = first["next_page_token"]
    while token:
        page = ui(client, "/runs", {**body, "page_token": token})
        seen += [r["run_name"] for r in page["runs"]]
        token = page["next_page_token"]
    assert seen == ["r0", "r1", "r2", "r3", "r4"]  # no run repeated or skipped


def test_runs_errors(client: httpx.Client) -> None:
    eid = new_experiment(client)
    status, err = ui_fails(
        client, "/runs", {"experiment_ids": [eid], "filter": "metrics.loss < 0.2 and bogus"}
    )
    assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "bogus" in err["message"]
    status, err = ui_fails(client, "/runs", {"experiment_ids": [eid], "max_results": 0})
    assert status == 400 and "max_results" in err["message"]
    status, err = ui_fails(client, "/runs", {"experiment_ids": [eid], "run_view": "maybe"})
    assert status == 400 and "'maybe'" in err["message"]
    status, err = ui_fails(client, "/runs", {"experiment_ids": [eid], "columns": {"params": "lr"}})
    assert status == 400 and "columns.params" in err["message"]
    status, err = ui_fails(client, "/runs", {"experiment_ids": ["x1"]})
    assert status == 400 and "x1" in err["message"]
    # A cross-site form post (not JSON) is refused before anything runs.
    response = client.post(UI + "/runs", content=b"experiment_ids=1", headers={"content-type": "text/plain"})
    assert response.status_code == 400 and "Content-Type" in response.json()["message"]
    status, err = ui_fails(client, "/runs")  # the GET form needs the experiments too
    assert status == 400 and "experiment_ids" in err["message"]
    status, err = ui_fails(client, "/runs", experiment_ids=eid, keys="yes")
    assert status == 400 and "'yes'" in err["message"] and "keys" in err["message"]
    status, err = ui_fails(client, "/runs", experiment_ids=eid, max_results="0")
    assert status == 400 and "max_results" in err["message"]
    status, err = ui_fails(client, "/runs", experiment_ids=eid, filter="metrics.loss < 0.2 and bogus")
    assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE" and "bogus" in err["message"]


def test_runs_get_form_with_keys_and_default_columns_in_one_answer(client: httpx.Client) -> None:
    """The page's first view of a table is one GET: the rows with the default columns, which columns those
    are, and the keys for the picker (no session or CSRF token needed, no second request for the columns)."""
    eid, ids = _seed_table(client)
    first = ui(client, "/runs", experiment_ids=eid, keys="1", default_columns="1")
    assert first["columns"] == {"params": ["batch", "lr"], "metrics": ["acc", "loss"], "tags": []}
    assert first["keys"] == {
        "params": ["batch", "lr"],
        "metrics": ["acc", "loss"],
        "tags": ["mlflow.runName", "mlflow.source.name", "team"],
    }
    assert [r["run_id"] for r in first["runs"]] == [ids["0.001"], ids["0.01"], ids["0.1"]]
    assert first["runs"][0]["metrics"] == {"acc": 0.7, "loss": 0.3}
    assert first["runs"][0]["params"] == {"lr": "0.001", "batch": "32"}
    # Chosen columns win over the defaults (and then no "columns" is sent back); list parameters repeat
    # and are never split on commas; the answer equals the POST form's.
    params = [
        ("experiment_ids", eid),
        ("filter", "metrics.loss < 0.4"),
        ("order_by", "metrics.loss ASC"),
        ("params", "lr"),
        ("params", "absent"),
        ("metrics", "loss"),
        ("tags", "team"),
        ("default_columns", "1"),
    ]
    response = client.get(UI + "/runs", params=params)
    assert response.status_code == 200, response.text
    got = response.json()
    assert "columns" not in got and "keys" not in got
    body = {
        "experiment_ids": [eid],
        "filter": "metrics.loss < 0.4",
        "order_by": ["metrics.loss ASC"],
        "columns": {"params": ["lr", "absent"], "metrics": ["loss"], "tags": ["team"]},
    }
    assert got == ui(client, "/runs", body)
    assert [r["run_id"] for r in got["runs"]] == [ids["0.01"], ids["0.001"]]
    # A refused filter is the answer, keys or not (the page asks for the keys again with its next query).
    status, _ = ui_fails(client, "/runs", experiment_ids=eid, keys="1", filter="bogus")
    assert status == 400


def test_keys(client: httpx.Client) -> None:
    eid, _ = _seed_table(client)
    other = new_experiment(client)
    log(client, new_run(client, other), params=[{"key": "elsewhere", "value": "1"}])
    keys = ui(client, "/keys", experiment_ids=eid)
    assert keys["params"] == ["batch", "lr"]
    assert keys["metrics"] == ["acc", "loss"]
    assert keys["tags"] == ["mlflow.runName", "mlflow.source.name", "team"]
    both = ui(client, "/keys", experiment_ids=f"{eid},{other}")
    assert both["params"] == ["batch", "elsewhere", "lr"]
    status, err = ui_fails(client, "/keys")
    assert status == 400 and "experiment_ids" in err["message"]


def test_run_with_children(client: httpx.Client) -> None:
    eid = new_experiment(client)
    parent = new_run(client, eid, name=HOSTILE)
    kids = [
        new_run(
            client,
            eid,
            name=f"kid{i}",
            start_time=2000 + i,
            tags=[{"key": "mlflow.parentRunId", "value": parent}],
        )
        for i in range(2)
    ]
    log(client, parent, metrics=[_metric("z", 1.0), _metric("a", 2.0)])
    got = ui(client, "/run", run_id=parent)
    assert got["run"] == api(client, "/runs/get", run_id=parent)["run"]
    assert got["run"]["info"]["run_name"] == HOSTILE
    assert got["children"] == [
        {"run_id": kids[0], "run_name": "kid0", "status": "RUNNING"},
        {"run_id": kids[1], "run_name": "kid1", "status": "RUNNING"},
    ]
    assert got["metric_keys"] == ["a", "z"]
    status, err = ui_fails(client, "/run", run_id="0" * 32)
    assert status == 404 and err["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    status, err = ui_fails(client, "/run", run_id="x' OR '1'='1")
    assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE"
    status, err = ui_fails(client, "/run")
    assert status == 400 and "run_id" in err["message"]
