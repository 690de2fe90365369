"""Concurrent registry writes on one store: version numbers are handed out once each (on PostgreSQL the
writes run on separate pooled connections, and the model's row lock serialises the numbering)."""

from __future__ import annotations

import anyio
import pytest
from postgres_db import STORE_BACKENDS, backend_uri, open_test_store


@pytest.mark.parametrize("backend", STORE_BACKENDS)
def test_concurrent_versions_get_distinct_numbers(backend: str, tmp_path: object) -> None:
    async def go(uri: str) -> tuple[list[int], list[str]]:
        store = await open_test_store(uri, str(tmp_path))
        try:
            await store.create_registered_model("m")
            numbers: list[int] = []

            async def one(i: int) -> None:
                mv = await store.create_model_version("m", f"s3://bucket/{i}")
                numbers.append(int(mv.version))

            async with anyio.create_task_group() as tg:
                for i in range(20):
                    tg.start_soon(one, i)
            page, _ = await store.search_model_versions("name = 'm'", 100, ["version_number ASC"], None)
            return sorted(numbers), [v.version for v in page]
        finally:
            await store.aclose()

    with backend_uri(backend, str(tmp_path)) as uri:
        numbers, listed = anyio.run(go, uri)
    assert numbers == list(range(1, 21))
    assert listed == [str(n) for n in range(1, 21)]
