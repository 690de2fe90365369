"""``asynctrack loadtest`` against a real ``asynctrack server`` on loopback, compared with the embedded
store, with the HTML report: counts verified on both targets, the page and its plots on disk."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from loadtest_helpers import assert_verified, loadtest, read_back, results
from matplotlib.image import imread
from PIL import Image
from servers import asynctrack_server, running


@pytest.mark.slow  # servers and load runs against each (~15 s)
def test_server_compared_with_embedded_store_and_report(tmp_path: Path) -> None:
    """Two seconds of logging to the server, then the same workload to a SQLite file: both verified
    point for point, the comparison lists both with ratios, and the report's PNGs decode."""
    report = tmp_path / "report"
    embedded = f"sqlite:///{tmp_path}/embedded.db"
    with running(asynctrack_server(tmp_path, workers=1)) as server:
        proc = loadtest(
            tmp_path, server.url, "--compare", embedded,
            "--workers", "2", "--runs", "2", "--metrics", "4", "--duration", "1.5", "--steps", "100000",
            "--readers", "1", "--reader-interval", "0.1", "--report", str(report), "--json", "--no-progress",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        first, second = results(proc)
        served = read_back(server.url, first["experiment_id"], 4)
    for r in (first, second):
        assert_verified(r)
        assert r["durable_seconds"] >= 1.5
    assert first["target"] == server.url and second["target"] == embedded
    assert served == {"runs": 4, "points": first["metrics_sent"], "params": 40, "tags": 20}
    assert read_back(embedded, second["experiment_id"], 4)["points"] == second["metrics_sent"]

    # The report: a page that shows both targets and references three plots that exist and decode.
    page = (report / "index.html").read_text()
    assert server.url in page and embedded in page and "durable metrics/s" in page
    images = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(images) == ["latency_cdf.png", "queue_depth.png", "throughput.png"]
    for name in images:
        path = report / name
        assert 0 < path.stat().st_size < 200_000
        with Image.open(path) as img:
            img.verify()
        pixels = imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 100 and np.ptp(pixels) > 0  # not a blank image
    assert (report / "results.json").stat().st_size > 0
