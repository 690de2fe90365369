"""Per-model permissions on ``asynctrack server --auth`` (MLflow's basic-auth semantics for the model
registry): a real server, real users over HTTP. The creator gets MANAGE; other users have the default
permission (READ here) unless granted READ / EDIT / MANAGE / NO_PERMISSIONS on the model; every registry
endpoint checks the capability MLflow's auth app checks; grants follow a rename and go with a delete;
searches return only readable models and their versions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from auth_helpers import (
    ADMIN,
    ADMIN_PASSWORD,
    API,
    FORBIDDEN,
    PASSWORD,
    auth_server,
    basic,
    client,
    new_user,
    ok,
)
from servers import ServerProcess, running

RM, MV = API + "/registered-models", API + "/model-versions"


def _user(server: ServerProcess, admin: httpx.Client) -> tuple[str, httpx.Client]:
    name = new_user(admin)
    return name, client(server, basic(name, PASSWORD))


def _model(c: httpx.Client, prefix: str = "m") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    ok(c.post(RM + "/create", json={"name": name}))
    return name


def _perm(c: httpx.Client, action: str, **fields: str) -> httpx.Response:
    method = {"create": "POST", "get": "GET", "update": "PATCH", "delete": "DELETE"}[action]
    if method == "GET":
        return c.get(RM + "/permissions/get", params=fields)
    return c.request(method, RM + f"/permissions/{action}", json=fields)


def _denied(response: httpx.Response) -> None:
    assert (response.status_code, response.text) == (403, FORBIDDEN)


def _calls(name: str) -> dict[str, tuple[str, str, dict[str, object]]]:
    """One call per registry capability: (method, path, fields)."""
    return {
        "get": ("GET", RM + "/get", {"name": name}),
        "latest": ("POST", RM + "/get-latest-versions", {"name": name}),
        "get-version": ("GET", MV + "/get", {"name": name, "version": "1"}),
        "download-uri": ("GET", MV + "/get-download-uri", {"name": name, "version": "1"}),
        "by-alias": ("GET", RM + "/alias", {"name": name, "alias": "champion"}),
        "update": ("PATCH", RM + "/update", {"name": name, "description": "d"}),
        "set-tag": ("POST", RM + "/set-tag", {"name": name, "key": "k", "value": "v"}),
        "delete-tag": ("DELETE", RM + "/delete-tag", {"name": name, "key": "k"}),
        "create-version": ("POST", MV + "/create", {"name": name, "source": "s3://bucket/other"}),
        "update-version": ("PATCH", MV + "/update", {"name": name, "version": "1", "description": "d"}),
        "stage": ("POST", MV + "/transition-stage", {"name": name, "version": "1", "stage": "Staging"}),
        "set-version-tag": (
            "POST",
            MV + "/set-tag",
            {"name": name, "version": "1", "key": "k", "value": "v"},
        ),
        "set-alias": ("POST", RM + "/alias", {"name": name, "alias": "champion", "version": "1"}),
        "delete-version-tag": ("DELETE", MV + "/delete-tag", {"name": name, "version": "1", "key": "k"}),
        "delete-alias": ("DELETE", RM + "/alias", {"name": name, "alias": "champion"}),
    }


READS = {"get", "latest", "get-version", "download-uri", "by-alias"}
UPDATES = {
    "update",
    "set-tag",
    "delete-tag",
    "create-version",
    "update-version",
    "stage",
    "set-version-tag",
    "set-alias",
}
DELETES = {"delete-version-tag", "delete-alias"}


def _call(c: httpx.Client, call: tuple[str, str, dict[str, object]]) -> httpx.Response:
    method, path, fields = call
    if method == "GET":
        return c.get(path, params=fields)
    return c.request(method, path, json=fields)


def _setup(owner: httpx.Client) -> str:
    """A model of ``owner``'s with version 1 (tagged), aliased ``champion``."""
    name = _model(owner)
    ok(owner.post(MV + "/create", json={"name": name, "source": "s3://bucket/m"}))
    ok(owner.post(RM + "/alias", json={"name": name, "alias": "champion", "version": "1"}))
    ok(owner.post(MV + "/set-tag", json={"name": name, "version": "1", "key": "k", "value": "v"}))
    return name


@pytest.mark.parametrize("level", ["NO_PERMISSIONS", "READ", "EDIT", "MANAGE"])
def test_every_registry_endpoint_checks_the_model_permission(
    server: ServerProcess, admin: httpx.Client, level: str
) -> None:
    owner_name, owner = _user(server, admin)
    other_name, other = _user(server, admin)
    with owner, other:
        name = _setup(owner)
        assert ok(_perm(owner, "get", name=name, username=owner_name))["registered_model_permission"] == {
            "name": name,
            "user_id": ok(admin.get(API + "/users/get", params={"username": owner_name}))["user"]["id"],
            "permission": "MANAGE",
        }
        ok(_perm(owner, "create", name=name, username=other_name, permission=level))
        allowed = {
            "NO_PERMISSIONS": set(),
            "READ": READS,
            "EDIT": READS | UPDATES,
            "MANAGE": READS | UPDATES | DELETES,
        }[level]
        for what, call in _calls(name).items():
            response = _call(other, call)
            if what in allowed:
                # Allowed: the store answers (a missing alias or tag after an earlier step is fine).
                assert response.status_code != 403, (level, what, response.text)
                assert response.status_code in (200, 400, 404), (level, what, response.text)
            else:
                _denied(response)
        if level != "MANAGE":
            _denied(_perm(other, "get", name=name, username=other_name))
            _denied(other.request("DELETE", RM + "/delete", json={"name": name}))
            _denied(other.request("DELETE", MV + "/delete", json={"name": name, "version": "1"}))
        else:
            assert (
                ok(_perm(other, "get", name=name, username=other_name))["registered_model_permission"][
                    "permission"
                ]
                == "MANAGE"
            )
            ok(other.request("DELETE", MV + "/delete", json={"name": name, "version": "1"}))
            ok(other.request("DELETE", RM + "/delete", json={"name": name}))


def test_searches_return_only_readable_models_and_their_versions(
    server: ServerProcess, admin: httpx.Client
) -> None:
    owner_name, owner = _user(server, admin)
    reader_name, reader = _user(server, admin)
    prefix = f"s{uuid.uuid4().hex[:8]}"
    with owner, reader:
        names = [_model(owner, f"{prefix}-{i}") for i in range(7)]
        for n in names:
            ok(owner.post(MV + "/create", json={"name": n, "source": "s3://bucket/x"}))
        hidden = set(names[1::2])
        for n in hidden:
            ok(_perm(owner, "create", name=n, username=reader_name, permission="NO_PERMISSIONS"))
        seen: list[str] = []
        token = None
        while True:
            params = {
                "max_results": 2,
                "filter": f"name LIKE '{prefix}-%'",
                **({"page_token": token} if token else {}),
            }
            page = ok(reader.get(RM + "/search", params=params))
            found = [m["name"] for m in page.get("registered_models", [])]
            assert len(found) <= 2
            seen.extend(found)
            token = page.get("next_page_token")
            if not token:
                break
        assert sorted(seen) == sorted(set(names) - hidden)
        versions = ok(reader.get(MV + "/search", params={"filter": f"name LIKE '{prefix}-%'"}))
        assert sorted(v["name"] for v in versions["model_versions"]) == sorted(set(names) - hidden)
        everything = ok(owner.get(MV + "/search", params={"filter": f"name LIKE '{prefix}-%'"}))
        assert len(everything["model_versions"]) == 7
        for n in hidden:
            _denied(reader.get(RM + "/get", params={"name": n}))
            _denied(
                reader.get("/model-versions/get-artifact", params={"name": n, "version": "1", "path": "x"})
            )


def test_grants_follow_a_rename_and_go_with_a_delete(server: ServerProcess, admin: httpx.Client) -> None:
    owner_name, owner = _user(server, admin)
    editor_name, editor = _user(server, admin)
    with owner, editor:
        name = _model(owner)
        ok(_perm(owner, "create", name=name, username=editor_name, permission="EDIT"))
        new_name = name + "-renamed"
        ok(editor.post(RM + "/rename", json={"name": name, "new_name": new_name}))  # EDIT may rename
        got = ok(_perm(owner, "get", name=new_name, username=editor_name))
        assert got["registered_model_permission"]["permission"] == "EDIT"
        assert (
            ok(_perm(owner, "get", name=new_name, username=owner_name))["registered_model_permission"][
                "permission"
            ]
            == "MANAGE"
        )
        ok(editor.patch(RM + "/update", json={"name": new_name, "description": "still mine to edit"}))
        _denied(editor.request("DELETE", RM + "/delete", json={"name": new_name}))
        ok(owner.request("DELETE", RM + "/delete", json={"name": new_name}))
        # A new model of that name (made by the editor) starts with no old grants: the editor created it.
        ok(editor.post(RM + "/create", json={"name": new_name}))
        assert (
            ok(_perm(editor, "get", name=new_name, username=editor_name))["registered_model_permission"][
                "permission"
            ]
            == "MANAGE"
        )
        missing = _perm(editor, "get", name=new_name, username=owner_name)
        assert missing.status_code == 404
        assert (missing.json()["error_code"], missing.json()["message"]) == (
            "RESOURCE_DOES_NOT_EXIST",
            f"Registered model permission with name={new_name} and username={owner_name} not found",
        )


def test_permission_endpoints_answer_as_mlflow(server: ServerProcess, admin: httpx.Client) -> None:
    owner_name, owner = _user(server, admin)
    other_name, other = _user(server, admin)
    with owner, other:
        name = _model(owner)
        created = ok(_perm(owner, "create", name=name, username=other_name, permission="READ"))
        assert created["registered_model_permission"]["permission"] == "READ"
        again = _perm(owner, "create", name=name, username=other_name, permission="READ")
        assert again.status_code == 400 and again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
        bad = _perm(owner, "update", name=name, username=other_name, permission="WRITE")
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "Invalid permission 'WRITE'" in bad.json()["message"]
        nobody = _perm(owner, "create", name=name, username="no-such-user", permission="READ")
        assert nobody.status_code == 404 and nobody.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        ok(_perm(owner, "update", name=name, username=other_name, permission="MANAGE"))
        ok(_perm(other, "update", name=name, username=owner_name, permission="READ"))  # MANAGE may regrant
        _denied(owner.patch(RM + "/update", json={"name": name, "description": "x"}))
        ok(_perm(other, "delete", name=name, username=owner_name))
        gone = _perm(other, "delete", name=name, username=owner_name)
        assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        # Back to the default (READ): reads pass, changes do not; an admin passes everything.
        ok(owner.get(RM + "/get", params={"name": name}))
        _denied(owner.patch(RM + "/update", json={"name": name, "description": "x"}))
        ok(admin.patch(RM + "/update", json={"name": name, "description": "admin"}))
        ok(_perm(admin, "get", name=name, username=other_name))


@pytest.fixture(scope="module")
def closed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp: Path = tmp_path_factory.mktemp("auth-closed")
    with running(auth_server(tmp, "--default-permission", "NO_PERMISSIONS")) as srv:
        yield srv


@pytest.mark.slow
def test_default_permission_applies_to_models_without_a_grant(closed_server: ServerProcess) -> None:
    with client(closed_server, basic(ADMIN, ADMIN_PASSWORD)) as admin:
        owner_name, owner = _user(closed_server, admin)
        other_name, other = _user(closed_server, admin)
        with owner, other:
            name = _model(owner)  # the creator's MANAGE lifts the NO_PERMISSIONS default for them
            ok(owner.post(MV + "/create", json={"name": name, "source": "s3://bucket/m"}))
            _denied(other.get(RM + "/get", params={"name": name}))
            assert name not in [m["name"] for m in ok(other.get(RM + "/search")).get("registered_models", [])]
            assert ok(other.get(MV + "/search", params={"filter": f"name = '{name}'"})) == {}
            # A model that does not exist is judged by the default too (no answer says whether it exists).
            _denied(other.get(RM + "/get", params={"name": "no-such-model"}))
            ok(_perm(owner, "create", name=name, username=other_name, permission="READ"))
            assert ok(other.get(RM + "/get", params={"name": name}))["registered_model"]["name"] == name
