"""The model registry through ``MlflowClient`` and the fluent API on the embedded SQLite store: MLflow's
semantics (numbering, stages, aliases, deletion, renames), searches, errors and ``models:/`` URIs."""

from __future__ import annotations

import os

import pytest

import asynctrack as mlflow
from asynctrack import MlflowClient
from asynctrack.exceptions import MlflowException


def _code(fn: object, *args: object) -> tuple[str, str]:
    with pytest.raises(MlflowException) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.error_code, info.value.message


def test_models_versions_stages_and_aliases(tmp_tracking: str) -> None:
    c = MlflowClient()
    rm = c.create_registered_model("m", tags={"team": "a"}, description="first")
    assert (rm.name, rm.description, rm.tags, rm.aliases, rm.latest_versions) == (
        "m",
        "first",
        {"team": "a"},
        {},
        [],
    )
    v1 = c.create_model_version("m", "s3://bucket/m1", "r1", tags={"k": "v"})
    v2 = c.create_model_version("m", "s3://bucket/m2")
    assert (v1.version, v1.current_stage, v1.status, v1.tags, v1.run_id) == (
        "1",
        "None",
        "READY",
        {"k": "v"},
        "r1",
    )
    assert (v2.version, v2.run_id) == ("2", None)
    c.transition_model_version_stage("m", 1, "production")
    c.transition_model_version_stage("m", "2", "Production", archive_existing_versions=True)
    assert c.get_model_version("m", 1).current_stage == "Archived"
    assert [(v.version, v.current_stage) for v in c.get_latest_versions("m", ["Production"])] == [
        ("2", "Production")
    ]
    c.set_registered_model_alias("m", "champion", 2)
    assert c.get_model_version_by_alias("m", "champion").version == "2"
    assert c.get_model_version("m", 2).aliases == ["champion"]
    assert c.get_registered_model("m").aliases == {"champion": "2"}
    assert c.get_model_version_by_alias("m", "LATEST").version == "2"
    c.delete_model_version("m", 2)  # takes its alias with it; its number is not reused
    assert _code(c.get_model_version_by_alias, "m", "champion") == (
        "INVALID_PARAMETER_VALUE",
        "Registered model alias champion not found.",
    )
    assert c.create_model_version("m", "s3://bucket/m3").version == "3"
    assert _code(c.get_model_version, "m", 2) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Model Version (name=m, version=2) not found",
    )
    c.rename_registered_model("m", "m2")
    assert [v.version for v in mlflow.search_model_versions(filter_string="name = 'm2'")] == ["3", "1"]
    c.update_model_version("m2", 1, "described")
    c.set_model_version_tag("m2", 1, "x", 5)
    c.delete_model_version_tag("m2", "1", "k")
    got = c.get_model_version("m2", 1)
    assert (got.description, got.tags) == ("described", {"x": "5"})
    c.delete_registered_model("m2")
    assert _code(c.get_registered_model, "m2") == (
        "RESOURCE_DOES_NOT_EXIST",
        "Registered Model with name=m2 not found",
    )


def test_errors_have_mlflow_codes_and_messages(tmp_tracking: str) -> None:
    c = MlflowClient()
    c.create_registered_model("m")
    assert _code(c.create_registered_model, "m") == (
        "RESOURCE_ALREADY_EXISTS",
        "Registered Model (name=m) already exists.",
    )
    assert (
        _code(c.create_registered_model, "a/b")[1]
        == "Invalid model name 'a/b'. Names cannot contain '/' or ':'."
    )
    assert _code(c.create_model_version, "nope", "s3://x")[0] == "RESOURCE_DOES_NOT_EXIST"
    c.create_model_version("m", "s3://x")
    assert _code(c.set_registered_model_alias, "m", "latest", 1)[1] == (
        "'latest' alias name (case insensitive) is reserved."
    )
    assert _code(c.set_registered_model_alias, "m", "v2", 1)[1] == "Version alias name 'v2' is reserved."
    assert _code(c.set_registered_model_alias, "m", "a b", 1)[0] == "INVALID_PARAMETER_VALUE"
    assert _code(c.transition_model_version_stage, "m", 1, "Gold")[1] == (
        "Invalid Model Version stage: Gold. Value must be one of None, Staging, Production, Archived."
    )
    assert _code(c.transition_model_version_stage, "m", 1, "Archived", True)[0] == "INVALID_PARAMETER_VALUE"
    assert _code(c.get_model_version, "m", "one")[1] == "Parameter 'version' must be an integer, got 'one'."
    assert _code(c.search_model_versions, "version_number = 1.5")[1] == (
        "Invalid value for numeric attribute 'version_number': 1.5"
    )
    assert _code(c.search_registered_models, "run_id = 'x'")[1] == (
        "Invalid attribute key 'run_id' specified. Valid keys are '{'name'}'"
    )
    assert _code(c.search_model_versions, "tags.k > 'x'")[1] == "Invalid comparator for tag: >"
    assert _code(c.search_registered_models, None, 1001)[0] == "INVALID_PARAMETER_VALUE"


def test_searches_filter_order_and_page(tmp_tracking: str) -> None:
    c = MlflowClient()
    for i in range(5):
        c.create_registered_model(f"model-{i}", tags={"parity": "even" if i % 2 == 0 else "odd"})
        for j in range(i + 1):
            c.create_model_version(f"model-{i}", f"s3://b/{i}/{j}", run_id=f"run{j}", tags={"j": str(j)})
    names = [m.name for m in mlflow.search_registered_models(filter_string="tags.parity = 'even'")]
    assert names == ["model-0", "model-2", "model-4"]
    assert [m.name for m in c.search_registered_models("name ILIKE 'MODEL-%'", order_by=["name DESC"])][
        :2
    ] == [
        "model-4",
        "model-3",
    ]
    assert [m.name for m in c.search_registered_models("name IN ('model-1', 'model-3')")] == [
        "model-1",
        "model-3",
    ]
    versions = c.search_model_versions(
        "version_number >= 4 AND run_id != 'run4'", order_by=["name", "version_number"]
    )
    assert [(v.name, v.version) for v in versions] == [("model-3", "4"), ("model-4", "4")]
    assert [v.source for v in c.search_model_versions("source_path LIKE '%/2/1' AND tags.j = '1'")] == [
        "s3://b/2/1"
    ]
    pages, token, seen = 0, None, []
    while True:
        page = c.search_model_versions(
            "", max_results=4, order_by=["creation_timestamp ASC"], page_token=token
        )
        seen += [(v.name, v.version) for v in page]
        pages += 1
        token = page.token
        if not token:
            break
    assert pages == 4 and len(seen) == 15 and len(set(seen)) == 15
    assert c.search_model_versions("run_id IN ('run0')", max_results=100).token is None


def test_register_model_and_models_uris(tmp_tracking: str, tmp_path: object) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("flavors: {}\n", "model/MLmodel")
        mlflow.log_text("weights", "model/data.txt")
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", "reg", tags={"from": "run"})
    assert (mv.name, mv.version, mv.run_id, mv.tags) == ("reg", "1", run.info.run_id, {"from": "run"})
    assert mv.source == f"{run.info.artifact_uri}/model"
    c = MlflowClient()
    c.set_registered_model_alias("reg", "champion", 1)
    for uri in ("models:/reg/1", "models:/reg@champion", "models:/reg/latest", "models:/reg/None"):
        local = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path) + "/" + uri.replace("/", "_"))
        assert sorted(os.listdir(local)) == ["MLmodel", "data.txt"], uri
    for uri in ("models:/reg/1", "models:/reg@champion", "models:/reg/latest/", "models:/reg/Production"):
        if uri.endswith("Production"):
            c.transition_model_version_stage("reg", 1, "Production")
        listed = mlflow.artifacts.list_artifacts(uri)
        assert [(f.path, f.is_dir) for f in listed] == [("MLmodel", False), ("data.txt", False)], uri
    nested = mlflow.artifacts.list_artifacts("models:/reg@champion/data.txt")
    assert nested == []  # a file, as MLflow lists one
    with pytest.raises(MlflowException, match="Registered model alias nope not found"):
        mlflow.artifacts.list_artifacts("models:/reg@nope")
    copy = mlflow.register_model("models:/reg@champion", "reg2")
    assert (copy.source, copy.run_id) == ("models:/reg/1", run.info.run_id)
    assert c.get_model_version_download_uri("reg2", 1) == f"{run.info.artifact_uri}/model"
    with pytest.raises(MlflowException, match="Unable to find a logged_model"):
        mlflow.register_model(f"runs:/{run.info.run_id}/missing", "reg")


def test_prompts_are_not_models_and_bad_model_uris_say_so(tmp_tracking: str) -> None:
    c = MlflowClient()
    store = c._registry()[1]
    p = c._pipeline()
    p.call(store.create_registered_model, "a-prompt", [("mlflow.prompt.is_prompt", "true")], None)
    c.create_registered_model("a-model")
    assert [m.name for m in c.search_registered_models()] == ["a-model"]
    assert [m.name for m in c.search_registered_models("tags.`mlflow.prompt.is_prompt` = 'true'")] == [
        "a-prompt"
    ]
    assert _code(c.get_registered_model, "a-prompt") == (
        "RESOURCE_DOES_NOT_EXIST",
        "Registered Model with name='a-prompt' not found.",
    )
    assert _code(c.create_registered_model, "x", {"mlflow.prompt.is_prompt": "true"})[1] == (
        "Prompts cannot be registered as models."
    )
    for uri in ("models:/", "models:/a/b/c", "models:/a@", "models:/a/ "):
        with pytest.raises(MlflowException, match="Not a proper models:/ URI"):
            mlflow.artifacts.download_artifacts(uri)
    with pytest.raises(MlflowException, match="No versions of model with name 'a-model'"):
        mlflow.artifacts.download_artifacts("models:/a-model/latest")


def test_an_order_by_that_cannot_be_hashed_gets_mlflows_error(tmp_tracking: str) -> None:
    """The searches cache their parsed order_by; a value the cache cannot hold is still parsed and refused
    with INVALID_PARAMETER_VALUE, not a TypeError from the cache."""
    c = MlflowClient()
    for search in (c.search_model_versions, c.search_registered_models):
        code, message = _code(lambda s=search: s(order_by=[["name"]]))
        assert code == "INVALID_PARAMETER_VALUE"
        assert "['name']" in message


def test_version_searches_on_several_tags_answer_as_computed(tmp_tracking: str) -> None:
    """Tag clauses (the first joined from its index range, the others as membership), with attribute
    clauses, every comparator, each order and paging: the same versions as computed here from what was
    created, in the same order."""
    c = MlflowClient()
    made: list[tuple[str, int, dict[str, str]]] = []
    for i in range(6):
        name = f"tagged-{i}"
        c.create_registered_model(name)
        for v in range(1, 5):
            tags = {"quality": ("good", "ok", "Good")[(i + v) % 3], "team": f"t{v % 2}"}
            if v == 2:
                tags["extra"] = "yes"
            c.create_model_version(name, f"s3://b/{name}/{v}", run_id=f"run{v}", tags=tags)
            made.append((name, v, tags))
    c.delete_model_version("tagged-0", "1")  # deleted versions are never found
    live = [m for m in made if (m[0], m[1]) != ("tagged-0", 1)]
    cases = {
        "tags.quality = 'good'": lambda t: t["quality"] == "good",
        "tags.quality = 'good' AND tags.team = 't1'": lambda t: t["quality"] == "good" and t["team"] == "t1",
        "tags.team = 't0' AND tags.quality != 'ok'": lambda t: t["team"] == "t0" and t["quality"] != "ok",
        "tags.quality LIKE 'G%'": lambda t: t["quality"].startswith("G"),
        "tags.quality ILIKE 'g%' AND tags.extra = 'yes'": lambda t: (
            t["quality"] in ("good", "Good") and t.get("extra") == "yes"
        ),
        "tags.team = 't9'": lambda t: False,
    }
    for flt, keep in cases.items():
        for name_clause, name_ok in (
            ("", lambda n: True),
            (" AND name LIKE 'tagged-1%'", lambda n: n == "tagged-1"),
        ):
            want = sorted(
                ((n, v) for n, v, t in live if keep(t) and name_ok(n)), key=lambda nv: (nv[0], -nv[1])
            )
            got = c.search_model_versions(flt + name_clause, order_by=["name ASC", "version_number DESC"])
            assert [(v.name, int(v.version)) for v in got] == want, flt + name_clause
            assert all(
                v.tags == dict(next(t for n, x, t in live if (n, x) == (v.name, int(v.version)))) for v in got
            )
            paged, token = [], None
            while True:
                page = c.search_model_versions(
                    flt + name_clause, max_results=3, order_by=["version_number ASC"], page_token=token
                )
                paged += [(v.name, int(v.version)) for v in page]
                token = page.token
                if not token:
                    break
            assert sorted(paged) == sorted(want) and len(paged) == len(set(paged))
            assert [v for _, v in paged] == sorted(v for _, v in paged)


def test_a_filter_that_is_not_a_string_gets_mlflows_code_in_every_search(tmp_tracking: str) -> None:
    c = MlflowClient()
    experiment = c.create_experiment("searched")
    searches = {
        "search_model_versions": lambda f: c.search_model_versions(f),
        "search_registered_models": lambda f: c.search_registered_models(f),
        "search_runs": lambda f: c.search_runs([experiment], f),
        "search_experiments": lambda f: c.search_experiments(filter_string=f),
        "search_logged_models": lambda f: c.search_logged_models([experiment], filter_string=f),
    }
    for name, search in searches.items():
        for bad in (["name = 'a'"], 7, {"a": 1}):
            code, message = _code(search, bad)
            assert code == "INVALID_PARAMETER_VALUE", (name, bad, code)
            assert f"it must be a string, not {type(bad).__name__}" in message, (name, message)
