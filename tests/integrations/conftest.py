"""Shared by the integration tests: each library is skipped with one line when it is not installed, and the
Keras tests run on the torch backend (set before keras is first imported)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def need(module: str) -> None:
    """Skip the calling test module when ``module`` is not installed (``.[integrations-test]`` brings it)."""
    pytest.importorskip(module, reason=f"{module} is not installed (pip install -e '.[integrations-test]')")
