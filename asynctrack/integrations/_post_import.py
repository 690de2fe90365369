"""Run a function when a module is imported (at once if it already is): how ``autolog()`` patches a training
library without importing it itself, so ``autolog()`` costs nothing for libraries the program never uses.

A finder first on ``sys.meta_path`` answers only for the watched module names: it asks the other finders for
the real spec and wraps its loader so that, once the module has executed, the hooks run on it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["forget_hooks", "when_imported"]

_log = logging.getLogger("asynctrack")

Hook = Callable[[ModuleType], None]
_hooks: dict[str, list[Hook]] = {}
_lock = threading.RLock()


class _Loader(importlib.abc.Loader):
    """The real loader, plus the hooks after ``exec_module``; everything else is the real loader's."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        module.__loader__ = self._loader  # source lookups (inspect, tracebacks) see the real loader
        _fire(self._name, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _hooks:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, fullname)
                return spec
        return None


_finder = _Finder()


def _fire(name: str, module: ModuleType) -> None:
    with _lock:
        hooks = _hooks.pop(name, [])
        if not any(_hooks.values()) and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
    for hook in hooks:
        try:
            hook(module)
        except Exception:  # a library version we cannot patch must not break the user's import
            _log.exception("asynctrack: autolog could not hook into %s", name)


def when_imported(name: str, hook: Hook) -> None:
    """Call ``hook(module)`` once module ``name`` is imported: now if it already is, else right after."""
    module = sys.modules.get(name)
    if module is not None:
        hook(module)
        return
    with _lock:
        _hooks.setdefault(name, []).append(hook)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def forget_hooks(name: str) -> None:
    """Forget the hooks on module ``name`` not run yet (and the finder once none is left)."""
    with _lock:
        _hooks.pop(name, None)
        if not _hooks and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
