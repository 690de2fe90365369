"""The permission matrix of ``asynctrack server --auth``: every endpoint × every kind of caller, against a
real server, with MLflow's statuses and bodies.

Callers: users holding NO_PERMISSIONS, READ, EDIT or MANAGE on the experiment, a user with no grant (the
default, READ), an admin, and anonymous, wrong-password and bad-token requests. Each endpoint names the
capability MLflow's auth app requires for it (``can_read``, ``can_update``, ``can_delete``, ``can_manage``),
or ``user`` (any signed-in user) or ``admin``. An allowed request must succeed with the endpoint's own
status; a refused one must be MLflow's 403 ``Permission denied`` (or 401 with ``WWW-Authenticate: Basic
realm="mlflow"`` without valid credentials), and must have changed nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from auth_helpers import (
    ADMIN,
    ADMIN_PASSWORD,
    API,
    FORBIDDEN,
    PASSWORD,
    UNAUTHENTICATED,
    basic,
    client,
    grant,
    new_experiment,
    new_run,
    new_user,
    ok,
)
from servers import ServerProcess

ART = "/api/2.0/mlflow-artifacts"
UI = "/ajax-api/asynctrack/ui"
LEVELS = {
    "NO_PERMISSIONS": set(),
    "READ": {"can_read"},
    "EDIT": {"can_read", "can_update"},
    "MANAGE": {"can_read", "can_update", "can_delete", "can_manage"},
}


@dataclass
class Ctx:
    """The resources one attempt works on, made by the admin: an experiment and a run in it."""

    experiment_id: str
    name: str
    run_id: str
    caller: str
    other: str
    model_id: str = ""


@dataclass
class Case:
    name: str
    need: str  # a capability, "user" or "admin"
    request: Callable[[Ctx], tuple[str, str, dict[str, Any]]]
    status: int = 200
    setup: tuple[str, ...] = field(default_factory=tuple)  # "deleted_experiment", "deleted_run", "other"


def _get(url: str, **params: Any) -> tuple[str, str, dict[str, Any]]:
    return "GET", url, {"params": params}


def _post(path: str, body: Any) -> tuple[str, str, dict[str, Any]]:
    return "POST", path, {"json": body}


def _json(method: str, path: str, body: Any) -> tuple[str, str, dict[str, Any]]:
    return method, path, {"json": body}


def _art(c: Ctx, name: str = "a.txt") -> str:
    return f"{c.experiment_id}/{c.run_id}/artifacts/{name}"


CASES = [
    Case(
        "experiments/get", "can_read", lambda c: _get(API + "/experiments/get", experiment_id=c.experiment_id)
    ),
    Case(
        "experiments/get-by-name",
        "can_read",
        lambda c: _get(API + "/experiments/get-by-name", experiment_name=c.name),
    ),
    Case(
        "experiments/update",
        "can_update",
        lambda c: _post(
            API + "/experiments/update", {"experiment_id": c.experiment_id, "new_name": c.name + "x"}
        ),
    ),
    Case(
        "experiments/set-experiment-tag",
        "can_update",
        lambda c: _post(
            API + "/experiments/set-experiment-tag",
            {"experiment_id": c.experiment_id, "key": "k", "value": "v"},
        ),
    ),
    Case(
        "experiments/delete-experiment-tag",
        "can_update",
        lambda c: _post(
            API + "/experiments/delete-experiment-tag", {"experiment_id": c.experiment_id, "key": "t"}
        ),
    ),
    Case(
        "experiments/delete",
        "can_delete",
        lambda c: _post(API + "/experiments/delete", {"experiment_id": c.experiment_id}),
    ),
    Case(
        "experiments/restore",
        "can_delete",
        lambda c: _post(API + "/experiments/restore", {"experiment_id": c.experiment_id}),
        setup=("deleted_experiment",),
    ),
    Case(
        "experiments/search (answered, filtered)",
        "user",
        lambda c: _post(API + "/experiments/search", {"max_results": 10}),
    ),
    Case(
        "runs/create", "can_update", lambda c: _post(API + "/runs/create", {"experiment_id": c.experiment_id})
    ),
    Case("runs/get", "can_read", lambda c: _get(API + "/runs/get", run_id=c.run_id)),
    Case(
        "runs/update",
        "can_update",
        lambda c: _post(API + "/runs/update", {"run_id": c.run_id, "status": "FINISHED"}),
    ),
    Case("runs/delete", "can_delete", lambda c: _post(API + "/runs/delete", {"run_id": c.run_id})),
    Case(
        "runs/restore",
        "can_delete",
        lambda c: _post(API + "/runs/restore", {"run_id": c.run_id}),
        setup=("deleted_run",),
    ),
    Case(
        "runs/search",
        "can_read",
        lambda c: _post(API + "/runs/search", {"experiment_ids": [c.experiment_id]}),
    ),
    Case(
        "runs/log-metric",
        "can_update",
        lambda c: _post(
            API + "/runs/log-metric",
            {"run_id": c.run_id, "key": "x", "value": 1.0, "timestamp": 1, "step": 0},
        ),
    ),
    Case(
        "runs/log-parameter",
        "can_update",
        lambda c: _post(API + "/runs/log-parameter", {"run_id": c.run_id, "key": "p", "value": "1"}),
    ),
    Case(
        "runs/set-tag",
        "can_update",
        lambda c: _post(API + "/runs/set-tag", {"run_id": c.run_id, "key": "k", "value": "v"}),
    ),
    Case(
        "runs/delete-tag",
        "can_update",
        lambda c: _post(API + "/runs/delete-tag", {"run_id": c.run_id, "key": "t"}),
    ),
    Case(
        "runs/log-batch",
        "can_update",
        lambda c: _post(
            API + "/runs/log-batch",
            {"run_id": c.run_id, "metrics": [{"key": "y", "value": 2.0, "timestamp": 1, "step": 1}]},
        ),
    ),
    Case("runs/log-inputs", "can_update", lambda c: _post(API + "/runs/log-inputs", {"run_id": c.run_id})),
    Case(
        "metrics/get-history",
        "can_read",
        lambda c: _get(API + "/metrics/get-history", run_id=c.run_id, metric_key="m"),
    ),
    Case(
        "metrics/get-history-bulk-interval",
        "can_read",
        lambda c: _get(API + "/metrics/get-history-bulk-interval", run_ids=c.run_id, metric_key="m"),
    ),
    Case(
        "logged-models/search",
        "can_read",
        lambda c: _post(API + "/logged-models/search", {"experiment_ids": [c.experiment_id]}),
    ),
    Case(
        "logged-models create",
        "can_update",
        lambda c: _post(API + "/logged-models", {"experiment_id": c.experiment_id}),
    ),
    Case("logged-models get", "can_read", lambda c: _get(API + f"/logged-models/{c.model_id}")),
    Case(
        "logged-models finalize",
        "can_update",
        lambda c: _json(
            "PATCH",
            API + f"/logged-models/{c.model_id}",
            {"model_id": c.model_id, "status": "LOGGED_MODEL_READY"},
        ),
    ),
    Case(
        "logged-models set tags",
        "can_update",
        lambda c: _json(
            "PATCH", API + f"/logged-models/{c.model_id}/tags", {"tags": [{"key": "a", "value": "b"}]}
        ),
    ),
    Case(
        "logged-models params",
        "can_update",
        lambda c: _post(
            API + f"/logged-models/{c.model_id}/params",
            {"model_id": c.model_id, "params": [{"key": "a", "value": "b"}]},
        ),
    ),
    Case(
        "logged-models delete tag",
        "can_update",
        lambda c: ("DELETE", API + f"/logged-models/{c.model_id}/tags/t", {}),
    ),
    Case(
        "logged-models delete", "can_delete", lambda c: ("DELETE", API + f"/logged-models/{c.model_id}", {})
    ),
    Case(
        "logged-models artifacts",
        "can_read",
        lambda c: _get(API + f"/logged-models/{c.model_id}/artifacts/directories"),
    ),
    Case("version", "user", lambda c: _get("/version")),
    # The proxied artifact API: the path's first segment is the experiment.
    Case(
        "artifacts list",
        "can_read",
        lambda c: _get(ART + "/artifacts", path=f"{c.experiment_id}/{c.run_id}/artifacts"),
    ),
    Case("artifacts download", "can_read", lambda c: _get(ART + "/artifacts/" + _art(c))),
    Case(
        "artifacts upload",
        "can_update",
        lambda c: ("PUT", ART + "/artifacts/" + _art(c, "b.txt"), {"content": b"hello"}),
    ),
    Case("artifacts delete", "can_manage", lambda c: ("DELETE", ART + "/artifacts/" + _art(c), {})),
    Case(
        "artifacts mpu create",
        "can_update",
        lambda c: _post(
            ART + f"/mpu/create/{c.experiment_id}/{c.run_id}/artifacts", {"path": "big.bin", "num_parts": 1}
        ),
    ),
    Case("artifacts presigned", "can_read", lambda c: _get(ART + "/presigned/" + _art(c)), status=501),
    # The web UI's data API.
    Case("ui runs", "can_read", lambda c: _post(UI + "/runs", {"experiment_ids": [c.experiment_id]})),
    Case("ui runs (GET)", "can_read", lambda c: _get(UI + "/runs", experiment_ids=c.experiment_id, keys="1")),
    Case("ui keys", "can_read", lambda c: _get(UI + "/keys", experiment_ids=c.experiment_id)),
    Case("ui run", "can_read", lambda c: _get(UI + "/run", run_id=c.run_id)),
    Case("ui series", "can_read", lambda c: _get(UI + "/series", run_ids=c.run_id, key="m")),
    Case("ui updates", "can_read", lambda c: _get(UI + "/updates", run_ids=c.run_id, keys="m")),
    Case("ui artifacts/list", "can_read", lambda c: _get(UI + "/artifacts/list", run_id=c.run_id)),
    Case(
        "ui artifacts/get", "can_read", lambda c: _get(UI + "/artifacts/get", run_id=c.run_id, path="a.txt")
    ),
    Case("ui experiments (answered, filtered)", "user", lambda c: _get(UI + "/experiments")),
    # Permission management: MANAGE on the experiment.
    Case(
        "experiments/permissions/get",
        "can_manage",
        lambda c: _get(API + "/experiments/permissions/get", experiment_id=c.experiment_id, username=ADMIN),
    ),
    Case(
        "experiments/permissions/create",
        "can_manage",
        lambda c: _post(
            API + "/experiments/permissions/create",
            {"experiment_id": c.experiment_id, "username": c.other, "permission": "READ"},
        ),
        setup=("other",),
    ),
    Case(
        "experiments/permissions/update",
        "can_manage",
        lambda c: _json(
            "PATCH",
            API + "/experiments/permissions/update",
            {"experiment_id": c.experiment_id, "username": ADMIN, "permission": "EDIT"},
        ),
    ),
    Case(
        "experiments/permissions/delete",
        "can_manage",
        lambda c: _json(
            "DELETE",
            API + "/experiments/permissions/delete",
            {"experiment_id": c.experiment_id, "username": ADMIN},
        ),
    ),
    Case(
        "users/permissions/grant (3.0)",
        "can_manage",
        lambda c: _post(
            "/api/3.0/mlflow/users/permissions/grant",
            {
                "username": c.other,
                "resource_type": "experiment",
                "resource_id": c.experiment_id,
                "permission": "READ",
            },
        ),
        setup=("other",),
    ),
    Case(
        "users/permissions/revoke (3.0)",
        "can_manage",
        lambda c: _post(
            "/api/3.0/mlflow/users/permissions/revoke",
            {"username": ADMIN, "resource_type": "experiment", "resource_id": c.experiment_id},
        ),
    ),
    # Users: admins only, or oneself.
    Case(
        "users/create",
        "admin",
        lambda c: _post(API + "/users/create", {"username": f"n-{uuid.uuid4().hex}", "password": PASSWORD}),
    ),
    Case(
        "users/update-admin",
        "admin",
        lambda c: _json("PATCH", API + "/users/update-admin", {"username": c.other, "is_admin": False}),
        setup=("other",),
    ),
    Case(
        "users/delete",
        "admin",
        lambda c: _json("DELETE", API + "/users/delete", {"username": c.other}),
        setup=("other",),
    ),
    Case(
        "users/get (someone else)",
        "admin",
        lambda c: _get(API + "/users/get", username=c.other),
        setup=("other",),
    ),
    Case("users/get (oneself)", "user", lambda c: _get(API + "/users/get", username=c.caller)),
    Case("users/current", "user", lambda c: _get(API + "/users/current")),
    Case("users/list", "user", lambda c: _get(API + "/users/list")),
]


@dataclass
class Users:
    names: dict[str, str]  # level (or "default") -> username
    token: str


@pytest.fixture(scope="module")
def users(server: ServerProcess) -> Iterator[Users]:
    with client(server, basic(ADMIN, ADMIN_PASSWORD)) as admin:
        names = {level: new_user(admin, level.lower()) for level in [*LEVELS, "default"]}
    yield Users(names, "atk_0123456789abcdef_" + "A" * 43)


def _prepare(admin: httpx.Client, caller: str, level: str | None, case: Case) -> Ctx:
    experiment_id = new_experiment(admin)
    name = ok(admin.get(API + "/experiments/get", params={"experiment_id": experiment_id}))["experiment"][
        "name"
    ]
    run_id = new_run(admin, experiment_id)
    ok(admin.post(API + "/runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1, "timestamp": 1}))
    ok(admin.post(API + "/runs/set-tag", json={"run_id": run_id, "key": "t", "value": "v"}))
    ok(
        admin.post(
            API + "/experiments/set-experiment-tag",
            json={"experiment_id": experiment_id, "key": "t", "value": "v"},
        )
    )
    ok(admin.put(f"{ART}/artifacts/{experiment_id}/{run_id}/artifacts/a.txt", content=b"artifact"))
    if level is not None:
        grant(admin, caller, experiment_id, level)
    # The logged model before any deletion: a deleted experiment takes no new model.
    model = ok(
        admin.post(
            API + "/logged-models",
            json={"experiment_id": experiment_id, "tags": [{"key": "t", "value": "v"}]},
        )
    )
    if "deleted_experiment" in case.setup:
        ok(admin.post(API + "/experiments/delete", json={"experiment_id": experiment_id}))
    if "deleted_run" in case.setup:
        ok(admin.post(API + "/runs/delete", json={"run_id": run_id}))
    other = new_user(admin, "other") if "other" in case.setup else ADMIN
    return Ctx(experiment_id, name, run_id, caller, other, model["model"]["info"]["model_id"])


def _snapshot(admin: httpx.Client, c: Ctx) -> Any:
    """What a refused request must leave as it was: the experiment, the run, the artifact, the grants."""
    experiment = admin.get(API + "/experiments/get", params={"experiment_id": c.experiment_id}).json()
    run = admin.get(API + "/runs/get", params={"run_id": c.run_id}).json()
    artifact = admin.get(f"{ART}/artifacts/{c.experiment_id}/{c.run_id}/artifacts/a.txt").content
    listing = admin.get(f"{ART}/artifacts", params={"path": f"{c.experiment_id}/{c.run_id}/artifacts"}).json()
    grants = admin.get(
        API + "/experiments/permissions/get", params={"experiment_id": c.experiment_id, "username": ADMIN}
    )
    other = admin.get(API + "/users/get", params={"username": c.other}).json()
    users = admin.get(API + "/users/list").json()
    model = admin.get(API + f"/logged-models/{c.model_id}").json() if c.model_id else None
    return experiment, run, artifact, listing, grants.json(), other, users, model


def _send(c: httpx.Client, request: tuple[str, str, dict[str, Any]]) -> httpx.Response:
    method, path, kwargs = request
    return c.request(method, path, **kwargs)


def _check_allowed(response: httpx.Response, case: Case, who: str) -> None:
    assert response.status_code == case.status, (case.name, who, response.status_code, response.text)


def _check_forbidden(response: httpx.Response, case: Case, who: str) -> None:
    assert (response.status_code, response.text) == (403, FORBIDDEN), (case.name, who, response.text)


def _check_unauthenticated(response: httpx.Response, case: Case, who: str, path: str) -> None:
    assert (response.status_code, response.text) == (401, UNAUTHENTICATED), (case.name, who, response.text)
    challenge = response.headers.get("www-authenticate")
    # The UI's own API leaves the challenge out, so a browser shows no password dialog.
    assert challenge == (None if path.startswith("/ajax-api/asynctrack/") else 'Basic realm="mlflow"'), (
        case.name,
        who,
    )


# Each case costs ~1.4 s here (nine callers, each checked before and after): one case per kind of resource
# runs in the quick loop, every case in the full run.
_QUICK_CASES = {
    "experiments/get",
    "experiments/delete",
    "runs/log-metric",
    "runs/search",
    "metrics/get-history",
    "logged-models create",
    "artifacts upload",
    "ui run",
    "experiments/permissions/update",
    "users/create",
    "users/get (oneself)",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.name, marks=() if c.name in _QUICK_CASES else pytest.mark.slow) for c in CASES],
)
def test_permission_matrix(server: ServerProcess, admin: httpx.Client, users: Users, case: Case) -> None:
    callers: list[tuple[str, str | None, dict[str, str]]] = [
        (users.names[level], level, basic(users.names[level], PASSWORD)) for level in LEVELS
    ]
    callers.append((users.names["default"], None, basic(users.names["default"], PASSWORD)))
    for username, level, headers in callers:
        ctx = _prepare(admin, username, level, case)
        before = _snapshot(admin, ctx)
        with client(server, headers) as c:
            response = _send(c, case.request(ctx))
        held = LEVELS[level or "READ"]  # the server's default permission is READ
        allowed = case.need == "user" or case.need in held
        who = f"{username} ({level or 'default READ'})"
        if allowed:
            _check_allowed(response, case, who)
        else:
            _check_forbidden(response, case, who)
            assert _snapshot(admin, ctx) == before, (case.name, who, "changed something")
    # An admin may do everything.
    ctx = _prepare(admin, ADMIN, None, case)
    _check_allowed(_send(admin, case.request(ctx)), case, "admin")
    # Without valid credentials: 401, nothing changed.
    ctx = _prepare(admin, ADMIN, None, case)
    before = _snapshot(admin, ctx)
    method, path, kwargs = case.request(ctx)
    for who, headers in (
        ("anonymous", {}),
        ("wrong password", basic(users.names["MANAGE"], PASSWORD + "x")),
        ("unknown user", basic("nobody-" + uuid.uuid4().hex, PASSWORD)),
        ("bad token", {"Authorization": f"Bearer {users.token}"}),
        ("malformed basic", {"Authorization": "Basic !!!"}),
        ("other scheme", {"Authorization": "Digest x"}),
    ):
        with client(server, headers) as c:
            response = c.request(method, path, **kwargs)
        _check_unauthenticated(response, case, who, path)
    assert _snapshot(admin, ctx) == before, (case.name, "changed without credentials")


def test_health_and_static_need_no_credentials(server: ServerProcess) -> None:
    with client(server) as c:
        assert c.get("/health").text == "OK"
        assert c.get("/static/favicon.svg").status_code == 200
        assert c.get("/login").status_code == 200
        page = c.get("/", follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (303, "/login")


def test_every_route_has_a_rule(server: ServerProcess) -> None:
    """The app refuses to build when a route has no rule; here: every route the app serves, probed by a
    non-admin with no grants and a NO_PERMISSIONS default, is never answered with data unexpectedly."""
    from asynctrack.server._app import create_app
    from asynctrack.server._config import ServerConfig

    app = create_app(ServerConfig(auth=True, auth_db=str(server.log.parent / "asynctrack-auth.db")))
    from starlette.routing import Route

    from asynctrack.server.auth._policy import find_rule

    for route in app.routes:
        assert isinstance(route, Route)
        for method in route.methods or ():
            assert find_rule(route.path, method) is not None, (method, route.path)
