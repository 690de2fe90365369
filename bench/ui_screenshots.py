"""Regenerate the web UI's screenshots in docs/ui/ (PNG, 1280x800) with headless Debian chromium.

    PYTHONPATH=$PWD python bench/ui_screenshots.py [--out docs/ui]

Seeds a temporary SQLite store with the browser tests' data (tests/ui/ui_seed.py), starts an
``asynctrack server`` on it, and photographs the experiments list, a runs table, a run page, charts
comparing runs, a million-point chart and the artifact preview.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "tests" / "ui")]

from playwright.sync_api import sync_playwright  # noqa: E402
from servers import asynctrack_server, running  # noqa: E402
from ui_seed import seed  # noqa: E402

from asynctrack.pipeline import close_pipelines  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(HERE.parent / "docs" / "ui"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s = seed(root / "shots.db")
        close_pipelines(timeout=60)
        extra = ["--default-artifact-root", str(root / "artifacts")]  # where ui_seed keeps the artifacts
        server = asynctrack_server(root, backend_store_uri=f"sqlite:///{root / 'shots.db'}", extra=extra)
        with running(server) as srv:
            base = srv.url
            run = f"{base}/#/experiments/{s.experiment_id}/runs"
            cmp = ",".join(s.runs[n] for n in ("resnet-01", "resnet-04", "resnet-07", "resnet-10"))
            shots = [
                ("experiments", f"{base}/#/", "#experiments-table tbody tr"),
                (
                    "runs-table",
                    f"{base}/#/experiments/{s.experiment_id}"
                    f"?cols=m:loss,m:accuracy,m:val_loss,p:lr,p:optimizer&order=metrics.`loss` ASC&sel={cmp}",
                    "#runs-table tbody tr[data-run-id]",
                ),
                ("run-page", f"{run}/{s.runs['resnet-04']}", "#run-params"),
                (
                    "compare-charts",
                    f"{base}/#/compare?runs={cmp}&smooth=0.6",
                    ".chart-card[data-key=loss] canvas",
                ),
                (
                    "million-points",
                    f"{run}/{s.long_run_id}?tab=charts",
                    ".chart-card[data-key=signal] canvas",
                ),
                (
                    "artifacts",
                    f"{run}/{s.runs['resnet-00']}?tab=artifacts&path=eval_table.json",
                    "#artifact-preview table",
                ),
            ]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                for name, url, ready in shots:
                    page.goto(url)
                    page.locator(ready).first.wait_for(timeout=30_000)
                    if name == "runs-table":
                        page.locator(f"#runs-table tr[data-run-id='{s.parent_id}'] button.toggle").click()
                    if name == "compare-charts":
                        box = page.locator(".chart-card[data-key=loss] .u-over").bounding_box()
                        if box:
                            page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
                    time.sleep(0.5)  # let the last frame paint
                    page.screenshot(path=str(out / f"{name}.png"))
                    print(f"wrote {out / (name + '.png')}")
                browser.close()


if __name__ == "__main__":
    main()
