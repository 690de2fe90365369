"""Targets that cannot be load-tested: unreachable, or answering but not as a tracking server (one line
on stderr, exit code 1, no traceback, within seconds, not after MLflow's minutes of retries); and a
target that fails in the middle of a load test (reported as errors, verification still attempted)."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loadtest_helpers import loadtest, loadtest_env
from servers import asynctrack_server, free_port


class _Forbidding(http.server.BaseHTTPRequestHandler):
    def _deny(self) -> None:
        body = b'{"error_code": "PERMISSION_DENIED", "message": "no access for you"}'
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _deny

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def forbidding_server() -> Iterator[str]:
    """A real HTTP server on loopback that answers every request with MLflow's 403 error body."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forbidding)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _single_error_line(stderr: str) -> str:
    """stderr is exactly one line, the error (progress is on: it says nothing before the target works)."""
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_unreachable_target_is_one_line_exit_1(tmp_path: Path) -> None:
    """Nothing listens on the port: the error names the target and the connection failure."""
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = loadtest(tmp_path, url, timeout=60)
    assert proc.returncode == 1
    line = _single_error_line(proc.stderr)
    assert f"cannot load-test {url}" in line and "Connect" in line
    assert time.monotonic() - started < 30
    assert proc.stdout == ""


@pytest.mark.slow
def test_rejecting_target_is_one_line_exit_1(tmp_path: Path, forbidding_server: str) -> None:
    """A server that refuses every request: MLflow's error code and message are shown."""
    proc = loadtest(tmp_path, forbidding_server, "--json", timeout=60)
    assert proc.returncode == 1
    line = _single_error_line(proc.stderr)
    assert "no access for you" in line and "PERMISSION_DENIED" in line
    assert proc.stdout == ""


@pytest.mark.slow  # a server killed midway through a load run (~10 s)
def test_target_failing_midway_is_reported_and_verification_still_runs(tmp_path: Path) -> None:
    """The server is killed while the workers log: the run ends within its bounds (the stalled workers
    close their pipelines), the errors are listed by code, what was not written is reported, and the
    verification pass runs and says it could not finish. Exit 1, no traceback."""
    server = asynctrack_server(tmp_path, workers=1).start()
    try:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "asynctrack", "loadtest", server.url, "--workers", "2", "--runs", "1",
                "--metrics", "5", "--duration", "4", "--wait-timeout", "2", "--json",
            ],
            cwd=tmp_path, env=loadtest_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        for line in proc.stderr:
            if "[logging]" in line:
                break
        time.sleep(1.0)
        server.kill()
        out, err = proc.communicate(timeout=90)
    finally:
        server.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    (r,) = json.loads(out)["results"]
    assert r["metrics_sent"] > 0 and not r["interrupted"]
    assert r["errors"], r  # e.g. WAIT_TIMEOUT, STALLED: by code, with a sample message each
    assert set(r["errors"]) <= set(r["error_samples"])
    v = r["verification"]
    assert v is not None and not v["complete"] and "stopped answering" in v["error"]
