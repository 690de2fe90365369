"""The names of MLflow's system tags (``mlflow.utils.mlflow_tags``) that asynctrack reads or writes, each
defined once."""

from __future__ import annotations

__all__ = [
    "MLFLOW_GIT_BRANCH",
    "MLFLOW_GIT_COMMIT",
    "MLFLOW_GIT_REPO_URL",
    "MLFLOW_DATASET_CONTEXT",
    "MLFLOW_LOGGED_ARTIFACTS",
    "MLFLOW_LOGGED_IMAGES",
    "MLFLOW_MODEL_IS_EXTERNAL",
    "MLFLOW_MODEL_VERSIONS",
    "MLFLOW_PARENT_RUN_ID",
    "MLFLOW_PROMPT_IS_PROMPT",
    "MLFLOW_RUN_NAME",
    "MLFLOW_RUN_NOTE",
    "MLFLOW_SOURCE_NAME",
    "MLFLOW_SOURCE_TYPE",
    "MLFLOW_USER",
]

MLFLOW_RUN_NAME = "mlflow.runName"
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"
MLFLOW_USER = "mlflow.user"
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_GIT_BRANCH = "mlflow.source.git.branch"
MLFLOW_GIT_REPO_URL = "mlflow.source.git.repoURL"
MLFLOW_RUN_NOTE = "mlflow.note.content"
#: JSON list of the tables (and other typed artifacts) logged to the run, for MLflow's UI
MLFLOW_LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"
#: set once a run has images logged with log_image, for MLflow's UI
MLFLOW_LOGGED_IMAGES = "mlflow.loggedImages"
#: the run's model versions (JSON), written by the registry when a version's source is a run
MLFLOW_MODEL_VERSIONS = "mlflow.modelVersions"
#: marks a logged model created outside MLflow (``create_external_model``)
MLFLOW_MODEL_IS_EXTERNAL = "mlflow.model.isExternal"
#: marks a registered model that is a prompt (prompts are not models in registry listings)
MLFLOW_PROMPT_IS_PROMPT = "mlflow.prompt.is_prompt"
#: the context of a dataset input (``training``, ``eval``, ...), an input tag
MLFLOW_DATASET_CONTEXT = "mlflow.data.context"
