"""``asynctrack.autolog()``: install the integrations for the training libraries present.

Each library is patched when it is imported (at once if it already is; ``_post_import.py``), never imported
by autolog itself. The patches read the settings of the latest ``autolog()`` call each time they run, and
``autolog(disable=True)`` puts every original back.

- Lightning (``lightning`` and ``pytorch_lightning``): ``Trainer.fit`` adds an ``AsynctrackLogger`` to the
  trainer's loggers unless one is there; Lightning then finalizes it (FAILED or KILLED when fit raises).
- Transformers: ``Trainer.__init__`` adds an ``AsynctrackCallback``; ``Trainer.train`` ends its run FAILED
  (KILLED on Ctrl-C) when training raises, which callbacks are never told.
- Keras: ``Model.fit`` adds an ``AsynctrackCallback`` to ``callbacks`` and does the same on an exception.

Each flavour keeps the settings of the latest call that enabled it, so ``asynctrack.pytorch.autolog()`` and
``asynctrack.keras.autolog()`` (MLflow's per-library entry points, :func:`enable`) can differ, and a
per-library ``disable=True`` (:func:`disable_flavours`) undoes only that library's patches.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from asynctrack.integrations._post_import import forget_hooks, when_imported

__all__ = ["SUPPORTED", "Settings", "autolog", "disable_flavours", "enable", "settings"]

_log = logging.getLogger("asynctrack")

#: flavour name -> the module whose import installs it
SUPPORTED: dict[str, str] = {
    "lightning": "lightning.pytorch.trainer.trainer",
    "pytorch_lightning": "pytorch_lightning.trainer.trainer",
    "transformers": "transformers.trainer",
    "keras": "keras.src.models.model",
}

# MLflow 3.17.2's other autolog flavours (mlflow.autolog's list), by the package that enables each.
_UNSUPPORTED: dict[str, str] = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "statsmodels": "statsmodels",
    "tensorflow": "tensorflow",
    "spark": "pyspark",
    "fastai": "fastai",
    "paddle": "paddle",
    "pmdarima": "pmdarima",
    "diffusers": "diffusers",
    "sentence_transformers": "sentence_transformers",
    "openai": "openai",
    "anthropic": "anthropic",
    "langchain": "langchain",
    "llama_index": "llama_index",
    "dspy": "dspy",
    "litellm": "litellm",
    "gemini": "google.genai",
    "mistral": "mistralai",
    "groq": "groq",
    "crewai": "crewai",
    "autogen": "autogen",
    "smolagents": "smolagents",
    "bedrock": "boto3",
}

# mlflow.autolog's log_input_examples, log_model_signatures, log_datasets, log_traces and
# disable_for_unsupported_versions concern its model flavours: accepted, and (log_input_examples=True, not
# the default) said to be ignored.


@dataclass(frozen=True)
class Settings:
    """What one flavour's patches do; the latest ``autolog()`` call that enabled the flavour sets them."""

    log_every_n_step: int | None = None
    log_every_epoch: bool = True  # Keras: log each epoch's logs (mlflow.keras.autolog's log_every_epoch)
    log_models: bool | str = False  # Lightning also takes "all" (each checkpoint as it is saved)
    silent: bool = False
    exclusive: bool = False
    extra_tags: Mapping[str, Any] = field(default_factory=dict)
    log_system_metrics: bool | None = None


def settings(
    log_every_n_step: int | None,
    log_models: bool | str,
    silent: bool,
    exclusive: bool,
    extra_tags: Mapping[str, Any] | None,
    log_system_metrics: bool | None,
    log_every_epoch: bool = True,
) -> Settings:
    """The :class:`Settings` of one ``autolog`` call, from its arguments as the user gave them."""
    return Settings(
        log_every_n_step=log_every_n_step,
        log_every_epoch=bool(log_every_epoch),
        log_models=log_models if log_models == "all" else bool(log_models),
        silent=bool(silent),
        exclusive=bool(exclusive),
        extra_tags=dict(extra_tags or {}),
        log_system_metrics=log_system_metrics,
    )


# flavour -> its settings, for the flavours enabled now
_settings: dict[str, Settings] = {}
# flavour -> {(owner, attribute) -> the original}, for disable(); _INHERITED: the class had none of its own
_originals: dict[str, dict[tuple[Any, str], Any]] = {}
_INHERITED = object()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = False,
    log_datasets: bool = True,
    log_traces: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: Mapping[str, Any] | None = None,
    exclude_flavors: Iterable[str] | None = None,
    log_every_n_step: int | None = None,
    log_system_metrics: bool | None = None,
) -> None:
    """Log training done with Lightning, Transformers or Keras to asynctrack without code changes.

    MLflow's arguments: ``log_models`` (Lightning checkpoints, the final Transformers or Keras model as
    artifacts), ``disable`` (undo every patch), ``exclusive`` (never log into a run the user started: each
    training gets its own), ``silent`` (no INFO/WARNING lines from autolog), ``extra_tags`` (tags of each
    run started), ``exclude_flavors`` (e.g. ``["keras"]``), and ``mlflow.pytorch.autolog``'s
    ``log_every_n_step``; plus ``log_system_metrics`` for the runs it starts. See docs/integrations.md.
    """
    if disable:
        disable_flavours(None)
        return
    from asynctrack.integrations._run import check_every_n_step  # not at import: asynctrack imports this

    check_every_n_step(log_every_n_step)
    excluded = set(exclude_flavors or ())
    unknown = excluded - set(SUPPORTED) - set(_UNSUPPORTED)
    if unknown:
        raise ValueError(
            f"exclude_flavors has unknown flavours {sorted(unknown)}; asynctrack's are {sorted(SUPPORTED)}"
        )
    if log_input_examples and not silent:
        _log.warning("asynctrack.autolog(): log_input_examples is for MLflow's model flavours and is ignored")

    chosen = settings(log_every_n_step, log_models, silent, exclusive, extra_tags, log_system_metrics)
    unsupported = [f for f, pkg in _UNSUPPORTED.items() if f not in excluded and _installed(pkg)]
    if unsupported and not silent:
        _log.warning(
            "asynctrack.autolog() does not log %s (installed here): asynctrack's autologging supports %s. "
            "See docs/integrations.md.",
            ", ".join(unsupported),
            ", ".join(SUPPORTED),
        )
    enable([f for f in SUPPORTED if f not in excluded], chosen, "asynctrack.autolog()")


def enable(flavours: Sequence[str], chosen: Settings, who: str) -> None:
    """Install ``flavours`` (those installed here) with ``chosen``; ``who`` names the caller in messages.

    Says when none of them is installed, even when silent: nothing would be logged, and autolog is never a
    silent no-op.
    """
    present = [f for f in flavours if _installed(SUPPORTED[f])]
    if not present:
        _log.warning(
            "%s found none of the libraries it supports (%s) installed: nothing will be logged "
            "automatically. See docs/integrations.md.",
            who,
            ", ".join(flavours or SUPPORTED),
        )
        return
    for flavour in present:
        new = flavour not in _settings
        _settings[flavour] = chosen  # read by the patches each time they run
        if new:
            when_imported(SUPPORTED[flavour], functools.partial(_PATCHERS[flavour], flavour))
    if not chosen.silent:
        _log.info("%s: logging %s", who, ", ".join(present))


def disable_flavours(flavours: Iterable[str] | None = None) -> None:
    """Undo the patches of ``flavours`` (all of them when None) and forget their pending import hooks."""
    for flavour in list(SUPPORTED) if flavours is None else list(flavours):
        _settings.pop(flavour, None)
        forget_hooks(SUPPORTED[flavour])
        for (owner, name), original in _originals.pop(flavour, {}).items():
            if original is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def _patch(flavour: str, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    originals = _originals.setdefault(flavour, {})
    if (owner, name) in originals:
        return
    original = getattr(owner, name)  # maybe inherited (keras.Model.fit is its backend trainer's)
    originals[(owner, name)] = owner.__dict__.get(name, _INHERITED)
    setattr(owner, name, functools.wraps(original)(make(original)))


def _current(flavour: str) -> Settings | None:
    """The flavour's settings now; None once it was disabled (a patched object someone kept a reference
    to then behaves as the original)."""
    return _settings.get(flavour)


def _run_kwargs(s: Settings) -> dict[str, Any]:
    return {
        "tags": dict(s.extra_tags) or None,
        "log_system_metrics": s.log_system_metrics,
        "use_active": not s.exclusive,
    }


# -- Lightning
def _patch_lightning(flavour: str, module: ModuleType) -> None:
    package = importlib.import_module(module.__name__.rsplit(".trainer.trainer", 1)[0])
    from asynctrack.integrations._lightning import logger_class

    logger_cls = logger_class(package)

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
            s = _current(flavour)
            if s is not None and not any(isinstance(lg, logger_cls) for lg in self.loggers):
                logger = logger_cls(log_model=s.log_models, **_run_kwargs(s))
                self.loggers = [*self.loggers, logger]
                if s.log_every_n_step is not None:
                    self.log_every_n_steps = s.log_every_n_step
            return original(self, *args, **kwargs)

        return fit

    _patch(flavour, module.Trainer, "fit", make)


# -- Transformers
def _patch_transformers(flavour: str, module: ModuleType) -> None:
    from asynctrack.integrations.transformers import AsynctrackCallback

    def ours(trainer: Any) -> list[Any]:
        return [c for c in trainer.callback_handler.callbacks if isinstance(c, AsynctrackCallback)]

    def make_init(original: Callable[..., Any]) -> Callable[..., Any]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            s = _current(flavour)
            if s is not None and not ours(self):
                callback = AsynctrackCallback(
                    log_models=bool(s.log_models), log_every_n_step=s.log_every_n_step, **_run_kwargs(s)
                )
                self.add_callback(callback)

        return __init__

    def make_train(original: Callable[..., Any]) -> Callable[..., Any]:
        def train(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return original(self, *args, **kwargs)
            except BaseException as exc:
                for callback in ours(self):
                    callback.end_failed(exc)
                raise

        return train

    _patch(flavour, module.Trainer, "__init__", make_init)
    _patch(flavour, module.Trainer, "train", make_train)


# -- Keras
def _patch_keras(flavour: str, module: ModuleType) -> None:
    from asynctrack.integrations.keras import AsynctrackCallback

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
            s = _current(flavour)
            if s is None:
                return original(self, *args, **kwargs)
            positional = len(args) > 5  # fit(x, y, batch_size, epochs, verbose, callbacks, ...)
            callbacks = list((args[5] if positional else kwargs.get("callbacks")) or [])
            callback = next((c for c in callbacks if isinstance(c, AsynctrackCallback)), None)
            if callback is None:
                callback = AsynctrackCallback(
                    log_every_epoch=s.log_every_epoch,
                    log_every_n_step=s.log_every_n_step,
                    log_models=bool(s.log_models),
                    **_run_kwargs(s),
                )
                callbacks.append(callback)
                if positional:
                    args = (*args[:5], callbacks, *args[6:])
                else:
                    kwargs["callbacks"] = callbacks
            try:
                return original(self, *args, **kwargs)
            except BaseException as exc:
                callback.end_failed(exc)
                raise

        return fit

    _patch(flavour, module.Model, "fit", make)


_PATCHERS: dict[str, Callable[[str, ModuleType], None]] = {
    "lightning": _patch_lightning,
    "pytorch_lightning": _patch_lightning,
    "transformers": _patch_transformers,
    "keras": _patch_keras,
}
