"""The REST API's routing table: each MLflow endpoint's path, methods, request Struct and handler.

Every endpoint is served under ``/api/2.0/mlflow/`` and under ``/ajax-api/2.0/mlflow/`` (MLflow's UI
prefix), as MLflow's server does. :func:`endpoint` turns a handler ``(state, message) -> response Struct``
into a Starlette endpoint: read and decode the request, call, encode with msgspec; an
:class:`MlflowException` becomes MLflow's error JSON, anything else ``INTERNAL_ERROR``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from asynctrack import __version__
from asynctrack._rest import _messages as m
from asynctrack.exceptions import MlflowException
from asynctrack.server import _ajax, _experiments, _history, _logging, _model_links, _runs
from asynctrack.server._errors import JSON_TYPE, error_response, internal_error
from asynctrack.server._request import IDEMPOTENCY_KEY, read_message
from asynctrack.server._run_artifacts import run_artifact_routes
from asynctrack.server._state import ServerState

__all__ = ["AJAX_ENDPOINTS", "ENDPOINTS", "MLFLOW_API_VERSION", "PREFIXES", "endpoint", "routes"]

Handler = Callable[[ServerState, Any], Awaitable[msgspec.Struct]]

PREFIXES = (m.API_PREFIX, m.AJAX_PREFIX)

_GET = ("GET",)
_POST = ("POST",)

#: (path under the prefix, methods, request Struct, handler)
ENDPOINTS: tuple[tuple[str, tuple[str, ...], type[msgspec.Struct], Handler], ...] = (
    ("/experiments/create", _POST, m.CreateExperiment, _experiments.create_experiment),
    ("/experiments/get", _GET, m.ExperimentById, _experiments.get_experiment),
    ("/experiments/get-by-name", _GET, m.GetExperimentByName, _experiments.get_experiment_by_name),
    ("/experiments/delete", _POST, m.ExperimentById, _experiments.delete_experiment),
    ("/experiments/restore", _POST, m.ExperimentById, _experiments.restore_experiment),
    ("/experiments/update", _POST, m.UpdateExperiment, _experiments.update_experiment),
    ("/experiments/search", ("GET", "POST"), m.SearchExperiments, _experiments.search_experiments),
    ("/experiments/set-experiment-tag", _POST, m.SetExperimentTag, _experiments.set_experiment_tag),
    ("/experiments/delete-experiment-tag", _POST, m.DeleteExperimentTag, _experiments.delete_experiment_tag),
    ("/runs/create", _POST, m.CreateRun, _runs.create_run),
    ("/runs/get", _GET, m.GetRun, _runs.get_run),
    ("/runs/update", _POST, m.UpdateRun, _runs.update_run),
    ("/runs/delete", _POST, m.RunById, _runs.delete_run),
    ("/runs/restore", _POST, m.RunById, _runs.restore_run),
    ("/runs/search", _POST, m.SearchRuns, _runs.search_runs),
    ("/runs/log-metric", _POST, m.LogMetric, _logging.log_metric),
    ("/runs/log-parameter", _POST, m.LogParam, _logging.log_param),
    ("/runs/set-tag", _POST, m.SetTag, _logging.set_tag),
    ("/runs/delete-tag", _POST, m.DeleteTag, _logging.delete_tag),
    ("/runs/log-batch", _POST, m.LogBatch, _logging.log_batch),
    ("/runs/log-inputs", _POST, m.LogInputs, _logging.log_inputs),
    ("/runs/outputs", _POST, m.LogOutputs, _model_links.log_outputs),
    ("/metrics/get-history", _GET, m.GetMetricHistory, _history.get_metric_history),
    (
        "/metrics/get-history-bulk-interval",
        _GET,
        m.GetMetricHistoryBulkInterval,
        _history.get_metric_history_bulk_interval,
    ),
)

#: Endpoints MLflow serves for its web UI under the ``/ajax-api/2.0/mlflow`` prefix only (``_ajax.py``).
AJAX_ENDPOINTS: tuple[tuple[str, tuple[str, ...], type[msgspec.Struct], Handler], ...] = (
    ("/metrics/get-history-bulk", _GET, _ajax.GetMetricHistoryBulk, _ajax.get_metric_history_bulk),
    ("/experiments/search-datasets", _POST, _ajax.SearchDatasets, _ajax.search_datasets),
)

_encoder = msgspec.json.Encoder()


def endpoint(msg_type: type[msgspec.Struct], handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def call(request: Request) -> Response:
        state: ServerState = request.app.state.server
        token = IDEMPOTENCY_KEY.set(request.headers.get("idempotency-key"))
        try:
            msg = await read_message(request, msg_type, state.config.max_body_bytes)
            result = await handler(state, msg)
        except MlflowException as exc:
            return error_response(exc)
        except Exception as exc:
            return internal_error(request, exc)
        finally:
            IDEMPOTENCY_KEY.reset(token)
        return Response(_encoder.encode(result), media_type=JSON_TYPE)

    call.__name__ = handler.__name__
    return call


async def _health(request: Request) -> Response:
    return PlainTextResponse("OK")


#: What ``GET /version`` answers: the MLflow release whose REST API this server follows, not asynctrack's
#: own version. MLflow's client reads ``/version`` to decide whether a server is recent enough for a
#: feature before it sends anything (3.17.2's REST store refuses ``log_spans`` below 3.4); answering
#: asynctrack's ``0.1.0`` would make it refuse features with a misleading "server too old". Endpoints of
#: that MLflow release that asynctrack does not implement answer 404 ``ENDPOINT_NOT_FOUND`` naming the
#: path, so a client learns at once what is missing. asynctrack's own version is in the
#: ``X-Asynctrack-Version`` header of the same answer.
MLFLOW_API_VERSION = "3.17.2"


async def _version(request: Request) -> Response:
    return PlainTextResponse(MLFLOW_API_VERSION, headers={"X-Asynctrack-Version": __version__})


def routes() -> list[Route]:
    out = [Route("/health", _health, methods=["GET"]), Route("/version", _version, methods=["GET"])]
    for prefix in PREFIXES:
        for path, methods, msg_type, handler in ENDPOINTS:
            out.append(Route(prefix + path, endpoint(msg_type, handler), methods=list(methods)))
    for path, methods, msg_type, handler in AJAX_ENDPOINTS:
        out.append(Route(m.AJAX_PREFIX + path, endpoint(msg_type, handler), methods=list(methods)))
    return out + run_artifact_routes()
