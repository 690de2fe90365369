"""Bad input: MLflow's error codes, statuses and messages (checked against a real mlflow server 3.17.2),
never a 500, and nothing written by a rejected request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import API, call, fails, make_server, new_experiment, new_run
from servers import ServerProcess, running

DOCS = "See the API docs for more information about request parameters."
MISSING = "Missing value for required parameter '{}'. " + DOCS


def _error(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def test_error_body_has_mlflow_3_fields(client: httpx.Client) -> None:
    """Errors carry error_code, message, sqlstate and error_class, as MLflow 3.x's server sends them."""
    status, body = fails(client, "GET", "/runs/get", run_id="nope")
    assert status == 404
    assert body == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "Run with id=nope not found",
        "sqlstate": "KAM00",
        "error_class": "RESOURCE_NOT_FOUND",
    }


def test_unknown_endpoint_and_wrong_method(client: httpx.Client) -> None:
    """Unknown paths: 404 ENDPOINT_NOT_FOUND JSON; a known path with the wrong method: 405 JSON, Allow set."""
    for path in (API + "/runs/nope", "/api/2.0/mlflow/", "/nothing", "/ajax-api/2.0/mlflow/x"):
        status, code, message = _error(client.post(path, json={}))
        assert (status, code) == (404, "ENDPOINT_NOT_FOUND") and path in message
    response = client.get(API + "/runs/log-batch")
    assert _error(response)[:2] == (405, "BAD_REQUEST")
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "Malformed JSON in the request body"),
        (b'{"run_id": "x", "metrics": [', "Malformed JSON in the request body"),
        (b'{"run_id": 5, "value": NaN}', "Malformed JSON in the request body"),  # found by the fuzz test
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b"42", "expected a JSON object, got a number"),
    ],
)
def test_malformed_json_is_a_400(client: httpx.Client, body: bytes, fragment: str) -> None:
    """A body that is not a JSON object: 400 INVALID_PARAMETER_VALUE saying so (MLflow: a 500 or a
    misleading "missing parameter")."""
    response = client.post(
        API + "/runs/log-batch", content=body, headers={"content-type": "application/json"}
    )
    status, code, message = _error(response)
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and fragment in message


def test_empty_body_means_no_fields_and_double_encoded_json_is_decoded(client: httpx.Client) -> None:
    """As in MLflow: an empty body is {}, and a JSON string holding the JSON object is decoded again."""
    response = client.post(
        API + "/experiments/create", content=b"", headers={"content-type": "application/json"}
    )
    assert _error(response) == (400, "INVALID_PARAMETER_VALUE", MISSING.format("name"))
    eid = new_experiment(client)
    encoded = httpx.Response(200, json={"experiment_id": eid}).text
    response = client.post(
        API + "/experiments/restore", json=encoded, headers={"content-type": "application/json"}
    )
    assert _error(response)[:2] == (404, "RESOURCE_DOES_NOT_EXIST")  # parsed: restoring an active experiment


def test_wrong_content_type(client: httpx.Client) -> None:
    """A POST with a Content-Type other than JSON: MLflow's 400 message."""
    response = client.post(
        API + "/experiments/create", content=b'{"name": "x"}', headers={"content-type": "text/plain"}
    )
    assert _error(response) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Bad Request. Content-Type must be one of ['application/json'].",
    )


@pytest.mark.parametrize(
    ("endpoint", "body", "field", "value", "python_type"),
    [
        ("/experiments/create", {"name": 5}, "name", "5", "int"),
        ("/runs/log-batch", {"run_id": ["x"]}, "run_id", '["x"]', "list"),
        ("/runs/log-batch", {"run_id": "r", "metrics": "x"}, "metrics", '"x"', "str"),
        ("/runs/log-batch", {"run_id": "r", "metrics": [5]}, "metrics[0]", "5", "int"),
        (
            "/runs/log-batch",
            {"run_id": "r", "metrics": [{"key": "m", "value": 1, "timestamp": 1.5}]},
            "metrics[0].timestamp",
            "1.5",
            "float",
        ),
        (
            "/runs/log-batch",
            {"run_id": "r", "metrics": [{"key": "m", "value": True, "timestamp": 1}]},
            "metrics[0].value",
            "true",
            "bool",
        ),
        (
            "/runs/log-batch",
            {"run_id": "r", "params": [{"key": "p", "value": 3}]},
            "params[0].value",
            "3",
            "int",
        ),
        ("/runs/log-parameter", {"run_id": "r", "key": "q", "value": 5}, "value", "5", "int"),
        ("/runs/create", {"experiment_id": "0", "start_time": 1.5}, "start_time", "1.5", "float"),
    ],
)
def test_wrong_types_name_the_field_and_value(
    client: httpx.Client, endpoint: str, body: dict[str, object], field: str, value: str, python_type: str
) -> None:
    """A field of the wrong JSON type: 400 INVALID_PARAMETER_VALUE naming the field, the value and its type,
    in MLflow's words."""
    status, code, message = _error(client.post(API + endpoint, json=body))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert message.startswith(
        f"Invalid value {value} for parameter '{field}' supplied: Hint: Value was of type '{python_type}'"
    )
    assert message.endswith("See the API docs for more information about request parameters.")


@pytest.mark.parametrize(
    ("method", "endpoint", "body", "field"),
    [
        ("POST", "/experiments/create", {}, "name"),
        ("POST", "/experiments/create", {"name": ""}, "name"),
        ("GET", "/experiments/get", {}, "experiment_id"),
        ("GET", "/experiments/get-by-name", {}, "experiment_name"),
        ("POST", "/experiments/update", {"experiment_id": "0"}, "new_name"),
        ("POST", "/experiments/set-experiment-tag", {"experiment_id": "0"}, "key"),
        ("POST", "/runs/create", {}, "experiment_id"),
        ("GET", "/runs/get", {}, "run_id"),
        ("POST", "/runs/update", {"status": "FINISHED"}, "run_id"),
        ("POST", "/runs/delete", {}, "run_id"),
        ("POST", "/runs/log-metric", {"key": "m", "value": 1, "timestamp": 1}, "run_id"),
        ("POST", "/runs/log-metric", {"run_id": "r", "value": 1, "timestamp": 1}, "key"),
        ("POST", "/runs/log-metric", {"run_id": "r", "key": "m", "value": 1}, "timestamp"),
        ("POST", "/runs/log-parameter", {"run_id": "r", "value": "1"}, "key"),
        ("POST", "/runs/set-tag", {"run_id": "r", "value": "x"}, "key"),
        ("POST", "/runs/delete-tag", {"run_id": "r"}, "key"),
        ("POST", "/runs/log-batch", {}, "run_id"),
        (
            "POST",
            "/runs/log-batch",
            {"run_id": "r", "metrics": [{"key": "m", "value": 1}]},
            "metrics[0].timestamp",
        ),
        (
            "POST",
            "/runs/log-batch",
            {"run_id": "r", "metrics": [{"value": 1, "timestamp": 1}]},
            "metrics[0].key",
        ),
        ("POST", "/runs/log-batch", {"run_id": "r", "params": [{"value": "1"}]}, "params[0].key"),
        ("POST", "/runs/log-batch", {"run_id": "r", "tags": [{"value": "1"}]}, "tags[0].key"),
        ("POST", "/runs/log-inputs", {}, "run_id"),
        ("GET", "/metrics/get-history", {"run_id": "r"}, "metric_key"),
        ("GET", "/metrics/get-history-bulk-interval", {"metric_key": "m"}, "run_ids"),
    ],
)
def test_missing_fields_use_mlflows_message(
    client: httpx.Client, method: str, endpoint: str, body: dict[str, object], field: str
) -> None:
    """A required field absent (or empty): 400 INVALID_PARAMETER_VALUE, MLflow's exact message."""
    if method == "GET":
        response = client.get(API + endpoint, params=body)
    else:
        response = client.post(API + endpoint, json=body)
    assert _error(response) == (400, "INVALID_PARAMETER_VALUE", MISSING.format(field))


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ((1001, 0, 0), "A batch logging request can contain at most 1000 metrics. Got 1001 metrics."),
        ((0, 101, 0), "A batch logging request can contain at most 100 params. Got 101 params."),
        ((0, 0, 101), "A batch logging request can contain at most 100 tags. Got 101 tags."),
        (
            (950, 60, 0),
            "A batch logging request can contain at most 1000 metrics, params, and tags. Got 1010",
        ),
    ],
)
def test_oversize_batches_are_rejected_whole(
    client: httpx.Client, counts: tuple[int, int, int], message: str
) -> None:
    """MLflow's log-batch limits, MLflow's messages; nothing of the batch is written."""
    rid = new_run(client)
    n_metrics, n_params, n_tags = counts
    body = {
        "run_id": rid,
        "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(n_metrics)],
        "params": [{"key": f"p{i}", "value": "v"} for i in range(n_params)],
        "tags": [{"key": f"t{i}", "value": "v"} for i in range(n_tags)],
    }
    status, code, text = _error(client.post(API + "/runs/log-batch", json=body))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and text.startswith(message)
    data = call(client, "GET", "/runs/get", run_id=rid)["run"]["data"]
    assert "metrics" not in data and "params" not in data


def test_unknown_ids(client: httpx.Client) -> None:
    """Unknown run or experiment: 404 RESOURCE_DOES_NOT_EXIST with MLflow's messages; a non-numeric
    experiment id: 400."""
    not_found = [
        ("GET", "/runs/get", {"run_id": "nope"}, "Run with id=nope not found"),
        ("POST", "/runs/log-batch", {"run_id": "nope"}, "Run with id=nope not found"),
        (
            "POST",
            "/runs/log-metric",
            {"run_id": "nope", "key": "m", "value": 1, "timestamp": 1},
            "Run with id=nope not found",
        ),
        ("POST", "/runs/delete", {"run_id": "nope"}, "Run with id=nope not found"),
        ("POST", "/runs/log-inputs", {"run_id": "nope"}, "Run with id=nope not found"),
        ("GET", "/experiments/get", {"experiment_id": "999999"}, "No Experiment with id=999999 exists"),
        ("POST", "/runs/create", {"experiment_id": "999999"}, "No Experiment with id=999999 exists"),
        (
            "GET",
            "/experiments/get-by-name",
            {"experiment_name": "no such"},
            "Could not find experiment with name 'no such'",
        ),
    ]
    for method, endpoint, body, message in not_found:
        response = (
            client.get(API + endpoint, params=body)
            if method == "GET"
            else client.post(API + endpoint, json=body)
        )
        assert _error(response) == (404, "RESOURCE_DOES_NOT_EXIST", message)
    for bad in ("abc", "12345678901234567890"):  # not a number; past 64 bits (found by test_fuzz.py)
        response = client.get(API + "/experiments/get", params={"experiment_id": bad})
        assert _error(response) == (
            400,
            "INVALID_PARAMETER_VALUE",
            f"Invalid experiment ID '{bad}'. Experiment ID must be a valid integer.",
        )


@pytest.mark.parametrize(
    ("body", "message_start"),
    [
        (
            {"metrics": [{"key": "../x", "value": 1, "timestamp": 1}]},
            "Invalid value \"../x\" for parameter 'metrics[1].name' supplied: Names may be treated as files",
        ),
        (
            {"params": [{"key": "ok", "value": "1"}, {"key": "bad key!", "value": "1"}]},
            "Invalid value \"bad key!\" for parameter 'params[1].key' supplied: Names may only contain",
        ),
        (
            {"tags": [{"key": "a/../b", "value": "1"}]},
            "Invalid value \"a/../b\" for parameter 'tags[0].key' supplied",
        ),
        (
            {"metrics": [{"key": "m", "value": 1, "timestamp": -1}]},
            "Invalid value -1 for parameter 'metrics[1].timestamp' supplied",
        ),
        (
            {"metrics": [{"key": "m", "value": "abc", "timestamp": 1}]},
            "Invalid value \"abc\" for parameter 'metrics[1].value' supplied",
        ),
        (
            {"params": [{"key": "d", "value": "1"}, {"key": "d", "value": "1"}]},
            "Duplicate parameter keys have been submitted: ['d'].",
        ),
    ],
)
def test_invalid_keys_and_values_in_a_batch(
    client: httpx.Client, body: dict[str, object], message_start: str
) -> None:
    """Invalid keys and values: 400 naming the item by its JSON path, and nothing of the batch written."""
    rid = new_run(client)
    good = [{"key": "good", "value": 1.0, "timestamp": 1}]
    full = {
        "run_id": rid,
        "metrics": good + list(body.get("metrics", [])),
        **{k: v for k, v in body.items() if k != "metrics"},
    }
    status, code, message = _error(client.post(API + "/runs/log-batch", json=full))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert message.startswith(message_start), message
    assert "metrics" not in call(client, "GET", "/runs/get", run_id=rid)["run"]["data"]


def test_param_relogged_with_another_value(client: httpx.Client) -> None:
    """Changing a param: 400 with MLflow's message; the rest of that batch is not written."""
    rid = new_run(client)
    call(client, "POST", "/runs/log-parameter", {"run_id": rid, "key": "p", "value": "1"})
    status, code, message = _error(
        client.post(API + "/runs/log-parameter", json={"run_id": rid, "key": "p", "value": "2"})
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert message == (
        f"Changing param values is not allowed. Param with key='p' was already logged with value='1' for "
        f"run ID='{rid}'. Attempted logging new value '2'."
    )
    body = {
        "run_id": rid,
        "metrics": [{"key": "m", "value": 1.0, "timestamp": 1}],
        "params": [{"key": "new", "value": "x"}, {"key": "p", "value": "3"}],
        "tags": [{"key": "t", "value": "x"}],
    }
    status, code, message = _error(client.post(API + "/runs/log-batch", json=body))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and message.startswith(
        "Changing param values is not allowed"
    )
    data = call(client, "GET", "/runs/get", run_id=rid)["run"]["data"]
    assert "metrics" not in data and data["params"] == [{"key": "p", "value": "1"}]
    assert "t" not in {t["key"] for t in data["tags"]}


def test_writes_to_a_deleted_run_are_refused(client: httpx.Client) -> None:
    """A deleted run takes no data: 400 with MLflow's message."""
    rid = new_run(client)
    call(client, "POST", "/runs/delete", {"run_id": rid})
    response = client.post(
        API + "/runs/log-metric", json={"run_id": rid, "key": "m", "value": 1, "timestamp": 1}
    )
    assert _error(response) == (
        400,
        "INVALID_PARAMETER_VALUE",
        f"The run {rid} must be in the 'active' state. Current state is deleted.",
    )


def test_other_mlflow_rules(client: httpx.Client) -> None:
    """Paging and range rules of the history endpoints, and enum values, with MLflow's messages."""
    rid = new_run(client)
    cases = [
        (
            {"run_id": rid, "metric_key": "m", "max_results": 0},
            "/metrics/get-history",
            "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer.",
        ),
        (
            {"run_id": rid, "metric_key": "m", "page_token": "garbage"},
            "/metrics/get-history",
            "Invalid page token, could not base64-decode",
        ),
        (
            {"run_ids": [rid], "metric_key": "m", "start_step": 1},
            "/metrics/get-history-bulk-interval",
            "If either start step or end step are specified, both must be specified.",
        ),
        (
            {"run_ids": [rid], "metric_key": "m", "start_step": 5, "end_step": 1},
            "/metrics/get-history-bulk-interval",
            "end_step must be greater than start_step. Found start_step=5 and end_step=1.",
        ),
        (
            {"run_ids": [rid], "metric_key": "m", "max_results": 0},
            "/metrics/get-history-bulk-interval",
            "max_results must be between 1 and 2500. " + DOCS,
        ),
    ]
    for params, endpoint, message in cases:
        assert _error(client.get(API + endpoint, params=params)) == (400, "INVALID_PARAMETER_VALUE", message)
    status, code, message = _error(client.post(API + "/runs/update", json={"run_id": rid, "status": "BOGUS"}))
    assert (
        (status, code) == (400, "INVALID_PARAMETER_VALUE") and "'status'" in message and "FINISHED" in message
    )
    status, code, message = _error(
        client.post(API + "/runs/search", json={"experiment_ids": ["0"], "max_results": 50001})
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and "at most 50000" in message
    status, code, message = _error(
        client.post(API + "/runs/search", json={"experiment_ids": ["0"], "filter": "metrics.m >"})
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and "metrics.m >" in message


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server accepting at most 4,096 bytes per request body."""
    tmp: Path = tmp_path_factory.mktemp("small")
    with running(make_server(tmp, extra=["--max-body-size", "4096"])) as srv:
        yield srv


def test_body_size_limit(small_server: ServerProcess) -> None:
    """Over the limit: 413 with a JSON error, announced (Content-Length) or streamed (chunked); at the
    limit: accepted."""
    with httpx.Client(base_url=small_server.url, timeout=30) as c:
        rid = new_run(c)
        big = {"run_id": rid, "params": [{"key": f"p{i}", "value": "x" * 100} for i in range(60)]}
        status, code, message = _error(c.post(API + "/runs/log-batch", json=big))
        assert (status, code) == (413, "BAD_REQUEST")
        assert "at most 4096 bytes" in message and "got " in message

        def chunks() -> Iterator[bytes]:
            yield b'{"run_id": "' + rid.encode() + b'", "params": ['
            for i in range(100):
                yield b'{"key": "k%d", "value": "%s"},' % (i, b"y" * 100)
            yield b'{"key": "last", "value": ""}]}'

        response = c.post(
            API + "/runs/log-batch", content=chunks(), headers={"content-type": "application/json"}
        )
        assert _error(response)[:2] == (413, "BAD_REQUEST")
        assert "params" not in call(c, "GET", "/runs/get", run_id=rid)["run"]["data"]
        ok = {"run_id": rid, "params": [{"key": "fits", "value": "x" * 3000}]}
        assert call(c, "POST", "/runs/log-batch", ok) == {}
        assert c.get("/health").text == "OK"
