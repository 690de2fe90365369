"""MLflow 3.17.2's whole public surface against asynctrack (issue 12): every name either works or raises an
error saying it is planned or out of scope and pointing to docs/api-coverage.md, never a bare
AttributeError or ModuleNotFoundError; and the doc's tables agree with the code.

The surface is recorded from the real package by record_mlflow_surface.py (mlflow-surface.json)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import asynctrack
from asynctrack import MlflowClient, MlflowModuleUnavailable, MlflowNameUnavailable
from asynctrack._mlflow_names import UNAVAILABLE

HERE = Path(__file__).parent
SURFACE = json.loads((HERE / "mlflow-surface.json").read_text())
DOC = (HERE.parent.parent / "docs" / "api-coverage.md").read_text()
NAMES = sorted(set(SURFACE["dir"]) | set(SURFACE["submodules"]))


def _doc_rows(section: str) -> dict[str, str]:
    start = DOC.index(section)
    end = DOC.find("\n## ", start + 1)
    text = DOC[start : end if end > 0 else None]
    return dict(re.findall(r"^\| `([A-Za-z_0-9]+)` \| ([a-z ]+?) \|", text, re.M))


def _assert_explained(exc: BaseException, name: str) -> None:
    message = str(exc)
    status, _why = UNAVAILABLE[name]
    assert f"mlflow.{name} is not available in asynctrack" in message, message
    assert ("planned" if status == "planned" else "out of scope") in message, message
    assert "docs/api-coverage.md" in message, message


def test_the_recorded_surface_is_mlflow_3_17_2() -> None:
    assert SURFACE["mlflow_version"] == "3.17.2"
    assert len(NAMES) > 200 and {"autolog", "pytorch", "start_span", "tracking"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_mlflow_name_works_or_says_why(name: str) -> None:
    """``getattr(mlflow, name)`` for each recorded name: a real object, or the explaining error (an
    AttributeError subclass, so hasattr() answers False as for any missing name)."""
    try:
        value = getattr(asynctrack, name)
    except MlflowNameUnavailable as exc:
        _assert_explained(exc, name)
        assert not hasattr(asynctrack, name)
        return
    assert name not in UNAVAILABLE, f"{name} works in asynctrack: remove it from _mlflow_names.py"
    assert value is not None


@pytest.mark.parametrize("name", SURFACE["submodules"])
def test_every_mlflow_submodule_imports_or_says_why(name: str) -> None:
    """``import asynctrack.<submodule>``: a module, or the explaining ModuleNotFoundError subclass."""
    try:
        module = importlib.import_module(f"asynctrack.{name}")
    except MlflowModuleUnavailable as exc:
        assert isinstance(exc, ModuleNotFoundError)
        _assert_explained(exc, name)
        return
    assert module.__name__ == f"asynctrack.{name}"
    assert name not in UNAVAILABLE


def test_import_statements_keep_the_explanation() -> None:
    """The forms users write, in a fresh interpreter: ``import``, ``from ... import`` of a module and of a
    function, and from ``mlflow.tracking``."""
    code = """
import importlib
for stmt in ("import asynctrack.xgboost", "from asynctrack import sklearn", "from asynctrack import evaluate",
             "from asynctrack import start_span", "from asynctrack.tracking import search_traces"):
    try:
        exec(stmt)
    except ImportError as exc:
        print(type(exc).__name__, "|", exc)
    else:
        print("imported", stmt)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 5
    expected = ["xgboost", "sklearn", "evaluate", "start_span", "search_traces"]
    for line, name in zip(lines, expected, strict=True):
        kind, message = line.split(" | ")
        assert kind == "MlflowModuleUnavailable", line
        assert f"mlflow.{name} is not available" in message and "docs/api-coverage.md" in message, line


def test_tracking_module_offers_what_mlflow_tracking_has() -> None:
    """``from asynctrack.tracking import MlflowClient`` (and ``.client``) is asynctrack's client; each of
    ``mlflow.tracking``'s exports is there or explained."""
    from asynctrack.tracking import MlflowClient as TrackingClient
    from asynctrack.tracking.client import MlflowClient as ClientModuleClient

    assert TrackingClient is MlflowClient is ClientModuleClient
    tracking = importlib.import_module("asynctrack.tracking")
    for name in SURFACE["tracking"]:
        try:
            getattr(tracking, name)
        except MlflowNameUnavailable as exc:
            _assert_explained(exc, name)


@pytest.mark.parametrize("flavour", ["pytorch", "keras", "transformers"])
def test_flavour_modules_have_autolog_and_explain_the_rest(flavour: str) -> None:
    """``mlflow.pytorch.autolog`` and its kin exist with MLflow's signature (every MLflow parameter, in
    MLflow's order, with MLflow's defaults; asynctrack's additions after them); the flavour's other names
    (``log_model``) say why they are missing, importing it pulls in no training library, and private
    names stay plain errors."""
    code = f"""
import sys, inspect, json
import asynctrack as mlflow
module = getattr(mlflow, {flavour!r})
params = [(p.name, repr(p.default)) for p in inspect.signature(module.autolog).parameters.values()]
try:
    module.log_model
except AttributeError as exc:
    error = f"{{type(exc).__name__}} | {{exc}}"
heavy = sorted({{"torch", "lightning", "keras", "transformers"}} & set(sys.modules))
print(json.dumps([params, error, heavy]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    params, error, heavy = json.loads(out.stdout)
    theirs = SURFACE["autolog_signatures"][flavour]
    assert params[: len(theirs)] == theirs  # so positional calls written for MLflow mean the same
    extras = {name for name, _ in params[len(theirs) :]}
    assert extras <= {"log_system_metrics", "log_every_n_step"}, extras
    assert error.startswith(f"MlflowNameUnavailable | mlflow.{flavour}.log_model is not available"), error
    assert "autolog() only" in error and "docs/api-coverage.md" in error, error
    assert heavy == []
    module = importlib.import_module(f"asynctrack.{flavour}")
    with pytest.raises(AttributeError) as ei:
        module._private  # noqa: B018
    assert not isinstance(ei.value, MlflowNameUnavailable)


def test_unknown_names_are_plain_attribute_errors() -> None:
    """A name MLflow does not have either is an ordinary AttributeError / ModuleNotFoundError."""
    with pytest.raises(AttributeError) as ei:
        asynctrack.no_such_thing  # noqa: B018
    assert not isinstance(ei.value, MlflowNameUnavailable)
    with pytest.raises(ModuleNotFoundError) as ei2:
        importlib.import_module("asynctrack.no_such_module")
    assert not isinstance(ei2.value, MlflowModuleUnavailable)


def test_doc_lists_every_name_with_the_codes_status() -> None:
    """docs/api-coverage.md has a row for every recorded name; an unavailable name's row has the status
    the code raises with; a name asynctrack has is 'done' there."""
    rows = _doc_rows("## Fluent API") | _doc_rows("## Modules and other names of `mlflow`")
    missing = [n for n in NAMES if n not in rows]
    assert missing == [], f"not in docs/api-coverage.md: {missing}"
    for name in NAMES:
        expected = UNAVAILABLE[name][0] if name in UNAVAILABLE else "done"
        assert rows[name] == expected, (name, rows[name], expected)
    assert set(UNAVAILABLE) <= set(NAMES) | set(SURFACE["tracking"]), "names not in MLflow's surface"


def test_doc_client_table_matches_the_client() -> None:
    """Every recorded MlflowClient method has a row; the 'done' ones exist on asynctrack's client."""
    rows = _doc_rows("## `MlflowClient`")
    missing = [n for n in SURFACE["client_methods"] if n not in rows]
    assert missing == [], f"MlflowClient methods not in docs/api-coverage.md: {missing}"
    absent = [n for n, status in rows.items() if status == "done" and not hasattr(MlflowClient, n)]
    assert absent == []
