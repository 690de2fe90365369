"""``asynctrack ui`` and the pages' HTTP side: the command serves the app over the embedded store and prints
its URL; every UI file carries the strict CSP; only packaged files are served."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from servers import ServerProcess, free_port, running

from asynctrack.server.ui import UI_HEADERS, app_version

STATIC = Path(__file__).resolve().parents[2] / "asynctrack" / "server" / "ui" / "static"


def _ui(tmp_path: Path, *extra: str) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "asynctrack", "ui", "--port", str(port), *extra]
    return ServerProcess(argv, port, tmp_path / "ui.log")


@pytest.mark.slow
def test_ui_command_serves_the_app_and_prints_its_url(tmp_path: Path) -> None:
    """Defaults as `mlflow ui`: loopback, the given port, the client's store; the URL is printed first."""
    uri = f"sqlite:///{tmp_path / 'ui.db'}"
    server = _ui(tmp_path, "--backend-store-uri", uri)
    with running(server) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        index = c.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        for name, value in UI_HEADERS.items():
            assert index.headers[name] == value
        assert "default-src 'self'" in index.headers["content-security-policy"]
        # the REST API is served too, on the same store
        created = c.post("/api/2.0/mlflow/experiments/create", json={"name": "from-ui"})
        assert created.status_code == 200, created.text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "http://" not in server.log.read_text():
        time.sleep(0.1)
    assert f"http://127.0.0.1:{server.port}/" in server.log.read_text()
    assert (tmp_path / "ui.db").exists()


def test_every_app_file_is_served_with_its_type_and_the_csp(tmp_path: Path) -> None:
    """Every file the app references (index.html's links, every import of every module) is served with
    the CSP, nosniff and its content type; nothing is inline (no <script> body, no style= attribute)."""
    with running(_ui(tmp_path, "--backend-store-uri", f"sqlite:///{tmp_path / 'a.db'}")) as srv:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            html = c.get("/").text
            assert not re.search(r"<script[^>]*>[^<\s]", html), "inline script in index.html"
            assert "style=" not in html and "<style" not in html
            refs = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
            version = app_version()
            assert f"/static/v{version}/js/app.js" in refs
            assert all(ref.startswith(f"/static/v{version}/") for ref in refs), refs
            for js in STATIC.rglob("*.js"):
                rel = js.relative_to(STATIC).as_posix()
                refs.append(f"/static/{rel}")
                text = js.read_text()
                assert "innerHTML" not in text or rel.startswith("vendor/"), f"{rel} uses innerHTML"
                assert "insertAdjacentHTML" not in text and "outerHTML =" not in text
            for ref in refs:
                r = c.get(ref)
                assert r.status_code == 200, ref
                assert r.headers["content-security-policy"] == UI_HEADERS["Content-Security-Policy"]
                assert r.headers["x-content-type-options"] == "nosniff"
                ext = ref.rsplit(".", 1)[-1]
                want = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[ext]
                assert r.headers["content-type"].startswith(want), ref
                again = c.get(ref, headers={"If-None-Match": r.headers["etag"]})
                assert again.status_code == 304
            # only packaged files, by name: no traversal, no source files, no directories
            for bad in ("/static/../_pages.py", "/static/%2e%2e/_pages.py", "/static/js", "/static/nope.js"):
                assert c.get(bad).status_code == 404, bad
            # the licence ships in the package but is not served (no servable extension)
            assert c.get("/static/vendor/uplot/LICENSE").status_code == 404
            assert c.get(f"/static/v{version}/../_pages.py").status_code == 404


def test_versioned_files_are_immutable_and_text_is_gzipped(tmp_path: Path) -> None:
    """index.html names the files under /static/v<version>/, answered as immutable (a second visit asks
    nothing); index.html and unversioned or other versions' paths are revalidated; text goes gzipped to
    a client that accepts it, the same bytes once decoded."""
    with running(_ui(tmp_path, "--backend-store-uri", f"sqlite:///{tmp_path / 'a.db'}")) as srv:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            version = app_version()
            page = c.get("/")
            assert page.headers["cache-control"] == "no-cache" and page.headers["etag"]
            plain = (STATIC / "js" / "runs.js").read_bytes()
            fresh = c.get(f"/static/v{version}/js/runs.js", headers={"Accept-Encoding": "identity"})
            assert fresh.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert "content-encoding" not in fresh.headers and fresh.content == plain
            assert fresh.headers["content-security-policy"] == UI_HEADERS["Content-Security-Policy"]
            path = f"/static/v{version}/js/runs.js"
            zipped = c.send(c.build_request("GET", path, headers={"Accept-Encoding": "gzip"}), stream=True)
            body = zipped.read()  # httpx decodes; the wire size is smaller
            assert zipped.headers["content-encoding"] == "gzip" and body == plain
            assert int(zipped.headers["content-length"]) < len(plain) / 2
            assert zipped.headers["vary"] == "Accept-Encoding"
            assert zipped.headers["etag"] != fresh.headers["etag"]
            again = c.get(f"/static/v{version}/js/runs.js", headers={"If-None-Match": zipped.headers["etag"]})
            assert again.status_code == 304
            for other in ("/static/js/runs.js", "/static/v000000000000/js/runs.js"):
                r = c.get(other)
                assert r.status_code == 200 and r.content == plain
                assert r.headers["cache-control"] == "no-cache"


def test_ui_rejects_a_bad_port(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "asynctrack", "ui", "--port", "99999"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "port number" in done.stderr
