"""The module-level artifact API (``mlflow.log_artifact``, ``mlflow.log_image``, ...), on the active run.

As in MLflow, a call without an active run (and without ``run_id``) starts one. Signatures are MLflow
3's; ``synchronous`` is an addition on the calls that MLflow keeps synchronous (see
asynctrack/_client_artifacts.py): ``None`` waits as MLflow does, ``False`` returns a RunOperations.
"""

from __future__ import annotations

import io
import logging
import os
from typing import Any

from asynctrack import fluent
from asynctrack.artifacts import _sync
from asynctrack.artifacts._paths import check_path
from asynctrack.artifacts._queue import flush_artifacts
from asynctrack.artifacts._uri import append_to_uri_path
from asynctrack.client import MlflowClient
from asynctrack.pipeline._operations import RunOperations

__all__ = [
    "flush_artifact_async_logging",
    "get_artifact_uri",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_stream",
    "log_table",
    "log_text",
]

_log = logging.getLogger("asynctrack")


def _run_id(run_id: str | None) -> str:
    if run_id is not None:
        return run_id
    run = fluent.active_run() or fluent.start_run()
    # The active run's artifact location is known: no store read for the calls that follow.
    _sync.remember_run(run.info.run_id, run.info.artifact_uri)
    return run.info.run_id


def log_artifact(
    local_path: str | os.PathLike[str],
    artifact_path: str | None = None,
    run_id: str | None = None,
    *,
    synchronous: bool | None = None,
) -> RunOperations | None:
    """Log a local file or directory as an artifact of the active run (or ``run_id``)::

    mlflow.log_artifact("model.pkl", artifact_path="models")
    """
    return MlflowClient().log_artifact(_run_id(run_id), local_path, artifact_path, synchronous=synchronous)


def log_artifacts(
    local_dir: str | os.PathLike[str],
    artifact_path: str | None = None,
    run_id: str | None = None,
    *,
    synchronous: bool | None = None,
) -> RunOperations | None:
    """Log every file under a local directory (recursively) under ``artifact_path``."""
    return MlflowClient().log_artifacts(_run_id(run_id), local_dir, artifact_path, synchronous=synchronous)


def log_text(
    text: str, artifact_file: str, run_id: str | None = None, *, synchronous: bool | None = None
) -> RunOperations | None:
    """Log a string as a UTF-8 text file::

    mlflow.log_text("loss went down", "notes/summary.txt")
    """
    return MlflowClient().log_text(_run_id(run_id), text, artifact_file, synchronous=synchronous)


def log_dict(
    dictionary: Any, artifact_file: str, run_id: str | None = None, *, synchronous: bool | None = None
) -> RunOperations | None:
    """Log a dict as JSON, or as YAML for a ``.yml``/``.yaml`` file name (needs PyYAML)::

    mlflow.log_dict({"lr": 0.01, "layers": [64, 64]}, "config.yaml")
    """
    return MlflowClient().log_dict(_run_id(run_id), dictionary, artifact_file, synchronous=synchronous)


def log_stream(
    stream: io.BufferedIOBase | io.RawIOBase, artifact_file: str, run_id: str | None = None
) -> None:
    """Log what a binary stream yields (read in chunks) as ``artifact_file``."""
    MlflowClient().log_stream(_run_id(run_id), stream, artifact_file)


def log_figure(
    figure: Any,
    artifact_file: str,
    *,
    save_kwargs: dict[str, Any] | None = None,
    synchronous: bool | None = None,
) -> RunOperations | None:
    """Log a matplotlib or plotly figure; the extension of ``artifact_file`` picks the format::

    fig, ax = plt.subplots(); ax.plot(losses)
    mlflow.log_figure(fig, "plots/loss.png")
    """
    return MlflowClient().log_figure(
        _run_id(None), figure, artifact_file, save_kwargs=save_kwargs, synchronous=synchronous
    )


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = False,
) -> RunOperations | None:
    """Log a numpy array or PIL image as ``artifact_file``, or as step ``step`` of the image series
    ``key`` (asynchronous by default, as in MLflow: a RunOperations is returned)::

    mlflow.log_image(prediction, key="predictions", step=epoch)
    """
    return MlflowClient().log_image(_run_id(None), image, artifact_file, key, step, timestamp, synchronous)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a pandas DataFrame or a dict as a table (``.json`` or ``.parquet``), appending to an existing
    one of the same name."""
    MlflowClient().log_table(_run_id(run_id), data, artifact_file)


def load_table(
    artifact_file: str, run_ids: list[str] | None = None, extra_columns: list[str] | None = None
) -> Any:
    """The table ``artifact_file`` of the current experiment's runs (only ``run_ids`` when given) as one
    pandas DataFrame, with ``extra_columns`` of ``search_runs``' DataFrame (e.g. ``["run_id"]``) added::

    mlflow.log_table({"inputs": ["q1"], "outputs": ["a1"]}, "eval.json")
    mlflow.load_table("eval.json", extra_columns=["run_id"])

    See :meth:`MlflowClient.load_table` for the errors.
    """
    experiment_id = fluent._active_experiment_for_search()
    return MlflowClient().load_table(experiment_id, artifact_file, run_ids, extra_columns)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The active run's artifact root URI, or the URI of ``artifact_path`` inside it (a run is started
    when none is active)::

    mlflow.get_artifact_uri("plots/loss.png")   # '/.../mlruns/0/<run_id>/artifacts/plots/loss.png'
    """
    if fluent.active_run() is None:
        _log.warning(
            "No active run found. A new active run will be created. If this is not intended, please create "
            "a run using `mlflow.start_run()` first."
        )
    run_id = _run_id(None)
    root = _sync.run_artifact_uri(MlflowClient().tracking_uri, run_id)
    if artifact_path is None:
        return root
    return append_to_uri_path(root, check_path(artifact_path))


def flush_artifact_async_logging(timeout: float | None = None) -> None:
    """Wait until every artifact upload queued so far (``synchronous=False``) is written or has failed;
    TimeoutError after ``timeout`` seconds. Failures are raised by each call's RunOperations, and logged."""
    flush_artifacts(timeout)
