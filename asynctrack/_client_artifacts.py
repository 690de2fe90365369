"""``MlflowClient``'s and ``AsyncClient``'s artifact methods, as base classes (mixins) of both clients.

Every upload goes through the artifact queue (asynctrack/artifacts/_queue.py). The logging calls take a
keyword-only ``synchronous`` beyond MLflow's signatures: ``None`` (the default) and ``True`` wait until the
artifact is written, as MLflow does; ``False`` returns a :class:`~asynctrack.RunOperations` at once. Only
``log_image`` is asynchronous in MLflow itself, and only its ``key=`` form: there ``None`` follows
``MLFLOW_ENABLE_ASYNC_LOGGING`` as in MLflow. With ``synchronous=False`` a *file* (``log_artifact``,
``log_artifacts``) is read when its upload runs, so leave it in place until the operations are done;
in-memory objects (text, dicts, figures, images) are captured at the call.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import anyio

from asynctrack import _logging_calls as calls
from asynctrack._runs_frame import runs_to_dataframe
from asynctrack._system_tags import MLFLOW_LOGGED_ARTIFACTS as LOGGED_ARTIFACTS_TAG
from asynctrack._system_tags import MLFLOW_LOGGED_IMAGES as LOGGED_IMAGES_TAG
from asynctrack.artifacts import _api, _fs, _media, _sync
from asynctrack.artifacts._optional import require
from asynctrack.artifacts._paths import check_file_name, check_path, parent_and_name, posix_join
from asynctrack.artifacts._queue import human_size
from asynctrack.artifacts._repository import ArtifactRepository, FileInfo
from asynctrack.config import is_async_logging_enabled
from asynctrack.entities import ViewType
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MlflowException
from asynctrack.pipeline._operations import RunOperations
from asynctrack.store._paged import collect_pages

if TYPE_CHECKING:
    from asynctrack.entities import Run

__all__ = ["AsyncClientArtifacts", "MlflowClientArtifacts"]

T = TypeVar("T")
P = ParamSpec("P")


def _waits(synchronous: bool | None) -> bool:
    return True if synchronous is None else bool(synchronous)


_log = logging.getLogger("asynctrack")


def _logged_artifacts(run: Run) -> list[Any]:
    """The run's ``mlflow.loggedArtifacts`` entries; a tag that is not a JSON list counts as none."""
    try:
        logged = json.loads(run.data.tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
    except ValueError:
        return []
    return logged if isinstance(logged, list) else []


def _artifact_file(artifact_file: str) -> str:
    rel = check_path(artifact_file, "artifact file")
    check_file_name(parent_and_name(rel)[1], "artifact file", shown=artifact_file)
    return rel


class MlflowClientArtifacts:
    """The artifact half of :class:`~asynctrack.MlflowClient`."""

    _tracking_uri: str

    if TYPE_CHECKING:
        # Provided by MlflowClient, the class this mixes into (declared here so the mixin does not
        # import the client it is a base of).
        def get_run(self, run_id: str) -> Run: ...

        def set_tag(
            self, run_id: str, key: str, value: Any, synchronous: bool | None = None
        ) -> RunOperations | None: ...

    def _repo(self, run_id: str) -> ArtifactRepository:
        return _sync.repository_for_run(self._tracking_uri, calls.valid_run_id(run_id))

    def _upload_bytes(self, run_id: str, rel: str, data: bytes, synchronous: bool) -> RunOperations | None:
        repo = self._repo(run_id)
        return _sync.upload(
            repo,
            functools.partial(repo.write_artifact, data, rel),
            run_id=run_id,
            dest=rel,
            what=f"'{rel}' ({human_size(len(data))}) for run {run_id}",
            synchronous=synchronous,
            nbytes=len(data),
        )

    # -- files
    def log_artifact(
        self,
        run_id: str,
        local_path: str | os.PathLike[str],
        artifact_path: str | None = None,
        *,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log a local file (or a directory, as ``<artifact_path>/<its name>/...``) to the run.

        >>> client.log_artifact(run_id, "model.pkl", "models")   # doctest: +SKIP
        """
        rel_dir = check_path(artifact_path)
        local = os.path.abspath(os.fspath(local_path))  # an async upload runs later, maybe after a chdir
        repo = self._repo(run_id)
        if os.path.isdir(local):
            name = check_file_name(os.path.basename(os.path.normpath(local)), "directory name")
            return self._log_dir(repo, run_id, local, posix_join(rel_dir, name), synchronous)
        if not os.path.exists(local):
            raise MlflowException(
                f"Cannot log artifact: the local file {os.fspath(local_path)!r} does not exist.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        dest = posix_join(rel_dir, check_file_name(os.path.basename(local), "artifact file name"))
        return _sync.upload(
            repo,
            functools.partial(repo.log_artifact, local, rel_dir),
            run_id=run_id,
            dest=dest,
            what=f"'{dest}' ({human_size(os.stat(local).st_size)} from {local}) for run {run_id}",
            synchronous=_waits(synchronous),
        )

    def log_artifacts(
        self,
        run_id: str,
        local_dir: str | os.PathLike[str],
        artifact_path: str | None = None,
        *,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log the contents of a local directory (recursively) under ``artifact_path``."""
        rel_dir = check_path(artifact_path)
        local = os.path.abspath(os.fspath(local_dir))
        if not os.path.isdir(local):
            raise MlflowException(
                f"Cannot log artifacts: {os.fspath(local_dir)!r} is not a directory.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        return self._log_dir(self._repo(run_id), run_id, local, rel_dir, synchronous)

    def _log_dir(
        self, repo: ArtifactRepository, run_id: str, local: str, rel_dir: str, synchronous: bool | None
    ) -> RunOperations | None:
        return _sync.upload(
            repo,
            functools.partial(repo.log_artifacts, local, rel_dir),
            run_id=run_id,
            dest=rel_dir,
            what=f"'{rel_dir or '.'}/' (the directory {local}) for run {run_id}",
            synchronous=_waits(synchronous),
        )

    def log_stream(self, run_id: str, stream: io.BufferedIOBase | io.RawIOBase, artifact_file: str) -> None:
        """Log the bytes read from a binary stream (in chunks) as ``artifact_file``."""
        rel = _artifact_file(artifact_file)
        parent, name = parent_and_name(rel)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                shutil.copyfileobj(stream, f, _fs.CHUNK)
            self.log_artifact(run_id, path, parent or None)

    # -- in-memory objects
    def log_text(
        self, run_id: str, text: str, artifact_file: str, *, synchronous: bool | None = None
    ) -> RunOperations | None:
        """Log a string as a UTF-8 text file::

        client.log_text(run_id, "loss went down", "notes/summary.txt")
        """
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        rel = _artifact_file(artifact_file)
        return self._upload_bytes(run_id, rel, text.encode("utf-8"), _waits(synchronous))

    def log_dict(
        self, run_id: str, dictionary: Any, artifact_file: str, *, synchronous: bool | None = None
    ) -> RunOperations | None:
        """Log a dict as JSON, or YAML when ``artifact_file`` ends with ``.yml``/``.yaml`` (needs PyYAML)."""
        rel = _artifact_file(artifact_file)
        return self._upload_bytes(run_id, rel, _media.dict_bytes(dictionary, rel), _waits(synchronous))

    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: dict[str, Any] | None = None,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log a matplotlib or plotly figure, in the format ``artifact_file``'s extension names (rendered
        during the call; plotly images need kaleido)."""
        rel = _artifact_file(artifact_file)
        data = _media.render_figure(figure, rel, save_kwargs)
        return self._upload_bytes(run_id, rel, data, _waits(synchronous))

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log a numpy array or PIL image: as ``artifact_file``, or as one step of the image series ``key``
        (MLflow 3's layout: ``images/<key>+step+<step>+timestamp+<ms>+<uuid>.png`` and a 256 px WebP
        preview, and the run tag ``mlflow.loggedImages``)."""
        if synchronous is None:
            synchronous = not is_async_logging_enabled()
        if artifact_file is not None and any(a is not None for a in (key, step, timestamp)):
            raise TypeError(
                "The `artifact_file` parameter cannot be used in conjunction with `key`, `step`, or "
                "`timestamp` parameters. Please ensure that `artifact_file` is specified alone, without any "
                "of these conflicting parameters."
            )
        if artifact_file is None and key is None:
            raise TypeError(
                "Invalid arguments: Please specify exactly one of `artifact_file` or `key`. Use `key` to log "
                "dynamic image charts or `artifact_file` for saving static images. "
            )
        pil = _media.to_pil_image(image, copy=not synchronous)
        if artifact_file is not None:
            rel = _artifact_file(artifact_file)
            self._upload_bytes(run_id, rel, _media.encode_image(pil, rel), True)
            return None
        assert key is not None
        _media.check_image_key(key)
        png, webp = _media.image_key_paths(key, step or 0, timestamp or calls.now_ms())
        compressed = _media.compress_image(pil)
        if synchronous:
            self._upload_bytes(run_id, png, _media.encode_image(pil, png), True)
            self._upload_bytes(run_id, webp, _media.encode_image(compressed, webp), True)
            self.set_tag(run_id, LOGGED_IMAGES_TAG, True, synchronous=True)
            return None
        ops = [self._upload_image_later(run_id, img, rel) for img, rel in ((pil, png), (compressed, webp))]
        ops.append(self.set_tag(run_id, LOGGED_IMAGES_TAG, True, synchronous=False))
        return RunOperations.combine(ops)

    def _upload_image_later(self, run_id: str, image: Any, rel: str) -> RunOperations | None:
        repo = self._repo(run_id)

        async def encode_and_write() -> None:
            data = await _fs.in_thread(_media.encode_image, image, rel)
            await repo.write_artifact(data, rel)

        nbytes = _media.image_nbytes(image)
        return _sync.upload(
            repo,
            encode_and_write,
            run_id=run_id,
            dest=rel,
            what=f"'{rel}' (image, {human_size(nbytes)} raw) for run {run_id}",
            synchronous=False,
            nbytes=nbytes,
        )

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Log a pandas DataFrame or a dict as a table, appending to the table already at ``artifact_file``:
        JSON ``{"columns": [...], "data": [[...], ...]}`` (or Parquet), tagged in ``mlflow.loggedArtifacts``.
        Columns of images are logged as images under ``table_images/``, as MLflow does."""
        _media.check_table_file(artifact_file)
        frame = _media.table_frame(data)
        rel = _artifact_file(artifact_file)
        pd = require("pandas", "log_table")
        if len(frame.select_dtypes(include=["object"]).columns) > 0:
            table_name = os.path.splitext(artifact_file)[0]
            for column in frame.columns:
                is_image = frame[column].map(_media.is_image_object)
                if any(is_image) and not all(is_image):
                    raise ValueError(
                        f"Column `{column}` contains a mix of images and non-images. Please ensure that all "
                        "elements in the column are of the same type."
                    )
                if len(is_image) and all(is_image):
                    frame = frame.copy()  # MLflow rewrites the caller's DataFrame; we leave it alone
                    frame[column] = frame[column].map(
                        functools.partial(self._log_table_image, run_id, table_name)
                    )
        parent, _ = parent_and_name(rel)
        if rel in [f.path for f in self.list_artifacts(run_id, parent or None)]:
            with tempfile.TemporaryDirectory() as tmp:
                existing = _media.read_table(self.download_artifacts(run_id, rel, tmp))
            frame = pd.concat([existing, frame], ignore_index=True)
        self._upload_bytes(run_id, rel, _media.table_bytes(frame, rel), True)
        logged = json.loads(self.get_run(run_id).data.tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
        entry = {"path": artifact_file, "type": "table"}
        if entry not in logged:
            logged.append(entry)
            self.set_tag(run_id, LOGGED_ARTIFACTS_TAG, json.dumps(logged), synchronous=True)

    def load_table(
        self,
        experiment_id: str,
        artifact_file: str,
        run_ids: Sequence[str] | None = None,
        extra_columns: Sequence[str] | None = None,
    ) -> Any:
        """The table ``artifact_file`` (logged with :meth:`log_table`) of every active run of the experiment
        that has it (only ``run_ids`` when given), concatenated into one pandas DataFrame, runs in
        ``search_runs`` order (newest first). ``extra_columns`` adds columns of ``search_runs``' DataFrame
        for each row's run (``run_id``, ``status``, ``params.lr``, ...); a name already in the table gets
        a trailing underscore, as in MLflow.

        Raises ``RESOURCE_DOES_NOT_EXIST`` when no run has the table (or a run lists it and its file is
        gone), and ``INVALID_PARAMETER_VALUE`` naming an extra column ``search_runs`` does not have. Runs
        are selected by their ``mlflow.loggedArtifacts`` entry for exactly this path (MLflow matches a
        LIKE pattern, where ``_`` in the name matches any character).
        """
        pd = require("pandas", "load_table")
        _media.check_table_chars(artifact_file)
        # The characters check_table_chars refuses include both quotes: the name cannot leave the string.
        like = f'%"path"%:%"{artifact_file}"%'
        runs = collect_pages(
            lambda n, token: self.search_runs(  # type: ignore[attr-defined]
                [experiment_id],
                f"tags.`{LOGGED_ARTIFACTS_TAG}` LIKE '{like}'",
                ViewType.ACTIVE_ONLY,
                n,
                None,
                token,
            ),
            None,
        )
        entry = {"path": artifact_file, "type": "table"}
        runs = [r for r in runs if entry in _logged_artifacts(r)]
        if run_ids:
            wanted = set(run_ids)
            runs = [r for r in runs if r.info.run_id in wanted]
            if len(runs) != len(wanted):
                _log.warning("Not all runs have the specified table artifact. Some runs will be skipped.")
        if not runs:
            raise MlflowException(
                "No runs found with the corresponding table artifact.", RESOURCE_DOES_NOT_EXIST
            )
        columns = None
        if extra_columns:
            columns = runs_to_dataframe(runs)
            unknown = [c for c in extra_columns if c not in columns.columns]
            if unknown:
                raise MlflowException(
                    f"extra_columns {unknown} are not columns of search_runs' DataFrame for these runs "
                    f"({', '.join(map(str, columns.columns))})",
                    INVALID_PARAMETER_VALUE,
                )
        parent, _ = parent_and_name(_artifact_file(artifact_file))
        tables = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, run in enumerate(runs):
                run_id = run.info.run_id
                if artifact_file not in [f.path for f in self.list_artifacts(run_id, parent or None)]:
                    raise MlflowException(
                        f"Artifact {artifact_file} not found for run {run_id}.", RESOURCE_DOES_NOT_EXIST
                    )
                table = _media.read_table(
                    self.download_artifacts(run_id, artifact_file, os.path.join(tmp, str(i)))
                )
                for column in extra_columns or ():
                    name = column
                    if column in table:
                        name = f"{column}_"
                        _log.warning(
                            "Column name %s already exists in the table. Resolving the conflict, by "
                            "appending an underscore to the column name.",
                            column,
                        )
                    table[name] = columns[column].iloc[i]  # type: ignore[index]
                tables.append(table)
        return pd.concat(tables, ignore_index=True)

    def _log_table_image(self, run_id: str, table_name: str, image: Any) -> dict[str, str]:
        stem = posix_join("table_images", table_name, str(uuid.uuid4()))
        png, webp = f"{stem}.png", f"{stem}.webp"
        self._upload_bytes(run_id, _artifact_file(png), _media.encode_image(image, png), True)
        compressed = _media.compress_image(image)
        self._upload_bytes(run_id, _artifact_file(webp), _media.encode_image(compressed, webp), True)
        return {"type": "image", "filepath": png, "compressed_filepath": webp}

    # -- reading
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The run's artifacts directly under ``path`` (the root by default), sorted by path."""
        calls.valid_run_id(run_id)
        return _api.list_artifacts(run_id=run_id, artifact_path=path, tracking_uri=self._tracking_uri)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Copy a run's artifact file or directory into ``dst_path`` (created if missing; a new temporary
        directory by default) and return its local path."""
        calls.valid_run_id(run_id)
        return _api.download_artifacts(
            run_id=run_id, artifact_path=path, dst_path=dst_path, tracking_uri=self._tracking_uri
        )


class AsyncClientArtifacts:
    """The artifact half of :class:`~asynctrack.AsyncClient`: the same methods as coroutines. Each runs
    in a worker thread, so the caller's event loop (asyncio or trio) is never blocked."""

    _client: MlflowClientArtifacts  # the MlflowClient that AsyncClient wraps

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def log_artifact(
        self,
        run_id: str,
        local_path: str,
        artifact_path: str | None = None,
        *,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        return await self._call(
            self._client.log_artifact, run_id, local_path, artifact_path, synchronous=synchronous
        )

    async def log_artifacts(
        self,
        run_id: str,
        local_dir: str,
        artifact_path: str | None = None,
        *,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        return await self._call(
            self._client.log_artifacts, run_id, local_dir, artifact_path, synchronous=synchronous
        )

    async def log_text(
        self, run_id: str, text: str, artifact_file: str, *, synchronous: bool | None = None
    ) -> RunOperations | None:
        return await self._call(self._client.log_text, run_id, text, artifact_file, synchronous=synchronous)

    async def log_dict(
        self, run_id: str, dictionary: Any, artifact_file: str, *, synchronous: bool | None = None
    ) -> RunOperations | None:
        return await self._call(
            self._client.log_dict, run_id, dictionary, artifact_file, synchronous=synchronous
        )

    async def log_image(self, run_id: str, image: Any, **kwargs: Any) -> RunOperations | None:
        return await self._call(self._client.log_image, run_id, image, **kwargs)

    async def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        await self._call(self._client.log_table, run_id, data, artifact_file)

    async def load_table(
        self,
        experiment_id: str,
        artifact_file: str,
        run_ids: Sequence[str] | None = None,
        extra_columns: Sequence[str] | None = None,
    ) -> Any:
        return await self._call(self._client.load_table, experiment_id, artifact_file, run_ids, extra_columns)

    async def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return await self._call(self._client.list_artifacts, run_id, path)

    async def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        return await self._call(self._client.download_artifacts, run_id, path, dst_path)
