"""Every accepted operation ends durable or failed, even when the worker meets a bug; and the exception a
``wait()`` raises belongs to that call alone."""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec
import pytest

from asynctrack import MlflowClient, MlflowException
from asynctrack.pipeline import _worker, get_pipeline
from asynctrack.pipeline._operations import _report


def _undecodable(run_id: str) -> object:
    # A frame with a valid producer and sequence number but an operation tag no decoder knows: what a
    # bug in an encoder would queue (user input never reaches the queue unchecked).
    return lambda pid, seq: msgspec.msgpack.encode([99, pid, seq, run_id])


def test_a_chunk_that_does_not_decode_fails_its_operations(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An operation the worker cannot decode fails with INTERNAL_ERROR (before: wait() never returned),
    the failure is logged once however often it recurs, and later operations are still written."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    queue = get_pipeline().queue
    with caplog.at_level(logging.ERROR, logger="asynctrack"):
        for _ in range(2):
            ops = queue.put(_undecodable(rid))  # type: ignore[arg-type]
            with pytest.raises(MlflowException) as info:
                ops.wait(timeout=30)
            assert info.value.error_code == "INTERNAL_ERROR"
            assert "could not process 1 queued logging operations" in info.value.message
    assert len([r for r in caplog.records if "could not process a chunk" in r.getMessage()]) == 1
    client.log_metric(rid, "m", 1.0, step=3, synchronous=True)
    assert [(m.step, m.value) for m in client.get_metric_history(rid, "m")] == [(3, 1.0)]


def test_a_bug_outside_the_store_call_fails_the_chunk_and_the_worker_carries_on(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error while the worker prepares a chunk (injected here: coalescing raises once)
    fails that chunk's operations with INTERNAL_ERROR; the worker keeps running and writes what comes
    next (before: the error ended the worker, and every later operation was lost)."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    real = _worker.coalesce
    calls = []

    def coalesce_failing_once(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected bug")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_worker, "coalesce", coalesce_failing_once)
    ops = client.log_metric(rid, "m", 1.0, step=1, synchronous=False)
    assert ops is not None
    with pytest.raises(MlflowException) as info:
        ops.wait(timeout=30)
    assert info.value.error_code == "INTERNAL_ERROR"
    assert "injected bug" in info.value.message
    client.log_metric(rid, "m", 2.0, step=2, synchronous=True)
    assert [m.step for m in client.get_metric_history(rid, "m")] == [2]


def test_each_wait_raises_its_own_exception(db: Path) -> None:
    """Two waits on the same failed operation raise two exception objects; combining it with another
    failure attaches both to the new one without touching what an earlier wait raised."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    client.log_param(rid, "p", "1", synchronous=True)
    bad = client.log_param(rid, "p", "2", synchronous=False)
    ghost = client.log_metric("f" * 32, "m", 1.0, synchronous=False)
    assert bad is not None and ghost is not None
    first, second = bad.exception(timeout=30), bad.exception(timeout=30)
    assert first is not None and second is not None
    assert first is not second
    assert first.error_code == second.error_code == "INVALID_PARAMETER_VALUE"
    both = (bad + ghost).exception(timeout=30)
    assert both is not None
    assert [e.error_code for e in both.failures] == ["INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"]
    assert first.failures == [first]  # unchanged by the later wait
    assert first.__traceback__ is None or first.__traceback__ is not both.__traceback__


def test_what_one_wait_raises_can_be_changed_without_touching_another(db: Path) -> None:
    """The copies each wait() raises own their mutable parts: a note added to one (``add_note``, as a
    caller's error handler may do) or a change to its ``json_kwargs`` is not seen by the other or by
    later waits (before: the copies shared one dict and one notes list)."""
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    client.log_param(rid, "p", "1", synchronous=True)
    bad = client.log_param(rid, "p", "2", synchronous=False)
    assert bad is not None
    first = bad.exception(timeout=30)
    assert first is not None
    first.add_note("seen by the first handler")
    first.json_kwargs["extra"] = "first"
    second, third = bad.exception(timeout=30), bad.exception(timeout=30)
    assert second is not None and third is not None
    assert getattr(second, "__notes__", []) == []
    assert "extra" not in second.json_kwargs
    second.add_note("seen by the second handler")
    second.json_kwargs["extra"] = "second"
    assert first.__notes__ == ["seen by the first handler"]
    assert first.json_kwargs["extra"] == "first"
    assert getattr(third, "__notes__", []) == [] and "extra" not in third.json_kwargs


def test_a_recorded_failure_with_notes_gives_each_report_its_own() -> None:
    """A recorded failure that already carries notes (and json_kwargs) is copied per ``wait()``: a note or
    a key added to one report is seen neither by another report nor by the recorded failure (before: the
    shallow copy shared the recorded ``__notes__`` list and ``json_kwargs`` dict with every report)."""
    recorded = MlflowException("boom", error_code="INVALID_PARAMETER_VALUE", key="p")
    recorded.add_note("recorded by the store")
    one, other = _report([recorded]), _report([recorded])
    one.add_note("added by one handler")
    one.json_kwargs["extra"] = "one"
    assert other.__notes__ == ["recorded by the store"]
    assert other.json_kwargs == {"key": "p"}
    assert recorded.__notes__ == ["recorded by the store"]
    assert recorded.json_kwargs == {"key": "p"}
    assert one.__notes__ == ["recorded by the store", "added by one handler"]
    assert one.json_kwargs == {"key": "p", "extra": "one"}
