"""The permission levels of MLflow's basic-auth app, and what each one allows.

An experiment permission is one of ``READ``, ``USE``, ``EDIT``, ``MANAGE`` or ``NO_PERMISSIONS`` (MLflow's
names and capabilities; ``USE`` sits between ``READ`` and ``EDIT`` in MLflow 3 and is accepted so MLflow's
clients can grant it). A user's permission on an experiment is their grant on it, or the server's default
permission (``--default-permission``, MLflow's default ``READ``) when they have none; admins may do
everything. Each endpoint needs one capability (``can_read``, ``can_update``, ``can_delete``,
``can_manage``) on the experiment it touches, as MLflow's auth app maps them (``_policy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = [
    "ALL_PERMISSIONS",
    "EDIT",
    "GRANTABLE",
    "MANAGE",
    "NO_PERMISSIONS",
    "READ",
    "USE",
    "Capability",
    "Permission",
    "get_permission",
]

Capability = Literal["can_read", "can_update", "can_delete", "can_manage"]


@dataclass(frozen=True)
class Permission:
    name: str
    can_read: bool
    can_use: bool
    can_update: bool
    can_delete: bool
    can_manage: bool

    def allows(self, capability: Capability) -> bool:
        allowed: bool = getattr(self, capability)
        return allowed


READ = Permission("READ", True, False, False, False, False)
USE = Permission("USE", True, True, False, False, False)
EDIT = Permission("EDIT", True, True, True, False, False)
MANAGE = Permission("MANAGE", True, True, True, True, True)
NO_PERMISSIONS = Permission("NO_PERMISSIONS", False, False, False, False, False)

ALL_PERMISSIONS = {p.name: p for p in (READ, USE, EDIT, MANAGE, NO_PERMISSIONS)}
#: What an experiment grant may be: NO_PERMISSIONS too, so that a default of READ can be withdrawn from
#: one user on one experiment (MLflow's legacy experiment-permission endpoints allow it as well).
GRANTABLE = ALL_PERMISSIONS


def get_permission(name: str) -> Permission:
    """The permission called ``name``; MLflow's INVALID_PARAMETER_VALUE message for any other name."""
    found = ALL_PERMISSIONS.get(name) if isinstance(name, str) else None
    if found is None:
        raise MlflowException(
            f"Invalid permission '{name}'. Valid permissions are: {tuple(ALL_PERMISSIONS)}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return found
