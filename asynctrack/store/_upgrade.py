"""``asynctrack db upgrade``: bring a store's database to the schema this asynctrack reads, by backend."""

from __future__ import annotations

import anyio

from asynctrack._tracking_uri import StoreLocation
from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException
from asynctrack.store._migrations import UpgradeReport
from asynctrack.store.sqlite._migrations import upgrade_file

__all__ = ["upgrade_database"]


async def upgrade_database(
    location: StoreLocation, *, backup: bool = True, dry_run: bool = False
) -> UpgradeReport:
    """Upgrade the database at ``location`` in place, in one transaction (see each backend's
    ``_migrations.py``); ``dry_run`` reports the steps without applying them."""
    if location.scheme == "sqlite":
        return await anyio.to_thread.run_sync(
            lambda: upgrade_file(location.db_path, location.uri, backup=backup, dry_run=dry_run)
        )
    if location.is_postgres:
        try:
            from asynctrack.store.postgres._migrations import upgrade_database as upgrade_postgres
        except ImportError:
            raise MlflowException(
                "upgrading PostgreSQL needs asyncpg: pip install 'asynctrack[postgres]'",
                error_code=INVALID_PARAMETER_VALUE,
            ) from None
        return await upgrade_postgres(location.uri, dry_run=dry_run)
    if location.is_remote:
        raise MlflowException(
            f"{location.uri} is a tracking server: its database is upgraded where it runs, with "
            "`asynctrack db upgrade <its --backend-store-uri>` while the server is stopped",
            error_code=INVALID_PARAMETER_VALUE,
        )
    raise MlflowException(
        f"no schema migrations for {location.uri} (scheme {location.scheme!r})",
        error_code=INVALID_PARAMETER_VALUE,
    )
