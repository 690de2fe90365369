"""MLflow names asynctrack does not have: a clear error that says why, instead of a bare AttributeError.

``import asynctrack as mlflow`` makes asynctrack stand in for MLflow, so code written for MLflow reaches for
MLflow's other names too (``mlflow.autolog``, ``mlflow.pytorch``, ``mlflow.start_span``, ...). Each public
name of MLflow 3.17.2 (``dir(mlflow)`` and its submodules, recorded in tests/surface/mlflow-surface.json)
that asynctrack lacks is listed here as *planned* or *out of scope*, with the reason, and the same lists are
in docs/api-coverage.md (a test keeps the three in step). Reaching for one raises
:class:`MlflowNameUnavailable` (an ``AttributeError``, so ``hasattr`` and ``getattr(m, n, default)`` work as
before), and importing one as a module (``import asynctrack.pytorch``) raises
:class:`MlflowModuleUnavailable` (a ``ModuleNotFoundError``), both saying so and pointing to the doc.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = [
    "UNAVAILABLE",
    "MlflowModuleUnavailable",
    "MlflowNameUnavailable",
    "flavour_getattr",
    "install_import_hook",
    "unavailable_message",
]

DOC = "docs/api-coverage.md"

# (status, why, names): every MLflow 3.17.2 public name asynctrack does not provide.
_GROUPS: tuple[tuple[str, str, str], ...] = (
    (
        "out of scope",
        "Databricks/MLflow server features outside tracking",
        """
        create_workspace delete_workspace doctor gateway get_workspace list_workspaces login
        set_workspace update_workspace
        """,
    ),
    (
        "out of scope",
        "GenAI issue tracking, not experiment tracking",
        """
        log_issue
        """,
    ),
    (
        "out of scope",
        "MLflow's own CLI, database, server plumbing and internals (asynctrack has its own CLI and server; "
        "its variables are in asynctrack.environment)",
        """
        LazyLoader MLFLOW_CONFIGURE_LOGGING TYPE_CHECKING VERSION contextlib db demo
        environment_variables error_classification experiments legacy_databricks_cli mismatch mlflow
        protos runs set_telemetry_client telemetry types typesafe utils version
        """,
    ),
    (
        "out of scope",
        "framework integrations (autologging, model flavours), not tracking",
        """
        ag2 agno anthropic autogen azure bedrock catboost crewai diffusers dspy gemini groq h2o
        haystack johnsnowlabs langchain lightgbm litellm llama_index mistral
        ml_package_versions onnx openai optuna paddle pmdarima prophet pydantic_ai pyspark
        rfunc semantic_kernel sentence_transformers shap sklearn smolagents spacy spark statsmodels
        strands tensorflow txtai xgboost
        """,
    ),
    (
        "out of scope",
        "framework integrations / evaluation, not tracking",
        """
        Image context evaluate pyfunc run test validate_evaluation_results
        """,
    ),
    (
        "out of scope",
        "importing framework checkpoints as logged models (needs the model flavours)",
        """
        import_checkpoints
        """,
    ),
    (
        "out of scope",
        "prompt registry and webhooks (the model registry itself is done)",
        """
        delete_prompt_alias load_prompt register_prompt search_prompts set_prompt_alias webhooks
        """,
    ),
    (
        "out of scope",
        "models, evaluation, deployments and projects, not tracking",
        """
        deployments evaluation metrics models projects pytest sagemaker
        """,
    ),
    (
        "out of scope",
        "tracing / GenAI evaluation (not part of experiment tracking)",
        """
        IS_TRACING_SDK_ONLY add_trace agent ai_commands assistant claude_code delete_assessment
        delete_trace_tag flush_trace_async_logging genai get_active_trace_id get_assessment
        get_current_active_span get_last_active_trace_id get_trace log_assessment log_expectation
        log_feedback log_trace maybe_hint_tracing_skill mcp otel override_feedback prompt
        search_sessions search_traces set_trace_tag start_span start_span_no_context trace tracing
        update_assessment update_current_trace
        """,
    ),
)

#: name -> (status, why)
UNAVAILABLE: dict[str, tuple[str, str]] = {
    name: (status, why) for status, why, names in _GROUPS for name in names.split()
}


def unavailable_message(name: str) -> str:
    status, why = UNAVAILABLE[name]
    when = (
        "it is planned but not implemented yet"
        if status == "planned"
        else "it is out of scope for asynctrack, which covers MLflow's experiment tracking"
    )
    return (
        f"mlflow.{name} is not available in asynctrack: {when} ({why}). Every MLflow name and its status "
        f"is listed in asynctrack's {DOC}."
    )


class MlflowNameUnavailable(AttributeError):
    """An MLflow name asynctrack does not provide (planned or out of scope); the message says which."""


def flavour_getattr(module_name: str) -> Callable[[str], Any]:
    """The module ``__getattr__`` of asynctrack's flavour modules (``asynctrack.pytorch``, ``.keras``,
    ``.transformers``), which have only ``autolog``: ``mlflow.<flavour>.<name>`` for MLflow's model flavour
    functions (``log_model``, ``load_model``, ...) raises :class:`MlflowNameUnavailable` saying they are out
    of scope; private names get the plain error."""
    flavour = module_name.rpartition(".")[2]

    def __getattr__(name: str) -> Any:
        module = sys.modules[module_name]
        if name.startswith("_"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}", name=name, obj=module)
        raise MlflowNameUnavailable(
            f"mlflow.{flavour}.{name} is not available in asynctrack: asynctrack.{flavour} provides "
            f"autolog() only; MLflow's model flavours (log_model, save_model, load_model, ...) are out of "
            f"scope for asynctrack, which covers MLflow's experiment tracking. Every MLflow name and its "
            f"status is listed in asynctrack's {DOC}.",
            name=name,
            obj=module,
        )

    return __getattr__


class MlflowModuleUnavailable(ModuleNotFoundError):
    """An MLflow submodule asynctrack does not provide (``import asynctrack.pytorch``)."""


# The packages standing in for MLflow's (``mlflow``, ``mlflow.tracking``).
_PACKAGES = frozenset({"asynctrack", "asynctrack.tracking"})


class _UnavailableModules(importlib.abc.MetaPathFinder):
    """Last on ``sys.meta_path``: reached only when no real module was found. For ``asynctrack.<name>``
    with an MLflow name we list, raise the explanation instead of the bare "No module named".

    This also gives ``from asynctrack import evaluate`` its message: for a name the package lacks, that
    statement tries to import it as a submodule, which ends here (an attribute error alone would be
    replaced by a generic "cannot import name")."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        parent, _, name = fullname.rpartition(".")
        if parent not in _PACKAGES or name not in UNAVAILABLE:
            return None
        # name=None: importlib's "from asynctrack import pytorch" would otherwise swallow an error whose
        # name is the module's and replace our message with a generic "cannot import name".
        raise MlflowModuleUnavailable(unavailable_message(name), name=None)


_hook = _UnavailableModules()


def install_import_hook() -> None:
    if _hook not in sys.meta_path:
        sys.meta_path.append(_hook)
