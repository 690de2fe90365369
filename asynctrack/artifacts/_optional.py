"""Optional libraries (Pillow, matplotlib, plotly, pandas, PyYAML), imported only by the call that needs
them, with one clear error when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from asynctrack.exceptions import INVALID_STATE, MlflowException

__all__ = ["MissingDependency", "require"]

# import name -> the distribution pip installs it from
_PACKAGES = {
    "PIL": "Pillow",
    "matplotlib": "matplotlib",
    "plotly": "plotly",
    "kaleido": "kaleido",
    "pandas": "pandas",
    "yaml": "PyYAML",
    "pyarrow": "pyarrow",
}


class MissingDependency(MlflowException, ImportError):
    """An optional library a call needs is not installed (an ``ImportError`` too, as MLflow raises)."""


def require(module: str, needed_by: str) -> ModuleType:
    """``import module``, or :class:`MissingDependency` naming the package and the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = _PACKAGES.get(module.split(".")[0], module.split(".")[0])
        raise MissingDependency(
            f"{needed_by} needs the {package!r} package, which is not installed: pip install {package} "
            "(or pip install 'asynctrack[artifacts]' for every library artifact logging can use)",
            error_code=INVALID_STATE,
        ) from exc
