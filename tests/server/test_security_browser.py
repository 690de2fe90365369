"""The attacks of issue 12 made by a real browser: Debian's chromium (Playwright) visits a hostile page
that tries every way a page can write to a local ``asynctrack server`` without asking (a ``no-cors``
fetch, a JSON fetch, a ``text/plain`` form crafted to look like JSON, ``sendBeacon``), and a page on a
rebound DNS name. Nothing is written; the same page on an origin listed in ``--cors-allowed-origins``
does write (so the page's requests do reach the server, and the test would see a hole).

Chromium resolves ``evil.test`` and ``friend.test`` to 127.0.0.1 (``--host-resolver-rules``), so both
pages are other *sites* than the server's ``127.0.0.1``, as a page on the internet is.
"""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browsers import chromium  # skips this module without chromium
from playwright.sync_api import Browser
from security_helpers import experiment_named
from server_helpers import call, make_server
from servers import ServerProcess, free_port, running

ATTACK = """<!doctype html><html><body><iframe name="sink"></iframe><script>
const api = "%(target)s/api/2.0/mlflow";
const tag = "%(tag)s";
const log = [];
async function attempt(label, run) {
  try { await run(); log.push(label + ":sent"); } catch (e) { log.push(label + ":" + e.name); }
}
(async () => {
  await attempt("no-cors", () => fetch(api + "/experiments/create", {method: "POST", mode: "no-cors",
      headers: {"Content-Type": "text/plain"}, body: JSON.stringify({name: tag + "-nocors"})}));
  await attempt("json", async () => {
    const r = await fetch(api + "/experiments/create", {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({name: tag + "-json"})});
    log.push("json-status:" + r.status);
  });
  await attempt("delete", () => fetch(api + "/experiments/delete", {method: "POST", mode: "no-cors",
      headers: {"Content-Type": "text/plain"}, body: JSON.stringify({experiment_id: "%(victim)s"})}));
  await attempt("beacon", async () => {
    if (!navigator.sendBeacon(api + "/experiments/create",
        new Blob([JSON.stringify({name: tag + "-beacon"})], {type: "text/plain"}))) throw new Error("no");
  });
  await new Promise((done) => {
    const form = document.createElement("form");
    form.method = "POST"; form.enctype = "text/plain"; form.target = "sink";
    form.action = api + "/experiments/create";
    const field = document.createElement("input");
    field.name = '{"name": "' + tag + '-form", "x": "'; field.value = '"}';
    form.appendChild(field); document.body.appendChild(form);
    document.querySelector("iframe").onload = done;
    form.submit();
  });
  document.title = "done " + log.join(" ");
})();
</script></body></html>"""


class _Page(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def attacker_port() -> Iterator[int]:
    """A plain HTTP server for the hostile page (its text is set per test)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium("--host-resolver-rules=MAP evil.test 127.0.0.1, MAP friend.test 127.0.0.1") as b:
        yield b


def _visit(browser: Browser, url: str) -> str:
    page = browser.new_page()
    try:
        page.goto(url)
        page.wait_for_function("document.title.startsWith('done')", timeout=60_000)
        return page.title()
    finally:
        page.close()


def _run_attack(
    browser: Browser, server: ServerProcess, attacker_port: int, site: str
) -> tuple[str, str, str]:
    """The hostile page served from ``site``; returns (its tag, the victim experiment id, the page's log)."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        victim = call(c, "POST", "/experiments/create", {"name": f"victim-{uuid.uuid4().hex}"})[
            "experiment_id"
        ]
    tag = f"csrf-{uuid.uuid4().hex[:8]}"
    _Page.page = (ATTACK % {"target": server.url, "tag": tag, "victim": victim}).encode()
    return tag, victim, _visit(browser, f"http://{site}:{attacker_port}/")


def _written(server: ServerProcess, tag: str) -> list[str]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return [
            s for s in ("nocors", "json", "beacon", "form") if experiment_named(c, f"{tag}-{s}") is not None
        ]


def _stage(server: ServerProcess, experiment_id: str) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return str(
            call(c, "GET", "/experiments/get", experiment_id=experiment_id)["experiment"]["lifecycle_stage"]
        )


@pytest.mark.slow
def test_a_hostile_page_cannot_write(tmp_path: Path, browser: Browser, attacker_port: int) -> None:
    with running(make_server(tmp_path)) as server:
        for site in ("evil.test", "localhost"):  # another site; the same site on another port
            tag, victim, page_log = _run_attack(browser, server, attacker_port, site)
            assert _written(server, tag) == [], page_log
            assert _stage(server, victim) == "active"
        # The requests did reach the server, and were refused there (not merely never sent).
        assert "blocked cross-origin" in server.log.read_text()


@pytest.mark.slow  # a browser page per case (~3 s); the hostile page stays in the quick loop
def test_the_same_page_on_an_allowed_origin_writes(
    tmp_path: Path, browser: Browser, attacker_port: int
) -> None:
    friend = f"http://friend.test:{attacker_port}"
    with running(make_server(tmp_path, extra=["--cors-allowed-origins", friend])) as server:
        tag, victim, page_log = _run_attack(browser, server, attacker_port, "friend.test")
        # The JSON fetch passes its preflight and writes; the no-cors, beacon and form posts are text/plain,
        # which a write never is, so they are refused even from an allowed origin; the delete too.
        assert _written(server, tag) == ["json"], page_log
        assert "json-status:200" in page_log
        assert _stage(server, victim) == "active"


@pytest.mark.slow  # a browser page per case (~3 s); the hostile page stays in the quick loop
def test_a_rebound_name_is_refused(tmp_path: Path, browser: Browser) -> None:
    """DNS rebinding: the browser reaches the server under the attacker's name; the server does not answer."""
    with running(make_server(tmp_path)) as server:
        page = browser.new_page()
        try:
            response = page.goto(
                f"http://evil.test:{server.port}/api/2.0/mlflow/experiments/search?max_results=1"
            )
            assert response is not None and response.status == 403
            assert "DNS rebinding" in page.content()
            ok = page.goto(f"http://localhost:{server.port}/api/2.0/mlflow/experiments/search?max_results=1")
            assert ok is not None and ok.status == 200
        finally:
            page.close()
