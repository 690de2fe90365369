"""MLflow's enumerations: run status, view type, lifecycle stage (same names, values and helpers)."""

from __future__ import annotations

from typing import ClassVar

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["LifecycleStage", "RunStatus", "ViewType"]


class RunStatus:
    """Run states as integers (``RunStatus.RUNNING == 1``); ``RunInfo.status`` holds the string name."""

    RUNNING: ClassVar[int] = 1
    SCHEDULED: ClassVar[int] = 2
    FINISHED: ClassVar[int] = 3
    FAILED: ClassVar[int] = 4
    KILLED: ClassVar[int] = 5

    _NAMES: ClassVar[dict[int, str]] = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
    _VALUES: ClassVar[dict[str, int]] = {v: k for k, v in _NAMES.items()}
    _TERMINATED: ClassVar[frozenset[int]] = frozenset({3, 4, 5})

    @staticmethod
    def from_string(status_str: str) -> int:
        try:
            return RunStatus._VALUES[status_str]
        except (KeyError, TypeError):
            raise MlflowException(
                f"Could not get run status corresponding to string {status_str}. "
                f"Valid run status strings: {list(RunStatus._VALUES)}",
                error_code=INVALID_PARAMETER_VALUE,
            ) from None

    @staticmethod
    def to_string(status: int) -> str:
        try:
            return RunStatus._NAMES[status]
        except (KeyError, TypeError):
            raise MlflowException(
                f"Could not get string corresponding to run status {status}. "
                f"Valid run statuses: {list(RunStatus._NAMES)}",
                error_code=INVALID_PARAMETER_VALUE,
            ) from None

    @staticmethod
    def is_terminated(status: int | str) -> bool:
        if isinstance(status, str):
            status = RunStatus.from_string(status)
        return status in RunStatus._TERMINATED

    @staticmethod
    def all_status() -> list[int]:
        return list(RunStatus._NAMES)


class ViewType:
    """Which lifecycle stages a search covers."""

    ACTIVE_ONLY: ClassVar[int] = 1
    DELETED_ONLY: ClassVar[int] = 2
    ALL: ClassVar[int] = 3

    _NAMES: ClassVar[dict[int, str]] = {1: "active_only", 2: "deleted_only", 3: "all"}

    @classmethod
    def from_string(cls, view_str: str) -> int:
        for value, name in cls._NAMES.items():
            if isinstance(view_str, str) and view_str.lower() == name:
                return value
        raise MlflowException(
            f"Could not get valid view type corresponding to string {view_str}. "
            f"Valid view types are {list(cls._NAMES.values())}",
            error_code=INVALID_PARAMETER_VALUE,
        )

    @classmethod
    def to_string(cls, view_type: int) -> str:
        try:
            return cls._NAMES[view_type]
        except KeyError:
            raise MlflowException(
                f"Could not get valid view type corresponding to {view_type}. "
                f"Valid view types are {list(cls._NAMES)}",
                error_code=INVALID_PARAMETER_VALUE,
            ) from None


class LifecycleStage:
    """Whether an experiment or run is live or in the trash."""

    ACTIVE: ClassVar[str] = "active"
    DELETED: ClassVar[str] = "deleted"
    _VALID: ClassVar[frozenset[str]] = frozenset({"active", "deleted"})

    @classmethod
    def view_type_to_stages(cls, view_type: int = ViewType.ALL) -> list[str]:
        stages = []
        if view_type in (ViewType.ACTIVE_ONLY, ViewType.ALL):
            stages.append(cls.ACTIVE)
        if view_type in (ViewType.DELETED_ONLY, ViewType.ALL):
            stages.append(cls.DELETED)
        return stages

    @classmethod
    def is_valid(cls, lifecycle_stage: str) -> bool:
        return lifecycle_stage in cls._VALID

    @classmethod
    def matches_view_type(cls, view_type: int, lifecycle_stage: str) -> bool:
        if not cls.is_valid(lifecycle_stage):
            raise MlflowException(
                f"Invalid lifecycle stage '{lifecycle_stage}'", error_code=INVALID_PARAMETER_VALUE
            )
        if view_type not in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
            raise MlflowException(f"Invalid view type '{view_type}'", error_code=INVALID_PARAMETER_VALUE)
        return lifecycle_stage in cls.view_type_to_stages(view_type)
