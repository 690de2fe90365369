"""Which permission each endpoint needs: one table over every route, as MLflow's auth app maps them.

Every route of the app must have a rule here (``check_coverage`` refuses to build an app with a route that
has none, and the middleware answers 403 to a non-admin for a route it cannot find): an endpoint added
later is enforced by construction, never open by omission.

MLflow's mapping (``mlflow/server/auth/__init__.py``, ``BEFORE_REQUEST_HANDLERS``):

=============================================  ==============================================================
experiments get, get-by-name                    ``can_read`` on the experiment
experiments update, set/delete-experiment-tag   ``can_update``
experiments delete, restore                     ``can_delete``
experiments create                              any user; the creator gets ``MANAGE`` on the new experiment
experiments search                              any user; only readable experiments are returned
runs create                                     ``can_update`` on the experiment
runs get, metrics get-history, bulk-interval    ``can_read`` on the run's experiment (get-history-bulk: every
                                                run's; artifacts/list and /get-artifact: the run's)
upload-artifact                                 ``can_update`` on the run's experiment
experiments search-datasets                     ``can_read`` on every experiment asked for
runs update, log-*, set-tag, delete-tag         ``can_update`` on the run's experiment
runs delete, restore                            ``can_delete`` on the run's experiment
logged-models create / search                   ``can_update`` on the experiment / ``can_read`` on every one
logged-models/{model_id}...                     on the model's experiment: GET ``can_read``, DELETE
                                                ``can_delete``, other writes ``can_update``
runs search                                     ``can_read`` on every experiment asked for (MLflow drops the
                                                unreadable ones silently; asynctrack refuses with 403)
artifacts ``<experiment_id>/...``               GET ``can_read``, PUT/POST ``can_update``, DELETE
                                                ``can_manage``; a path naming no experiment: the default
                                                permission
experiments/permissions/*                       ``can_manage`` on the experiment
registered-models create                        any user; the creator gets ``MANAGE`` on the new model
registered-models get, get-latest-versions,     ``can_read`` on the model named by ``name`` (no grant, or no
alias GET, model-versions get,                  such model: the default permission)
get-download-uri, get-artifact
registered-models update, rename, set-tag,      ``can_update``; a rename moves the model's grants to the new
delete-tag, alias POST, model-versions create,  name
update, transition-stage, set-tag
registered-models delete, alias DELETE,         ``can_delete``; a deleted model's grants are removed
model-versions delete, delete-tag
registered-models search, model-versions        any user; only readable models (versions of readable
search                                          models) are returned
registered-models/permissions/*                 ``can_manage`` on the model
users get, update-password                      the user themselves (or an admin)
users create, update-admin, delete              admins only
=============================================  ==============================================================

A missing run is refused (403), not 404, as MLflow does, so answers do not reveal which run ids exist.
Admins pass every rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from starlette.routing import BaseRoute, Route

from asynctrack.server.auth._permissions import Capability

#: (path, method) of every model-registry endpoint (asynctrack/server/_registry.py's table).
REGISTRY_PATHS: tuple[tuple[str, str], ...] = (
    ("/registered-models/create", "POST"),
    ("/registered-models/get", "GET"),
    ("/registered-models/rename", "POST"),
    ("/registered-models/update", "PATCH"),
    ("/registered-models/delete", "DELETE"),
    ("/registered-models/search", "GET"),
    ("/registered-models/set-tag", "POST"),
    ("/registered-models/delete-tag", "DELETE"),
    ("/registered-models/get-latest-versions", "GET"),
    ("/registered-models/get-latest-versions", "POST"),
    ("/registered-models/alias", "POST"),
    ("/registered-models/alias", "DELETE"),
    ("/registered-models/alias", "GET"),
    ("/model-versions/create", "POST"),
    ("/model-versions/get", "GET"),
    ("/model-versions/update", "PATCH"),
    ("/model-versions/transition-stage", "POST"),
    ("/model-versions/delete", "DELETE"),
    ("/model-versions/get-download-uri", "GET"),
    ("/model-versions/search", "GET"),
    ("/model-versions/set-tag", "POST"),
    ("/model-versions/delete-tag", "DELETE"),
)

__all__ = [
    "ARTIFACT_RULES",
    "MLFLOW_RULES",
    "OTHER_RULES",
    "REGISTRY_RULES",
    "UI_RULES",
    "Rule",
    "check_coverage",
    "find_rule",
]

Kind = Literal[
    "public",  # no credentials needed
    "user",  # any authenticated user
    "admin",  # admins only
    "experiment",  # capability on the experiment in `field`
    "experiment_name",  # capability on the experiment named in `field`
    "experiments",  # capability on every experiment in the list `field`
    "run",  # capability on the run's experiment (`field`, or run_uuid)
    "logged_model",  # capability on the experiment of the logged model in the path's {model_id}
    "runs",  # capability on every run's experiment (list `field`)
    "artifact",  # capability on the experiment the artifact path starts with
    "upload_part",  # authenticated; the upload id was handed out by an authorized create
    "self",  # the user named in `field`, or an admin
    "grant",  # can_manage on the (resource_type, resource_id) of the request
    "search_experiments",  # any user; results filtered
    "ui_experiments",  # any user; results filtered
    "create_experiment",  # any user; creator gets MANAGE
    "model",  # capability on the registered model named in `field`; then `after`
    "create_model",  # any user; creator gets MANAGE
    "search_models",  # any user; results filtered
    "search_versions",  # any user; results filtered
]
#: What follows a successful registry call: the model's grants removed, or moved to its new name.
After = Literal["", "wipe_model", "rename_model"]


@dataclass(frozen=True)
class Rule:
    kind: Kind
    capability: Capability | None = None
    field: str = ""
    csv: bool = False  # the list field comes as comma-separated query values (the UI's API)
    query: bool = False  # the field is in the query string whatever the method (the body is a file)
    after: After = ""


_READ: Capability = "can_read"
_UPDATE: Capability = "can_update"
_DELETE: Capability = "can_delete"
_MANAGE: Capability = "can_manage"

_EXP = "experiment_id"

_NAME = "name"

#: The registry endpoints' rules, by (path below the prefix, method): every one of ``REGISTRY_PATHS``.
REGISTRY_RULES: Mapping[tuple[str, str], Rule] = {
    ("/registered-models/create", "POST"): Rule("create_model"),
    ("/registered-models/get", "GET"): Rule("model", _READ, _NAME),
    ("/registered-models/rename", "POST"): Rule("model", _UPDATE, _NAME, after="rename_model"),
    ("/registered-models/update", "PATCH"): Rule("model", _UPDATE, _NAME),
    ("/registered-models/delete", "DELETE"): Rule("model", _DELETE, _NAME, after="wipe_model"),
    ("/registered-models/search", "GET"): Rule("search_models"),
    ("/registered-models/set-tag", "POST"): Rule("model", _UPDATE, _NAME),
    ("/registered-models/delete-tag", "DELETE"): Rule("model", _UPDATE, _NAME),
    ("/registered-models/get-latest-versions", "GET"): Rule("model", _READ, _NAME),
    ("/registered-models/get-latest-versions", "POST"): Rule("model", _READ, _NAME),
    ("/registered-models/alias", "POST"): Rule("model", _UPDATE, _NAME),
    ("/registered-models/alias", "DELETE"): Rule("model", _DELETE, _NAME),
    ("/registered-models/alias", "GET"): Rule("model", _READ, _NAME),
    ("/model-versions/create", "POST"): Rule("model", _UPDATE, _NAME),
    ("/model-versions/get", "GET"): Rule("model", _READ, _NAME),
    ("/model-versions/update", "PATCH"): Rule("model", _UPDATE, _NAME),
    ("/model-versions/transition-stage", "POST"): Rule("model", _UPDATE, _NAME),
    ("/model-versions/delete", "DELETE"): Rule("model", _DELETE, _NAME),
    ("/model-versions/get-download-uri", "GET"): Rule("model", _READ, _NAME),
    ("/model-versions/search", "GET"): Rule("search_versions"),
    ("/model-versions/set-tag", "POST"): Rule("model", _UPDATE, _NAME),
    ("/model-versions/delete-tag", "DELETE"): Rule("model", _DELETE, _NAME),
}
assert set(REGISTRY_RULES) == set(REGISTRY_PATHS)

#: Rules for paths under MLflow's API prefixes (``/api/2.0/mlflow``, ``/ajax-api/2.0/mlflow`` and the 3.0
#: ones), by (path below the prefix, method).
MLFLOW_RULES: Mapping[tuple[str, str], Rule] = {
    ("/experiments/create", "POST"): Rule("create_experiment"),
    ("/experiments/get", "GET"): Rule("experiment", _READ, _EXP),
    ("/experiments/get-by-name", "GET"): Rule("experiment_name", _READ, "experiment_name"),
    ("/experiments/delete", "POST"): Rule("experiment", _DELETE, _EXP),
    ("/experiments/restore", "POST"): Rule("experiment", _DELETE, _EXP),
    ("/experiments/update", "POST"): Rule("experiment", _UPDATE, _EXP),
    ("/experiments/search", "GET"): Rule("search_experiments"),
    ("/experiments/search", "POST"): Rule("search_experiments"),
    ("/experiments/set-experiment-tag", "POST"): Rule("experiment", _UPDATE, _EXP),
    ("/experiments/delete-experiment-tag", "POST"): Rule("experiment", _UPDATE, _EXP),
    ("/runs/create", "POST"): Rule("experiment", _UPDATE, _EXP),
    ("/runs/get", "GET"): Rule("run", _READ, "run_id"),
    ("/runs/update", "POST"): Rule("run", _UPDATE, "run_id"),
    ("/runs/delete", "POST"): Rule("run", _DELETE, "run_id"),
    ("/runs/restore", "POST"): Rule("run", _DELETE, "run_id"),
    ("/runs/search", "POST"): Rule("experiments", _READ, "experiment_ids"),
    ("/runs/log-metric", "POST"): Rule("run", _UPDATE, "run_id"),
    ("/runs/log-parameter", "POST"): Rule("run", _UPDATE, "run_id"),
    ("/runs/set-tag", "POST"): Rule("run", _UPDATE, "run_id"),
    ("/runs/delete-tag", "POST"): Rule("run", _UPDATE, "run_id"),
    ("/runs/log-batch", "POST"): Rule("run", _UPDATE, "run_id"),
    ("/runs/log-inputs", "POST"): Rule("run", _UPDATE, "run_id"),
    ("/runs/outputs", "POST"): Rule("run", _UPDATE, "run_id"),
    ("/metrics/get-history", "GET"): Rule("run", _READ, "run_id"),
    ("/metrics/get-history-bulk-interval", "GET"): Rule("runs", _READ, "run_ids"),
    # The model registry: MLflow's per-model grants (BEFORE_REQUEST_HANDLERS' registry entries).
    **REGISTRY_RULES,
    ("/metrics/get-history-bulk", "GET"): Rule("runs", _READ, "run_id"),
    ("/artifacts/list", "GET"): Rule("run", _READ, "run_id"),
    ("/upload-artifact", "POST"): Rule("run", _UPDATE, "run_uuid", query=True),
    ("/experiments/search-datasets", "POST"): Rule("experiments", _READ, "experiment_ids"),
    # MLflow 3's logged models: the model's experiment decides (MLflow's validate_can_*_logged_model).
    ("/logged-models", "POST"): Rule("experiment", _UPDATE, _EXP),
    ("/logged-models/search", "POST"): Rule("experiments", _READ, "experiment_ids"),
    ("/logged-models/{model_id}", "GET"): Rule("logged_model", _READ),
    ("/logged-models/{model_id}", "PATCH"): Rule("logged_model", _UPDATE),
    ("/logged-models/{model_id}", "DELETE"): Rule("logged_model", _DELETE),
    ("/logged-models/{model_id}/tags", "PATCH"): Rule("logged_model", _UPDATE),
    ("/logged-models/{model_id}/tags/{tag_key}", "DELETE"): Rule("logged_model", _UPDATE),
    ("/logged-models/{model_id}/params", "POST"): Rule("logged_model", _UPDATE),
    ("/logged-models/{model_id}/artifacts/directories", "GET"): Rule("logged_model", _READ),
    ("/logged-models/{model_id}/artifacts/files", "GET"): Rule("logged_model", _READ),
    # User management (MLflow's basic-auth REST API).
    ("/users/create", "POST"): Rule("admin"),
    ("/users/get", "GET"): Rule("self", field="username"),
    ("/users/current", "GET"): Rule("user"),
    ("/users/list", "GET"): Rule("user"),
    ("/users/update-password", "PATCH"): Rule("self", field="username"),
    ("/users/update-admin", "PATCH"): Rule("admin"),
    ("/users/delete", "DELETE"): Rule("admin"),
    ("/experiments/permissions/create", "POST"): Rule("experiment", _MANAGE, _EXP),
    ("/experiments/permissions/get", "GET"): Rule("experiment", _MANAGE, _EXP),
    ("/experiments/permissions/update", "PATCH"): Rule("experiment", _MANAGE, _EXP),
    ("/experiments/permissions/delete", "DELETE"): Rule("experiment", _MANAGE, _EXP),
    ("/registered-models/permissions/create", "POST"): Rule("model", _MANAGE, _NAME),
    ("/registered-models/permissions/get", "GET"): Rule("model", _MANAGE, _NAME),
    ("/registered-models/permissions/update", "PATCH"): Rule("model", _MANAGE, _NAME),
    ("/registered-models/permissions/delete", "DELETE"): Rule("model", _MANAGE, _NAME),
    ("/users/permissions/grant", "POST"): Rule("grant"),
    ("/users/permissions/revoke", "POST"): Rule("grant"),
    ("/users/permissions/get", "GET"): Rule("self", field="username"),
    ("/users/current/permissions", "GET"): Rule("user"),
}

#: The proxied artifact API, below ``/api/2.0/mlflow-artifacts`` and ``/ajax-api/2.0/mlflow-artifacts``.
ARTIFACT_RULES: Mapping[tuple[str, str], Rule] = {
    ("/artifacts", "GET"): Rule("artifact", _READ, "path"),
    ("/artifacts/{path:path}", "GET"): Rule("artifact", _READ, "path"),
    ("/artifacts/{path:path}", "PUT"): Rule("artifact", _UPDATE, "path"),
    ("/artifacts/{path:path}", "DELETE"): Rule("artifact", _MANAGE, "path"),
    ("/mpu/create/{path:path}", "POST"): Rule("artifact", _UPDATE, "path"),
    ("/mpu/complete/{path:path}", "POST"): Rule("artifact", _UPDATE, "path"),
    ("/mpu/abort/{path:path}", "POST"): Rule("artifact", _UPDATE, "path"),
    ("/mpu/parts/{upload_id}/{part_number}", "PUT"): Rule("upload_part"),
    ("/presigned/{path:path}", "GET"): Rule("artifact", _READ, "path"),
}

#: The web UI's data API, below ``/ajax-api/asynctrack/ui``.
UI_RULES: Mapping[tuple[str, str], Rule] = {
    ("/experiments", "GET"): Rule("ui_experiments"),
    ("/runs", "POST"): Rule("experiments", _READ, "experiment_ids"),
    ("/runs", "GET"): Rule("experiments", _READ, "experiment_ids", csv=True),
    ("/keys", "GET"): Rule("experiments", _READ, "experiment_ids", csv=True),
    ("/run", "GET"): Rule("run", _READ, "run_id"),
    ("/series", "GET"): Rule("runs", _READ, "run_ids", csv=True),
    ("/updates", "GET"): Rule("runs", _READ, "run_ids", csv=True),
    ("/artifacts/list", "GET"): Rule("run", _READ, "run_id"),
    ("/artifacts/get", "GET"): Rule("run", _READ, "run_id"),
}

#: Whole paths outside those prefixes. ``/`` is the UI's page (an anonymous browser is sent to /login).
OTHER_RULES: Mapping[tuple[str, str], Rule] = {
    ("/health", "GET"): Rule("public"),
    ("/version", "GET"): Rule("user"),
    ("/get-artifact", "GET"): Rule("run", _READ, "run_id"),
    # A version's files: can_read on its model (MLflow's validate_can_read_model_version_artifact).
    ("/model-versions/get-artifact", "GET"): Rule("model", _READ, _NAME),
    ("//model-versions/get-artifact", "GET"): Rule("model", _READ, _NAME),
    ("/", "GET"): Rule("user"),
    ("/", "HEAD"): Rule("user"),
    ("/static/{path:path}", "GET"): Rule("public"),
    ("/static/{path:path}", "HEAD"): Rule("public"),
    ("/login", "GET"): Rule("public"),
    ("/login", "HEAD"): Rule("public"),
    ("/login.js", "GET"): Rule("public"),
    ("/login.js", "HEAD"): Rule("public"),
    ("/ajax-api/asynctrack/auth/login", "POST"): Rule("public"),
    ("/ajax-api/asynctrack/auth/logout", "POST"): Rule("public"),
    ("/ajax-api/asynctrack/auth/session", "GET"): Rule("user"),
}

_PREFIXED: tuple[tuple[str, Mapping[tuple[str, str], Rule]], ...] = (
    ("/api/2.0/mlflow-artifacts", ARTIFACT_RULES),
    ("/ajax-api/2.0/mlflow-artifacts", ARTIFACT_RULES),
    ("/api/2.0/mlflow", MLFLOW_RULES),
    ("/ajax-api/2.0/mlflow", MLFLOW_RULES),
    ("/api/3.0/mlflow", MLFLOW_RULES),
    ("/ajax-api/3.0/mlflow", MLFLOW_RULES),
    ("/ajax-api/asynctrack/ui", UI_RULES),
)


def find_rule(route_path: str, method: str) -> Rule | None:
    """The rule for a route (its path template, e.g. ``/api/2.0/mlflow-artifacts/artifacts/{path:path}``)
    and a method; None when there is none (the middleware then refuses non-admins)."""
    if method == "HEAD" and (route_path, "HEAD") not in OTHER_RULES:
        method = "GET"  # Starlette answers HEAD with the GET route
    found = OTHER_RULES.get((route_path, method))
    if found is not None:
        return found
    for prefix, table in _PREFIXED:
        if route_path.startswith(prefix + "/"):
            return table.get((route_path[len(prefix) :], method))
    return None


def check_coverage(routes: list[BaseRoute]) -> None:
    """Raise if any route and method of the app has no rule (a new endpoint must be given one)."""
    missing = [
        f"{method} {route.path}"
        for route in routes
        if isinstance(route, Route)
        for method in sorted(route.methods or ())
        if find_rule(route.path, method) is None
    ]
    if missing:
        raise RuntimeError(f"routes without an authorization rule (add them to auth/_policy.py): {missing}")
