"""Browser tests of the web UI: Debian's chromium driven by Playwright for Python, against one real
``asynctrack server`` on a seeded SQLite store for the whole session.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``.ci/run`` installs the
apt package when it is missing). Without it the tests are skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browsers import chromium
from playwright.sync_api import Browser, ConsoleMessage, Page
from servers import asynctrack_server
from ui_browser import UI
from ui_seed import seed

from asynctrack.pipeline import close_pipelines


@pytest.fixture(scope="session")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    root = tmp_path_factory.mktemp("ui")
    db = root / "ui.db"
    seeded = seed(db)
    assert close_pipelines(timeout=60) == []
    # The seeded experiments keep their artifacts under root/artifacts: the server reads artifacts only under
    # its configured roots, so that directory is its default artifact root.
    extra = ["--default-artifact-root", str(root / "artifacts")]
    server = asynctrack_server(root, backend_store_uri=f"sqlite:///{db}", extra=extra)
    server.start()
    try:
        yield UI(server, seeded, root)
    finally:
        server.stop()
        assert close_pipelines(timeout=30) == []  # the tests' REST clients wrote everything


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


class Problems:
    """Console errors, uncaught page errors and dialogs (alert/confirm) seen by one page."""

    def __init__(self) -> None:
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.allowed: list[str] = []

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning") and not any(a in msg.text for a in self.allowed):
            self.console.append(f"{msg.type}: {msg.text} ({msg.location})")

    def assert_none(self) -> None:
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert self.errors == [], f"page errors: {self.errors}"
        assert self.console == [], f"console errors: {self.console}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Any]:
    """A fresh 1280x800 page; at the end, no console error, no page error and no dialog may have happened."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    pg: Page = context.new_page()
    problems = Problems()
    pg.on("console", problems.on_console)
    pg.on("pageerror", lambda exc: problems.errors.append(str(exc)))

    def on_dialog(dialog: Any) -> None:
        problems.dialogs.append(dialog.message)
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    pg.problems = problems  # type: ignore[attr-defined]
    pg.set_default_timeout(15_000)
    try:
        yield pg
        problems.assert_none()
    finally:
        context.close()
