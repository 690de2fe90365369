"""Shared fixtures: a fresh SQLite tracking store per test, and a clean fluent state around it."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import postgres_db
import pytest
from blockbuster import BlockBuster, blockbuster_ctx

import asynctrack
from asynctrack import fluent
from asynctrack.pipeline import close_pipelines

# Every event loop of the suite runs in asyncio's debug mode (uvloop honours it too): a call_soon from a
# thread other than the loop's, a coroutine never awaited or a callback blocking the loop for 100 ms is
# reported. Set before any loop exists (the library's background loop starts on first use); subprocesses
# (servers, loggers) inherit it.
os.environ.setdefault("PYTHONASYNCIODEBUG", "1")

# Variables that change where or how the fluent API logs; none may leak in from the developer's shell.
_ENV_VARS = (
    "MLFLOW_ENABLE_ASYNC_LOGGING",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_TRUNCATE_LONG_VALUES",
)


_ONE_SHOT_LOOPS = (
    ("asynctrack/cli/_db.py", {"run_db_command", "_upgrade"}),
    ("asynctrack/cli/_journal.py", {"_sync"}),
    ("asynctrack/cli/_users.py", {"run_users_command"}),
    ("asynctrack/server/_serve.py", {"serve"}),
    ("asynctrack/loadtest/_target.py", {"prepare_target"}),
    ("asynctrack/loadtest/_verify.py", {"verify"}),
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything alive once the tests are collected (every test module, and the training libraries that
    tests/integrations/ imports: ~450,000 objects) moves to the collector's permanent generation. A full
    collection then walks only what tests create: ~1 ms instead of ~0.9 s, for each ``gc.collect()`` a test
    makes and each automatic one during the session. Objects tests create are collected as before.

    Hypothesis is imported first: its plugins (trio's) register module-level PRNGs, and it warns about
    (an error here) a PRNG nothing refers to, looking for referrers with ``gc.get_referrers``, which does
    not see frozen objects."""
    import hypothesis  # noqa: F401  (its plugins run on import, before the freeze)

    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def blockbuster(request: pytest.FixtureRequest) -> Iterator[BlockBuster | None]:
    """Every test fails if asynctrack makes a blocking call (file or socket I/O, sleep, a lock wait) on a
    running event loop, its own background loop included (as anyio's tests do with blockbuster)."""
    if "tests/ui/" in str(request.path):
        # Playwright's sync API runs an asyncio loop on the test's own thread for as long as its browser
        # fixture lives, so every synchronous call of the test (the client seeding data, reading files)
        # looks like a blocking call on a loop: the detector cannot tell them from asynctrack's own.
        yield None
        return
    with blockbuster_ctx("asynctrack") as bb:
        # asyncpg looks for ~/.pgpass and ~/.postgresql/ certificates (stat, open, read) while it parses
        # its connection arguments, on the loop: once per connection, local files, a library we do not own.
        for function in bb.functions.values():
            function.can_block_in("asyncpg/connect_utils.py", {"_parse_connect_dsn_and_args"})
            # Commands that run one task on a loop of their own (anyio.run in a CLI command, server
            # start-up, a load test's setup): nothing else waits on that loop. The pipeline's loop and the
            # server's request loop get no such pass.
            for module, functions in _ONE_SHOT_LOOPS:
                function.can_block_in(module, functions)
        yield bb


@pytest.fixture(scope="session", autouse=True)
def _session_journal_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Journals of remote stores go to a directory of this session (subprocesses inherit it), never to
    ./mlruns/.journal of the checkout, so no test replays another's leftovers. Tests of the journal set
    their own."""
    old = os.environ.get("ASYNCTRACK_JOURNAL_DIR")
    os.environ["ASYNCTRACK_JOURNAL_DIR"] = str(tmp_path_factory.mktemp("journals"))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("ASYNCTRACK_JOURNAL_DIR", None)
        else:
            os.environ["ASYNCTRACK_JOURNAL_DIR"] = old


@pytest.fixture(scope="session", autouse=True)
def _postgres_pool() -> Iterator[None]:
    """The PostgreSQL databases ``postgres_db.backend_uri`` reused during the session are dropped at its end
    (none are made in a session that never asks for one)."""
    try:
        yield
    finally:
        postgres_db.drop_pooled_databases()


@pytest.fixture
def tmp_tracking(tmp_path, monkeypatch):
    """Log to ``sqlite:///<tmp_path>/t.db`` from inside ``tmp_path``; yields the tracking URI."""
    monkeypatch.chdir(tmp_path)
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    # The fluent module remembers the active experiment and the last run across calls (as MLflow does);
    # an id from another test's database must not leak into this one.
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    monkeypatch.setattr(fluent, "_last_active_run_id", None)
    monkeypatch.setattr(fluent, "_last_active_client", None)
    uri = f"sqlite:///{tmp_path}/t.db"
    asynctrack.set_tracking_uri(uri)
    try:
        yield uri
    finally:
        while asynctrack.active_run() is not None:
            asynctrack.end_run()
        asynctrack.set_tracking_uri(None)
        # Every pipeline the test started is flushed and closed (threads and connections released);
        # anything it could not write would be a bug.
        assert close_pipelines(timeout=10) == []
