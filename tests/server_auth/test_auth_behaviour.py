"""``asynctrack server --auth`` beyond the matrix: filtered searches, creators' MANAGE, ids and bodies read
as the endpoints read them, tokens, password and admin changes taking effect at once, the UI's session
cookie and CSRF token, and a server that refuses to start without an admin."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from pathlib import Path

import anyio
import httpx
import pytest
from auth_helpers import (
    ADMIN,
    API,
    FORBIDDEN,
    PASSWORD,
    UNAUTHENTICATED,
    auth_server,
    basic,
    client,
    grant,
    new_experiment,
    new_run,
    new_user,
    ok,
    users_cli,
)
from servers import ServerProcess

from asynctrack.server.auth import SqliteAuthStore
from asynctrack.server.auth._secrets import new_token

UI = "/ajax-api/asynctrack/ui"


def _user_client(server: ServerProcess, admin: httpx.Client) -> tuple[str, httpx.Client]:
    name = new_user(admin)
    return name, client(server, basic(name, PASSWORD))


@pytest.mark.slow
def test_experiment_search_returns_only_readable_experiments_page_by_page(
    server: ServerProcess, admin: httpx.Client
) -> None:
    prefix = f"s{uuid.uuid4().hex[:8]}"
    ids = [
        ok(admin.post(API + "/experiments/create", json={"name": f"{prefix}-{i}"}))["experiment_id"]
        for i in range(9)
    ]
    name, c = _user_client(server, admin)
    hidden = set(ids[1::2])
    for experiment_id in hidden:
        grant(admin, name, experiment_id, "NO_PERMISSIONS")
    with c:
        for method in ("POST", "GET"):
            seen: list[str] = []
            token = None
            pages = 0
            while True:
                query = {
                    "max_results": 2,
                    "filter": f"name LIKE '{prefix}-%'",
                    **({"page_token": token} if token else {}),
                }
                if method == "POST":
                    page = ok(c.post(API + "/experiments/search", json=query))
                else:
                    page = ok(c.get(API + "/experiments/search", params=query))
                found = [e["experiment_id"] for e in page.get("experiments", [])]
                assert len(found) <= 2
                seen.extend(found)
                pages += 1
                token = page.get("next_page_token")
                if not token:
                    break
            assert sorted(seen, key=int) == sorted(set(ids) - hidden, key=int), method
            assert len(seen) == len(set(seen))
        rows = ok(c.get(UI + "/experiments", params={"q": prefix}))["experiments"]
        assert sorted(r["experiment_id"] for r in rows) == sorted(set(ids) - hidden)
        # A bad request is answered as without auth (the handler's own checks).
        bad = c.post(API + "/experiments/search", json={"max_results": 100000})
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_searching_runs_in_an_unreadable_experiment_is_refused(
    server: ServerProcess, admin: httpx.Client
) -> None:
    readable, hidden = new_experiment(admin), new_experiment(admin)
    new_run(admin, readable)
    new_run(admin, hidden)
    name, c = _user_client(server, admin)
    grant(admin, name, hidden, "NO_PERMISSIONS")
    with c:
        assert len(ok(c.post(API + "/runs/search", json={"experiment_ids": [readable]}))["runs"]) == 1
        for ids in ([hidden], [readable, hidden]):
            response = c.post(API + "/runs/search", json={"experiment_ids": ids})
            assert (response.status_code, response.text) == (403, FORBIDDEN)
            ui = c.post(UI + "/runs", json={"experiment_ids": ids})
            assert (ui.status_code, ui.text) == (403, FORBIDDEN)
        keys = c.get(UI + "/keys", params={"experiment_ids": f"{readable},{hidden}"})
        assert keys.status_code == 403


def test_experiment_ids_and_bodies_are_read_as_the_endpoints_read_them(
    server: ServerProcess, admin: httpx.Client
) -> None:
    hidden = new_experiment(admin)
    run_hidden = new_run(admin, hidden)
    name, c = _user_client(server, admin)
    grant(admin, name, hidden, "NO_PERMISSIONS")
    with c:
        mine = ok(c.post(API + "/experiments/create", json={"name": f"mine-{uuid.uuid4().hex}"}))[
            "experiment_id"
        ]
        run_mine = new_run(c, mine)
        # The store reads "0042", " 42" and 42 as experiment 42: so does the permission check.
        for spelled in (f"0{hidden}", f" {hidden}", int(hidden), f"{hidden}\n"):
            response = c.get(API + "/experiments/get", params={"experiment_id": str(spelled)})
            assert response.status_code == 403, spelled
            response = c.post(API + "/experiments/update", json={"experiment_id": spelled, "new_name": "x"})
            assert response.status_code == 403, spelled
        # Duplicate keys: the last one wins for the endpoint, and so for the check.
        body = f'{{"run_id": "{run_mine}", "run_id": "{run_hidden}", "key": "k", "value": "v"}}'
        response = c.post(API + "/runs/set-tag", content=body, headers={"Content-Type": "application/json"})
        assert (response.status_code, response.text) == (403, FORBIDDEN)
        body = f'{{"run_id": "{run_hidden}", "run_id": "{run_mine}", "key": "k", "value": "v"}}'
        ok(c.post(API + "/runs/set-tag", content=body, headers={"Content-Type": "application/json"}))
        # A JSON body sent as a JSON string (older clients): decoded again, for the endpoint and the check.
        double = json.dumps(json.dumps({"experiment_id": hidden}))
        response = c.post(
            API + "/experiments/delete", content=double, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 403
        # run_uuid is read when run_id is absent, as the endpoints do.
        response = c.get(API + "/runs/get", params={"run_uuid": run_hidden})
        assert response.status_code == 403
        assert (
            ok(c.get(API + "/runs/get", params={"run_uuid": run_mine}))["run"]["info"]["run_id"] == run_mine
        )
        # A missing field is MLflow's 400 before any permission is looked at.
        missing = c.post(API + "/runs/update", json={})
        assert missing.status_code == 400 and "Missing value for required parameter 'run_id'" in missing.text
        # get-by-name: a hidden experiment is refused, a missing one is MLflow's 404.
        hidden_name = ok(admin.get(API + "/experiments/get", params={"experiment_id": hidden}))["experiment"][
            "name"
        ]
        assert (
            c.get(API + "/experiments/get-by-name", params={"experiment_name": hidden_name}).status_code
            == 403
        )
        nothing = c.get(
            API + "/experiments/get-by-name", params={"experiment_name": "no-such-" + uuid.uuid4().hex}
        )
        assert nothing.status_code == 404 and nothing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_creator_gets_manage(server: ServerProcess, admin: httpx.Client) -> None:
    name, c = _user_client(server, admin)
    with c:
        mine = ok(c.post(API + "/experiments/create", json={"name": f"c-{uuid.uuid4().hex}"}))[
            "experiment_id"
        ]
        got = ok(
            c.get(API + "/experiments/permissions/get", params={"experiment_id": mine, "username": name})
        )
        assert got["experiment_permission"]["permission"] == "MANAGE"
        other = new_user(admin)
        ok(
            c.post(
                API + "/experiments/permissions/create",
                json={"experiment_id": mine, "username": other, "permission": "EDIT"},
            )
        )
        ok(c.post(API + "/experiments/delete", json={"experiment_id": mine}))


@pytest.mark.slow
def test_tokens_work_until_revoked_or_expired(
    server: ServerProcess, admin: httpx.Client, auth_tmp: Path
) -> None:
    name = new_user(admin)
    made = users_cli(auth_tmp, "tokens", "create", name, "--name", "ci")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("atk_") and "shown once" in made.stderr
    with client(server, {"Authorization": f"Bearer {token}"}) as c:
        assert ok(c.get(API + "/users/current"))["user"]["username"] == name
        listed = users_cli(auth_tmp, "tokens", "list", name, "--json")
        assert [t["name"] for t in json.loads(listed.stdout)] == ["ci"]
        assert token.split("_", 2)[2] not in listed.stdout  # never the secret (which may hold "_")
        token_id = token.split("_")[1]
        assert users_cli(auth_tmp, "tokens", "revoke", name, token_id).returncode == 0
        assert (c.get(API + "/users/current").status_code, c.get(API + "/users/current").text) == (
            401,
            UNAUTHENTICATED,
        )

    # The store opens its file synchronously (as the server does at start-up), so not on the test's loop.
    store = SqliteAuthStore(str(auth_tmp / "asynctrack-auth.db"))

    async def expired() -> str:
        try:
            token_id, full, secret_hash = new_token()
            await store.create_token(name, token_id, "old", secret_hash, expires_at=1)
            return full
        finally:
            await store.aclose()

    with client(server, {"Authorization": f"Bearer {anyio.run(expired)}"}) as c:
        assert c.get(API + "/users/current").status_code == 401


def test_password_admin_and_deletion_take_effect_at_once(server: ServerProcess, admin: httpx.Client) -> None:
    name, c = _user_client(server, admin)
    with c:
        ok(c.get(API + "/users/current"))  # verified, and remembered by the worker
        assert (
            c.post(
                API + "/users/create", json={"username": "z" + uuid.uuid4().hex, "password": PASSWORD}
            ).status_code
            == 403
        )
        ok(admin.patch(API + "/users/update-admin", json={"username": name, "is_admin": True}))
        ok(c.post(API + "/users/create", json={"username": "z" + uuid.uuid4().hex, "password": PASSWORD}))
        ok(
            admin.patch(
                API + "/users/update-password", json={"username": name, "password": "a-new-password-1"}
            )
        )
        assert c.get(API + "/users/current").status_code == 401
    with client(server, basic(name, "a-new-password-1")) as c:
        ok(c.get(API + "/users/current"))
        ok(
            c.patch(
                API + "/users/update-password",
                json={
                    "username": name,
                    "password": "third-password-1",
                    "current_password": "a-new-password-1",
                },
            )
        )
        assert c.get(API + "/users/current").status_code == 401
    with client(server, basic(name, "third-password-1")) as c:
        ok(c.get(API + "/users/current"))
        ok(admin.request("DELETE", API + "/users/delete", json={"username": name}))
        assert c.get(API + "/users/current").status_code == 401


def test_ui_login_session_cookie_and_csrf(server: ServerProcess, admin: httpx.Client) -> None:
    name = new_user(admin)
    with client(server) as c:
        wrong = c.post(
            "/ajax-api/asynctrack/auth/login", json={"username": name, "password": "nope-nope-nope"}
        )
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        assert (
            c.post(
                "/ajax-api/asynctrack/auth/login", data={"username": name, "password": PASSWORD}
            ).status_code
            == 400
        )
        login = c.post("/ajax-api/asynctrack/auth/login", json={"username": name, "password": PASSWORD})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"]
        assert cookie.startswith("asynctrack_session=")
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/"):
            assert attribute.lower() in cookie.lower(), cookie
        assert "secure" not in cookie.lower()  # plain HTTP here; set behind HTTPS
        csrf = login.json()["csrf_token"]
        assert ok(c.get("/ajax-api/asynctrack/auth/session"))["csrf_token"] == csrf
        assert c.get("/", follow_redirects=False).status_code == 200
        ok(c.get(UI + "/experiments"))
        create = {"name": f"ui-{uuid.uuid4().hex}"}
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            refused = c.post("/ajax-api/2.0/mlflow/experiments/create", json=create, headers=headers)
            assert refused.status_code == 403 and "CSRF" in refused.text
        ok(c.post("/ajax-api/2.0/mlflow/experiments/create", json=create, headers={"X-CSRF-Token": csrf}))
        # An Authorization header is judged alone: a wrong one is not rescued by the cookie.
        bad = c.get(UI + "/experiments", headers=basic(name, "wrong-password-1"))
        assert bad.status_code == 401
        ok(c.post("/ajax-api/asynctrack/auth/logout", json={}))
        assert c.get(UI + "/experiments").status_code == 401
        assert c.get("/", follow_redirects=False).status_code == 303


def test_a_password_change_ends_sessions(server: ServerProcess, admin: httpx.Client) -> None:
    name = new_user(admin)
    with client(server) as c:
        ok(c.post("/ajax-api/asynctrack/auth/login", json={"username": name, "password": PASSWORD}))
        ok(c.get(UI + "/experiments"))
        ok(
            admin.patch(
                API + "/users/update-password", json={"username": name, "password": "changed-password-1"}
            )
        )
        response = c.get(UI + "/experiments")
        # The UI's API leaves out the Basic challenge: the page goes to /login, with no browser dialog.
        assert response.status_code == 401 and "www-authenticate" not in response.headers


def test_no_admin_no_start(tmp_path: Path) -> None:
    server = auth_server(tmp_path)
    del server.env["ASYNCTRACK_AUTH_ADMIN_PASSWORD"]
    server.env.pop("MLFLOW_AUTH_ADMIN_PASSWORD", None)
    with pytest.raises(RuntimeError, match="needs a first admin user"):
        server.start()


def test_a_foreign_auth_db_is_refused_and_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "other.db"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    before = hashlib.sha256(foreign.read_bytes()).hexdigest()
    server = auth_server(tmp_path, "--auth-db", str(foreign))
    with pytest.raises(RuntimeError, match="asynctrack did not create"):
        server.start()
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == before


@pytest.mark.slow  # a dozen console runs (~20 s)
def test_users_cli(server: ServerProcess, auth_tmp: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    made = users_cli(auth_tmp, "create", name, "--password-stdin", stdin="cli-password-1234\n")
    assert made.returncode == 0 and name in made.stdout, made.stderr
    again = users_cli(auth_tmp, "create", name, "--password-stdin", stdin="cli-password-1234\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert users_cli(auth_tmp, "grant", name, "7", "edit").returncode == 0
    listed = json.loads(users_cli(auth_tmp, "list", "--json").stdout)
    assert {"username": name, "is_admin": False, "permissions": {"7": "EDIT"}} in listed
    with client(server, basic(name, "cli-password-1234")) as c:
        got = ok(
            c.get(
                "/api/3.0/mlflow/users/permissions/get",
                params={"username": name, "resource_type": "experiment", "resource_id": "7"},
            )
        )
        assert got == {"allowed": True, "permission": "EDIT"}
    assert users_cli(auth_tmp, "revoke", name, "7").returncode == 0
    gone = users_cli(auth_tmp, "revoke", name, "7")
    assert gone.returncode == 1 and "not found" in gone.stderr
    changed = users_cli(auth_tmp, "set-password", name, "--password-stdin", stdin="another-password-1\n")
    assert changed.returncode == 0
    with client(server, basic(name, "another-password-1")) as c:
        ok(c.get(API + "/users/current"))
    for args, message in (
        (("grant", name, "7", "OWNER"), "Invalid permission 'OWNER'"),
        (("grant", name, "seven", "READ"), "Invalid experiment ID 'seven'"),
        (("grant", "nobody-" + name, "7", "READ"), "not found"),
        (("tokens", "revoke", name, "ffffffffffffffff"), "not found"),
        (("delete", "nobody-" + name), "not found"),
    ):
        failed = users_cli(auth_tmp, *args)
        assert failed.returncode == 1 and message in failed.stderr, (args, failed.stderr)
    short = users_cli(auth_tmp, "create", "x" + name, "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    nodb = users_cli(auth_tmp, "--auth-db", str(auth_tmp / "nothing.db"), "list")
    assert nodb.returncode == 1 and "No auth database" in nodb.stderr
    assert not (auth_tmp / "nothing.db").exists()
    assert users_cli(auth_tmp, "delete", name).returncode == 0
    assert ADMIN in users_cli(auth_tmp, "list").stdout


@pytest.mark.slow  # a multi-worker server (~20 s)
def test_changes_reach_every_worker(tmp_path: Path) -> None:
    """Each worker remembers verified passwords; a change made through any worker (or the CLI) must still
    take effect in all of them at the next request."""
    from auth_helpers import ADMIN_PASSWORD
    from servers import running

    server = auth_server(tmp_path)
    server.argv[server.argv.index("--workers") + 1] = "3"
    with running(server), client(server, basic(ADMIN, ADMIN_PASSWORD)) as admin:
        name = new_user(admin)
        with client(server, basic(name, PASSWORD)) as c:
            for _ in range(30):  # new connections land on every worker
                ok(c.get(API + "/users/current", headers={"Connection": "close"}))
            ok(
                admin.patch(
                    API + "/users/update-password", json={"username": name, "password": "rotated-password-1"}
                )
            )
            statuses = {
                c.get(API + "/users/current", headers={"Connection": "close"}).status_code for _ in range(30)
            }
            assert statuses == {401}
        with client(server, basic(name, "rotated-password-1")) as c:
            for _ in range(10):
                ok(c.get(API + "/users/current", headers={"Connection": "close"}))
            made = users_cli(tmp_path, "delete", name)
            assert made.returncode == 0, made.stderr
            statuses = {
                c.get(API + "/users/current", headers={"Connection": "close"}).status_code for _ in range(30)
            }
            assert statuses == {401}


@pytest.mark.slow
def test_artifacts_only_server_with_auth(tmp_path: Path) -> None:
    """--artifacts-only has no tracking store: its tracking endpoints still answer their 503 to users, and
    the artifact API is judged by the path's experiment as usual."""
    from auth_helpers import ADMIN_PASSWORD
    from servers import free_port, running

    port = free_port()
    server = auth_server(tmp_path)
    argv = server.argv
    argv[argv.index("--port") + 1] = str(port)
    uri_at = argv.index("--backend-store-uri")
    del argv[uri_at : uri_at + 2]
    argv += ["--artifacts-only", "--auth-db", str(tmp_path / "auth.db")]
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    with running(server), client(server, basic(ADMIN, ADMIN_PASSWORD)) as admin:
        name = new_user(admin)
        ok(
            admin.post(
                API + "/experiments/permissions/create",
                json={"experiment_id": "3", "username": name, "permission": "NO_PERMISSIONS"},
            )
        )
        with client(server, basic(name, PASSWORD)) as c:
            for method, path, kwargs in (
                ("GET", API + "/runs/get", {"params": {"run_id": "a" * 32}}),
                ("POST", API + "/experiments/search", {"json": {}}),
                ("POST", API + "/experiments/create", {"json": {"name": "x"}}),
            ):
                response = c.request(method, path, **kwargs)
                assert response.status_code == 503 and response.json()["error_code"] == "FEATURE_DISABLED", (
                    path
                )
            assert c.put("/api/2.0/mlflow-artifacts/artifacts/3/x.txt", content=b"x").status_code == 403
            ok(admin.put("/api/2.0/mlflow-artifacts/artifacts/4/x.txt", content=b"x"))
            assert c.get("/api/2.0/mlflow-artifacts/artifacts/4/x.txt").content == b"x"
            assert c.put("/api/2.0/mlflow-artifacts/artifacts/4/y.txt", content=b"y").status_code == 403
