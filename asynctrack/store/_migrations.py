"""Schema versions and migrations, shared by every database backend.

Each backend keeps an integer schema version in its database and a list of :class:`Migration` steps, one
per version it can upgrade *from* (``steps[v]`` turns version ``v`` into ``v + 1``). This module holds what
does not depend on the backend: which steps take a database from the version found to the version the code
reads (:func:`plan`), and the errors and messages when that is impossible or not allowed:

- a database **newer** than the code is refused (:class:`SchemaTooNew`), naming both versions, before
  anything is written to it: an older asynctrack must not half-understand a newer schema;
- a database **older** than the code is upgraded only where the caller allows it; otherwise
  :class:`SchemaTooOld` says to run ``asynctrack db upgrade URI``. The embedded store, opened by a client
  for its own file, upgrades on open; a server never migrates a shared database silently.

A step's ``apply`` is the backend's business (a ``sqlite3.Connection`` function for SQLite, a coroutine
for PostgreSQL); backends run the whole plan in one transaction, so a failed upgrade leaves the database at
the version it had.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import msgspec

from asynctrack.exceptions import INVALID_STATE, MlflowException

__all__ = ["Migration", "SchemaTooNew", "SchemaTooOld", "UpgradeReport", "plan"]

C = TypeVar("C")


class Migration(msgspec.Struct, Generic[C], frozen=True):
    """One step: schema ``from_version`` → ``from_version + 1``. ``apply(connection)`` does it inside the
    caller's transaction; ``description`` is shown by ``asynctrack db upgrade``."""

    from_version: int
    description: str
    apply: Callable[[C], object]

    @property
    def to_version(self) -> int:
        return self.from_version + 1


class UpgradeReport(msgspec.Struct, frozen=True):
    """What ``asynctrack db upgrade`` did (or, with ``dry_run``, would do): the versions before and after,
    the steps (their descriptions), and where the backup went (SQLite; empty if none was made)."""

    uri: str
    from_version: int
    to_version: int
    steps: tuple[str, ...] = ()
    backup: str = ""
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return self.from_version != self.to_version


class SchemaTooNew(MlflowException):
    """The database was written by a newer asynctrack: this one must not read or write it."""

    def __init__(self, where: str, found: int, supported: int) -> None:
        super().__init__(
            f"The database {where} has asynctrack schema version {found}, newer than version {supported} "
            f"that this asynctrack reads: it was upgraded by a newer asynctrack. Nothing was written to it. "
            "Upgrade asynctrack (pip install -U asynctrack) to use it.",
            error_code=INVALID_STATE,
        )
        self.found = found
        self.supported = supported


class SchemaTooOld(MlflowException):
    """The database has an older schema that this caller may not upgrade by itself (a server)."""

    def __init__(self, where: str, uri: str, found: int, supported: int) -> None:
        super().__init__(
            f"The database {where} has asynctrack schema version {found}; this asynctrack reads version "
            f"{supported}. A server does not migrate a shared database by itself: stop the processes using "
            f"it and run `asynctrack db upgrade {uri}` (it reports each step and, for SQLite, keeps a "
            "backup), then start the server again.",
            error_code=INVALID_STATE,
        )
        self.found = found
        self.supported = supported


def plan(steps: Mapping[int, Migration[C]], where: str, found: int, supported: int) -> list[Migration[C]]:
    """The steps taking version ``found`` to ``supported``, in order (empty when equal).

    Raises :class:`SchemaTooNew` for a newer database and a plain :class:`MlflowException` when some step
    on the way is missing (a development version's database that no migration covers).
    """
    if found > supported:
        raise SchemaTooNew(where, found, supported)
    out = []
    for version in range(found, supported):
        step = steps.get(version)
        if step is None or step.from_version != version:
            raise MlflowException(
                f"The database {where} has asynctrack schema version {found}; this asynctrack reads version "
                f"{supported} and has no migration from version {version} (versions before "
                f"{min(steps, default=supported)} were pre-release development formats). Log to a new "
                "database, or copy the data out with the asynctrack that wrote it.",
                error_code=INVALID_STATE,
            )
        out.append(step)
    return out
