"""Debian's chromium for the browser tests (web UI, cross-site attacks, login), driven by Playwright.

Importing this module skips the importing test module when ``/usr/bin/chromium`` is absent (``.ci/run``
installs it). Never a browser that Playwright downloads: none can be fetched here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
#: Headless flags as root; background networking off, since this machine's closed network refuses
#: Chromium's own connections (many at a time).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium) for the browser tests",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, sync_playwright  # noqa: E402


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    """A launched headless chromium with :data:`CHROMIUM_ARGS` and ``extra_args``, closed afterwards."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()
