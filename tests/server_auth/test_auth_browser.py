"""The web UI behind ``asynctrack server --auth`` in a real browser (Debian's chromium through Playwright):
the page sends an anonymous visitor to /login, a wrong password is said so, signing in sets an HttpOnly
SameSite=Strict cookie the page's scripts cannot read, the experiments list shows only what the user may
read, the UI's writes (creating an experiment) pass the CSRF check and the creator then manages it, and
"Sign out" ends the session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from auth_helpers import API, PASSWORD, grant, new_user, ok
from browsers import chromium  # skips this module without chromium
from playwright.sync_api import Browser
from servers import ServerProcess


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.mark.slow
def test_login_page_cookie_filtered_list_and_csrf_protected_writes(
    server: ServerProcess, admin: httpx.Client, browser: Browser
) -> None:
    tag = uuid.uuid4().hex[:8]
    hidden = ok(admin.post(API + "/experiments/create", json={"name": f"hidden-{tag}"}))["experiment_id"]
    ok(admin.post(API + "/experiments/create", json={"name": f"visible-{tag}"}))
    name = new_user(admin, "web")
    grant(admin, name, hidden, "NO_PERMISSIONS")

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "401" not in m.text else None)
    page.set_default_timeout(20_000)
    try:
        page.goto(server.url + "/")
        page.wait_for_url("**/login")
        page.fill("#username", name)
        page.fill("#password", "not-the-password")
        page.click("button[type=submit]")
        page.locator("#error", has_text="Wrong username or password").wait_for()

        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(server.url + "/")
        page.get_by_text(f"visible-{tag}").wait_for()
        assert f"hidden-{tag}" not in page.inner_text("main")

        cookie = next(c for c in context.cookies() if c["name"] == "asynctrack_session")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
        assert "asynctrack_session" not in page.evaluate("document.cookie")

        page.fill("input[aria-label='New experiment name']", f"made-in-browser-{tag}")
        page.click("form.inline-form button[type=submit]")
        page.get_by_text(f'Created experiment "made-in-browser-{tag}".').wait_for()
        made = ok(
            admin.get(API + "/experiments/get-by-name", params={"experiment_name": f"made-in-browser-{tag}"})
        )
        eid = made["experiment"]["experiment_id"]
        got = ok(
            admin.get(API + "/experiments/permissions/get", params={"experiment_id": eid, "username": name})
        )
        assert got["experiment_permission"]["permission"] == "MANAGE"
        # The top bar names the user; signing out ends the session.
        assert errors == []
        assert page.inner_text("#account").startswith(name)
        page.click("#account button")
        page.wait_for_url("**/login")
        page.goto(server.url + "/")
        page.wait_for_url("**/login")
        assert not [c for c in context.cookies() if c["name"] == "asynctrack_session"]
        assert errors == []
    finally:
        context.close()
