"""Hypothesis over every route of ``asynctrack server --auth`` with and without credentials: hostile ids
(spelled differently, as numbers, in lists, duplicated), hostile fields and methods, from an anonymous
client, a wrong password, a bad token, a cookie without its CSRF token, and a real user who holds
``NO_PERMISSIONS`` on one experiment and the default ``READ`` on another. Never a 500; nothing of the hidden
experiment in any answer; afterwards both experiments, their runs, artifacts and grants, and the users,
exactly as before.

The route list is read from the app, so routes added later are fuzzed too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from auth_helpers import ADMIN, API, PASSWORD, basic, client, grant, new_user, ok
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import ServerProcess
from starlette.routing import Route

from asynctrack.server import ServerConfig, create_app

ART = "/api/2.0/mlflow-artifacts"
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


class World:
    """Two experiments made by the admin: ``hidden`` (the fuzzing user holds NO_PERMISSIONS on it) and
    ``readable`` (the default READ), each with a run, a tag, a metric and an artifact holding a marker."""

    def __init__(self, server: ServerProcess, admin: httpx.Client, auth_db: str) -> None:
        self.marker = f"secret-{uuid.uuid4().hex}"
        self.ids: dict[str, str] = {}
        self.runs: dict[str, str] = {}
        for which in ("hidden", "readable"):
            name = f"{self.marker}-{which}" if which == "hidden" else f"open-{uuid.uuid4().hex}"
            experiment_id = ok(admin.post(API + "/experiments/create", json={"name": name}))["experiment_id"]
            run = ok(admin.post(API + "/runs/create", json={"experiment_id": experiment_id}))["run"]["info"][
                "run_id"
            ]
            ok(admin.post(API + "/runs/set-tag", json={"run_id": run, "key": "t", "value": self.marker}))
            ok(
                admin.post(
                    API + "/runs/log-metric", json={"run_id": run, "key": "m", "value": 1, "timestamp": 1}
                )
            )
            ok(
                admin.put(
                    f"{ART}/artifacts/{experiment_id}/{run}/artifacts/a.txt", content=self.marker.encode()
                )
            )
            self.ids[which], self.runs[which] = experiment_id, run
        self.user = new_user(admin, "fuzz")
        grant(admin, self.user, self.ids["hidden"], "NO_PERMISSIONS")
        self.admin = admin
        self.routes = _routes(auth_db)

    def snapshot(self) -> Any:
        a = self.admin
        out: list[Any] = []
        for which in ("hidden", "readable"):
            e, r = self.ids[which], self.runs[which]
            out.append(a.get(API + "/experiments/get", params={"experiment_id": e}).json())
            out.append(
                a.post(API + "/runs/search", json={"experiment_ids": [e], "run_view_type": "ALL"}).json()
            )
            out.append(a.get(API + "/metrics/get-history", params={"run_id": r, "metric_key": "m"}).json())
            out.append(a.get(f"{ART}/artifacts", params={"path": f"{e}/{r}/artifacts"}).json())
            out.append(a.get(f"{ART}/artifacts/{e}/{r}/artifacts/a.txt").content)
            out.append(
                a.get(
                    API + "/experiments/permissions/get", params={"experiment_id": e, "username": ADMIN}
                ).json()
            )
        out.append(a.get(API + "/users/list").json())
        out.append(
            a.get("/api/3.0/mlflow/users/current/permissions", headers=basic(self.user, PASSWORD)).json()
        )
        return out


def _routes(auth_db: str) -> list[tuple[str, str]]:
    app = create_app(
        ServerConfig(auth=True, auth_db=auth_db, serve_artifacts=True, artifacts_destination="/nonexistent")
    )
    return sorted(
        {(r.path, m) for r in app.routes if isinstance(r, Route) for m in (r.methods or ()) if m != "HEAD"}
    )


@pytest.fixture(scope="module")
def world(server: ServerProcess, auth_tmp: Any) -> Iterator[World]:
    from auth_helpers import ADMIN_PASSWORD

    with client(server, basic(ADMIN, ADMIN_PASSWORD)) as admin:
        yield World(server, admin, str(auth_tmp / "asynctrack-auth.db"))


def _ids(world: World) -> st.SearchStrategy[Any]:
    h = world.ids["hidden"]
    return st.sampled_from(
        [
            h,
            f"0{h}",
            f" {h}",
            f"{h} ",
            int(h),
            f"+{h}",
            f"{h}\n",
            world.ids["readable"],
            "",
            None,
            "x",
            -1,
            2**70,
        ]
    )


def _values(world: World) -> st.SearchStrategy[Any]:
    run = world.runs["hidden"]
    scalars = st.one_of(
        _ids(world),
        st.sampled_from(
            [run, run.upper(), world.runs["readable"], ADMIN, world.user, "MANAGE", "experiment", True]
        ),
        st.text(max_size=20),
    )
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=3),
        st.dictionaries(st.sampled_from(["a", "run_id"]), scalars, max_size=2),
    )


_FIELDS = [
    "experiment_id",
    "experiment_ids",
    "experiment_name",
    "run_id",
    "run_uuid",
    "run_ids",
    "username",
    "password",
    "current_password",
    "is_admin",
    "permission",
    "resource_type",
    "resource_id",
    "name",
    "new_name",
    "key",
    "value",
    "path",
    "max_results",
    "filter",
]


@st.composite
def requests(draw: st.DrawFn, world: World) -> tuple[str, str, dict[str, Any], str]:
    template, method = draw(st.sampled_from(world.routes))
    h, run = world.ids["hidden"], world.runs["hidden"]
    fill = {
        "path": draw(
            st.sampled_from(
                [f"{h}/{run}/artifacts/a.txt", f"0{h}/{run}/artifacts/a.txt", f"{h}/x", "x/a.txt", f"{h}"]
            )
        ),
        "upload_id": "0123456789abcdef0123456789abcdef",
        "part_number": "1",
    }
    path = _PARAM.sub(lambda m: fill.get(m.group(1), "x"), template)
    fields = draw(st.dictionaries(st.sampled_from(_FIELDS), _values(world), max_size=4))
    who = draw(
        st.sampled_from(
            ["user", "user", "user", "anonymous", "wrong password", "bad token", "cookie without csrf"]
        )
    )
    if method == "GET":
        params = {
            k: (v if isinstance(v, str) else str(v))
            for k, v in fields.items()
            if v is not None and not isinstance(v, (list, dict))
        }
        return method, path, {"params": params}, who
    if method == "PUT" and "mlflow-artifacts" in path:
        return method, path, {"content": world.marker.encode() + b"-overwritten"}, who
    return method, path, {"json": fields}, who


@pytest.fixture(scope="module")
def session_cookie(server: ServerProcess, world: World) -> str:
    with client(server) as c:
        ok(c.post("/ajax-api/asynctrack/auth/login", json={"username": world.user, "password": PASSWORD}))
        return str(c.cookies["asynctrack_session"])


@pytest.mark.slow
def test_fuzz_routes_with_and_without_credentials(
    server: ServerProcess, world: World, session_cookie: str
) -> None:
    before = world.snapshot()
    headers = {
        "user": basic(world.user, PASSWORD),
        "anonymous": {},
        "wrong password": basic(world.user, PASSWORD + "!"),
        "bad token": {"Authorization": "Bearer atk_0123456789abcdef_" + "B" * 43},
        "cookie without csrf": {"Cookie": f"asynctrack_session={session_cookie}"},
    }
    with httpx.Client(base_url=server.url, timeout=60) as c:

        @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(st.data())
        def fuzz(data: st.DataObject) -> None:
            method, path, kwargs, who = data.draw(requests(world))
            response = c.request(method, path, headers=headers[who], **kwargs)
            assert response.status_code < 500 or response.status_code == 501, (
                method,
                path,
                kwargs,
                who,
                response.text,
            )
            assert world.marker not in response.text, (
                method,
                path,
                kwargs,
                who,
                "leaked the hidden experiment",
            )
            if who in ("anonymous", "wrong password", "bad token"):
                public = path in ("/health", "/login", "/login.js") or path.startswith("/static/")
                public = public or path in (
                    "/ajax-api/asynctrack/auth/login",
                    "/ajax-api/asynctrack/auth/logout",
                )
                assert public or response.status_code in (401, 303), (method, path, who, response.status_code)
            if (
                who == "cookie without csrf"
                and method != "GET"
                and not path.startswith("/ajax-api/asynctrack/auth/")
            ):
                # Refused either way: 403 for the missing token, or 401 once a drawn logout (allowed
                # without the token) has ended the session the cookie names.
                assert response.status_code in (400, 401, 403, 404, 405), (method, path, response.status_code)

        fuzz()
    assert world.snapshot() == before
