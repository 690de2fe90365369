"""Record the public surface of the real MLflow into ``mlflow-surface.json`` beside this script.

Run it with the Python of a venv holding ``mlflow==3.17.2`` (the tests make one)::

    PY=$(python -c "import sys; sys.path.insert(0, 'tests'); import servers; print(servers.mlflow_python())")
    $PY tests/surface/record_mlflow_surface.py

It records ``dir(mlflow)`` (public names, including the lazily loaded integration modules),
``mlflow.__all__``, the public submodules of the ``mlflow`` package, ``mlflow.tracking``'s exports,
``MlflowClient``'s public methods, and the parameters of the per-library ``autolog`` functions asynctrack
offers (read from their source, so Keras and Lightning need not be installed). ``test_mlflow_surface.py``
checks every recorded name against asynctrack and docs/api-coverage.md.
"""

from __future__ import annotations

import ast
import inspect
import json
import pkgutil
from pathlib import Path

import mlflow
import mlflow.tracking


def _public(names: object) -> list[str]:
    return sorted(n for n in names if not n.startswith("_"))  # type: ignore[attr-defined]


# flavour -> the file of the mlflow package defining its autolog
_AUTOLOG_FILES = {
    "pytorch": "pytorch/__init__.py",
    "keras": "keras/autologging.py",
    "transformers": "transformers/__init__.py",
}


def _autolog_signature(relative: str) -> list[list[str]]:
    """[name, repr(default)] of each parameter of ``def autolog`` in ``mlflow/<relative>``."""
    tree = ast.parse((Path(mlflow.__file__).parent / relative).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "autolog":
            args = node.args.args
            defaults = [None] * (len(args) - len(node.args.defaults)) + list(node.args.defaults)
            return [
                [a.arg, "<required>" if d is None else repr(ast.literal_eval(d))]
                for a, d in zip(args, defaults, strict=True)
            ]
    raise LookupError(f"no autolog in mlflow/{relative}")


def main() -> None:
    surface = {
        "mlflow_version": mlflow.__version__,
        "dir": _public(dir(mlflow)),
        "all": _public(mlflow.__all__),
        "submodules": _public(m.name for m in pkgutil.iter_modules(mlflow.__path__)),
        "tracking": _public(mlflow.tracking.__all__),
        "client_methods": _public(n for n, _ in inspect.getmembers(mlflow.MlflowClient, inspect.isfunction)),
        "autolog_signatures": {flavour: _autolog_signature(f) for flavour, f in _AUTOLOG_FILES.items()},
    }
    out = Path(__file__).with_name("mlflow-surface.json")
    out.write_text(json.dumps(surface, indent=1) + "\n")
    print(f"wrote {out}: {sum(len(v) for v in surface.values() if isinstance(v, list))} names")


if __name__ == "__main__":
    main()
