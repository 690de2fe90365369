"""The PostgreSQL store's pooled connections: their session settings hold for every use, and a connection
given back with a transaction still open (a block cut short) is rolled back before its next use."""

from __future__ import annotations

from typing import Any

import postgres_db
import pytest
from loops import PRODUCTION_LOOP

from asynctrack.store.postgres._connection import PoolConfig, open_pool, pooled

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return PRODUCTION_LOOP


async def test_sessions_stay_utc_and_an_open_transaction_is_rolled_back() -> None:
    postgres_db.require()
    with postgres_db.temporary_database() as uri:
        # A database whose own default is another zone: the store's sessions must still be in UTC.
        name = uri.rsplit("/", 1)[1]
        postgres_db.execute(uri, f"ALTER DATABASE {name} SET TimeZone = 'Asia/Tokyo'", ())
        config = PoolConfig.from_uri(uri + "?pool_size=1")
        pool = await open_pool(config)
        try:
            for _ in range(3):  # one connection, used again and again
                async with pooled(pool, config) as conn:
                    assert await conn.fetchval("SHOW TIME ZONE") == "UTC"
            async with pooled(pool, config) as conn:
                await conn.execute("CREATE TABLE t (x int)")
                tx = conn.transaction()
                await tx.start()
                await conn.execute("INSERT INTO t VALUES (1)")
            # given back mid-transaction: the insert must not survive, nor the transaction
            async with pooled(pool, config) as conn:
                assert not conn.is_in_transaction()
                assert await conn.fetchval("SELECT count(*) FROM t") == 0
                assert await conn.fetchval("SHOW TIME ZONE") == "UTC"
        finally:
            await pool.close()
