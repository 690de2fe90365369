"""Ctrl-C: SIGINT to a running ``asynctrack loadtest`` stops it within seconds, leaves no worker behind,
and still prints and reports what was measured, verified."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from loadtest_helpers import loadtest_env


def _processes_with(marker: str) -> list[int]:
    """Pids of processes whose environment holds ``marker`` (the load test and its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow  # a load run interrupted after seconds (~7 s)
def test_sigint_stops_cleanly_and_still_reports(tmp_path: Path) -> None:
    """A 60-second load test interrupted after it started logging exits with 130 well before then; its
    JSON and HTML report say "interrupted", and every point it sent before stopping was verified."""
    marker = f"ASYNCTRACK_LOADTEST_TEST={uuid.uuid4().hex}"
    key, value = marker.split("=")
    report = tmp_path / "report"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "asynctrack", "loadtest", f"sqlite:///{tmp_path}/lt.db",
            "--workers", "2", "--runs", "1", "--metrics", "5", "--duration", "60", "--rate", "2000",
            "--report", str(report), "--json",
        ],
        cwd=tmp_path,
        env=loadtest_env(**{key: value}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # progress lines; the first "[logging]" one comes after the start
            if "[logging]" in line:
                break
        else:
            raise AssertionError("the load test never started logging")
        time.sleep(0.5)
        interrupted_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=45)
        took = time.monotonic() - interrupted_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert took < 30
    assert "Traceback" not in err
    assert "interrupted" in err
    (r,) = json.loads(out)["results"]
    assert r["interrupted"] is True
    assert 0 < r["metrics_sent"] < 2000 * 60
    v = r["verification"]
    assert v["complete"] and v["lost"] == 0 and v["metrics_landed"] == r["metrics_sent"]
    assert "interrupted" in (report / "index.html").read_text()
    assert all((report / name).stat().st_size > 0 for name in ("throughput.png", "latency_cdf.png"))
    assert _processes_with(marker) == []  # the workers are gone too
