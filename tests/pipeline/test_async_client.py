"""AsyncClient: the same operations as coroutines, from asyncio and trio, on the same pipeline."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import asynctrack as mlflow
from asynctrack import AsyncClient, MlflowException, RunOperations


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_client_round_trip(db: Path, backend: str) -> None:
    """Create a run, log asynchronously and synchronously, read everything back, from async code."""

    async def main() -> None:
        async with AsyncClient() as client:
            exp = await client.create_experiment(f"async-{backend}")
            run = await client.create_run(exp, run_name="r")
            rid = run.info.run_id
            ops = [
                await client.log_metric(rid, "m", float(i), step=i, synchronous=False) for i in range(2000)
            ]
            await RunOperations.combine(ops)  # type: ignore[misc]
            assert await client.log_param(rid, "p", 3, synchronous=True) == 3
            await client.set_tag(rid, "t", "v", synchronous=True)
            await client.log_metric_array(rid, "arr", [1.0, 2.0, 3.0], synchronous=True)
            history = await client.get_metric_history(rid, "m")
            assert [m.step for m in history] == list(range(2000))
            got = await client.get_run(rid)
            assert got.data.params == {"p": "3"} and got.data.tags["t"] == "v"
            assert got.data.metrics["arr"] == 3.0
            await client.set_terminated(rid)
            assert (await client.get_run(rid)).info.status == "FINISHED"

    anyio.run(main, backend=backend)


def test_async_client_reports_failures(db: Path) -> None:
    """A store failure reaches the awaiting coroutine with MLflow's error code."""

    async def main() -> None:
        client = AsyncClient()
        with pytest.raises(MlflowException) as info:
            await client.log_metric("0" * 32, "m", 1.0, synchronous=True)
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    anyio.run(main)


def test_async_and_sync_callers_share_one_pipeline(db: Path) -> None:
    """Operations from sync code and from an AsyncClient on one run are all written."""
    with mlflow.start_run() as run:
        mlflow.log_metric("sync", 1.0)

        async def main() -> None:
            await AsyncClient().log_metric(run.info.run_id, "async", 2.0, synchronous=True)

        anyio.run(main)
    assert mlflow.get_run(run.info.run_id).data.metrics == {"sync": 1.0, "async": 2.0}
