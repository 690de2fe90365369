"""Registry reads on the embedded store run in the calling thread (``store/_here.py``): no hop to the
background loop, the same answers and errors, writes never taken that way, and a read the thread cannot
do goes to the loop instead."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from blockbuster import BlockBuster

from asynctrack import MlflowClient
from asynctrack.exceptions import MlflowException
from asynctrack.pipeline import get_pipeline
from asynctrack.store._here import run_here


def _client(tmp_path: Path) -> tuple[MlflowClient, str]:
    uri = f"sqlite:///{tmp_path / 'r.db'}"
    c = MlflowClient(uri)
    c.create_registered_model("m")
    c.create_model_version("m", "s3://b/1")
    c.create_model_version("m", "s3://b/2")
    c.set_registered_model_alias("m", "champion", "2")
    return c, uri


def test_reads_finish_in_the_calling_thread_with_the_loop_blocked(
    tmp_path: Path, blockbuster: BlockBuster | None
) -> None:
    """With the background loop busy in a blocking call, a registry read still answers: it never
    needed the loop (the loop path would wait for it)."""
    if blockbuster is not None:  # the loop is blocked on purpose here
        for function in blockbuster.functions.values():
            function.can_block_in("tests/registry/test_reads_in_caller_thread.py", {"hold"})
    c, uri = _client(tmp_path)
    pipeline = get_pipeline(uri)
    release = threading.Event()
    entered = threading.Event()

    async def hold() -> None:
        entered.set()
        release.wait(30)  # blocks the loop's thread on purpose

    holder = threading.Thread(target=pipeline.call, args=(hold,))
    holder.start()
    try:
        assert entered.wait(30)
        assert c.get_model_version_by_alias("m", "champion").version == "2"
        assert [v.version for v in c.search_model_versions("name = 'm'", order_by=["version_number"])] == [
            "1",
            "2",
        ]
        with pytest.raises(MlflowException) as info:
            c.get_model_version_by_alias("m", "nope")
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "nope" in info.value.message
    finally:
        release.set()
        holder.join(30)


def test_a_write_is_never_run_in_the_callers_thread(tmp_path: Path) -> None:
    c, uri = _client(tmp_path)
    store = get_pipeline(uri).store
    done, result = run_here(store.create_registered_model, "other")  # type: ignore[attr-defined]
    assert (done, result) == (False, None)
    with pytest.raises(MlflowException) as info:
        c.get_registered_model("other")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_reads_see_other_connections_commits(tmp_path: Path) -> None:
    c, uri = _client(tmp_path)
    other = MlflowClient(uri)
    assert c.get_model_version("m", "2").version == "2"  # this thread's read connection is open now
    other.set_registered_model_alias("m", "champion", "1")
    assert c.get_model_version_by_alias("m", "champion").version == "1"


def test_a_read_the_callers_thread_cannot_do_goes_to_the_loop(tmp_path: Path) -> None:
    """When the caller's thread cannot read (here: its connections are closed; in use, a busy database),
    the read raises nothing new: it runs on the loop's reader and answers the same."""
    c, uri = _client(tmp_path)
    store = get_pipeline(uri).store
    store._here.close()  # type: ignore[attr-defined]
    done, _ = run_here(store.get_model_version_by_alias, "m", "champion")  # type: ignore[attr-defined]
    assert not done
    assert c.get_model_version_by_alias("m", "champion").version == "2"
