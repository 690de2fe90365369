"""The interop tests' mlflow venv: when it cannot be built, its tests skip with one line saying how to
provide one, unless ``ASYNCTRACK_TEST_REQUIRE_MLFLOW=1`` (CI), where they fail."""

from __future__ import annotations

import venv
from pathlib import Path

import pytest
import servers


def _cannot_create(*args: object, **kwargs: object) -> None:
    raise OSError(28, "No space left on device")


@pytest.fixture
def unbuildable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh venv location whose creation fails as it would on a full disk."""
    root = tmp_path / "mlflow-venv"
    monkeypatch.setenv("ASYNCTRACK_TEST_MLFLOW_VENV", str(root))
    monkeypatch.setattr(servers, "_mlflow_unavailable", None)
    monkeypatch.setattr(venv, "create", _cannot_create)
    return root


def test_a_venv_that_cannot_be_built_skips_with_how_to_provide_one(
    unbuildable: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASYNCTRACK_TEST_REQUIRE_MLFLOW", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        servers.mlflow_python()
    message = str(info.value)
    assert "ASYNCTRACK_TEST_MLFLOW_VENV" in message and "No space left on device" in message
    assert "\n" not in message
    with pytest.raises(pytest.skip.Exception):  # remembered: not tried again by the next test
        servers.mlflow_python()


def test_ci_fails_instead_of_skipping(unbuildable: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCTRACK_TEST_REQUIRE_MLFLOW", "1")
    with pytest.raises(RuntimeError, match="ASYNCTRACK_TEST_MLFLOW_VENV"):
        servers.mlflow_python()
