"""Every page of the web UI in a real browser: it loads without a console error, hostile names from the
data never execute, and MLflow's own "View run" links open the run page."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
from servers import mlflow_python
from ui_browser import UI
from ui_seed import HOSTILE

# Elements the hostile strings would create if they were parsed as HTML anywhere on the page.
_INJECTED = """() => ({
  imgs: document.querySelectorAll('img[src="x"], img[onerror]').length,
  scripts: [...document.querySelectorAll('script')]
    .filter(s => !s.src || s.textContent.includes('alert')).length,
  onerror: document.querySelectorAll('[onerror], [onload]').length,
})"""


def _no_injection(page: Any) -> None:
    found = page.evaluate(_INJECTED)
    assert found == {"imgs": 0, "scripts": 0, "onerror": 0}, found


def test_every_page_loads_without_console_errors(ui: UI, page: Any) -> None:
    s = ui.seeded
    first = s.runs["resnet-00"]
    page.goto(ui.url + "/")
    page.locator("#experiments-table").get_by_role("link", name="vision-baselines").wait_for()
    page.goto(f"{ui.url}/#/experiments/{s.experiment_id}")
    page.locator("#runs-table tbody tr[data-run-id]").first.wait_for()
    page.goto(ui.run_url(first))
    page.locator("#run-params").wait_for()
    page.locator("#run-name").filter(has_text="resnet-00").wait_for()
    page.goto(ui.run_url(first, "?tab=charts"))
    page.locator(".chart-card[data-key=loss] canvas").wait_for()
    page.goto(ui.run_url(first, "?tab=artifacts"))
    page.locator("#artifact-tree .tree-item[data-path='notes.txt']").wait_for()
    page.goto(f"{ui.url}/#/compare?runs={first},{s.runs['resnet-01']}")
    page.locator(".chart-card[data-key=accuracy] canvas").wait_for()
    page.goto(f"{ui.url}/#/runs?experiments={s.experiment_id},{s.many_experiment_id}")
    page.locator("#runs-table tbody tr[data-run-id]").first.wait_for()
    page.goto(f"{ui.url}/#/nowhere")
    page.get_by_text("Page not found").wait_for()


def test_hostile_names_are_shown_as_text_and_never_run(ui: UI, page: Any) -> None:
    """`<img src=x onerror=alert(1)>` and `"><script>alert(1)</script>` as experiment and run names,
    params, tags, description, source and artifact names: shown literally, no dialog, no element made."""
    s = ui.seeded
    page.goto(ui.url + "/")
    page.locator("#experiments-table").get_by_text(HOSTILE[0], exact=True).wait_for()
    _no_injection(page)
    page.goto(f"{ui.url}/#/experiments/{s.experiment_id}?cols=p:evil,t:note")
    row = page.locator(f"#runs-table tr[data-run-id='{s.hostile_run_id}']")
    row.get_by_text(HOSTILE[0], exact=True).first.wait_for()
    assert HOSTILE[1] in row.inner_text()
    _no_injection(page)
    page.goto(ui.run_url(s.hostile_run_id))
    page.locator("#run-name").filter(has_text=HOSTILE[0]).wait_for()
    assert page.locator("#run-description .description").inner_text() == HOSTILE[1] + HOSTILE[0]
    assert HOSTILE[1] in page.locator("#run-params").inner_text()
    assert HOSTILE[0] in page.locator("#run-tags").inner_text()
    _no_injection(page)
    page.goto(ui.run_url(s.hostile_run_id, "?tab=charts"))
    page.locator("#chart-legend").get_by_text(HOSTILE[0]).wait_for()
    _no_injection(page)
    page.goto(ui.run_url(s.runs["resnet-00"], "?tab=artifacts"))
    hostile_dir = HOSTILE[1].split("/")[0]
    page.locator("#artifact-tree").get_by_text(hostile_dir, exact=True).click()
    page.locator("#artifact-tree").get_by_text("script>.txt", exact=True).click()
    page.locator("#artifact-preview pre").filter(has_text=HOSTILE[0]).wait_for()
    _no_injection(page)
    # an HTML and an SVG artifact are shown as source, never rendered in the app's origin
    page.locator("#artifact-tree .tree-item[data-path='page.html']").click()
    page.locator("#artifact-preview pre").filter(has_text="<script>alert(1)</script>").wait_for()
    page.locator("#artifact-tree .tree-item[data-path='image.svg']").click()
    page.locator("#artifact-preview pre").filter(has_text="onload").wait_for()
    assert page.locator("#artifact-preview svg, #artifact-preview iframe, #artifact-preview b").count() == 0
    _no_injection(page)


@pytest.mark.slow
def test_mlflow_view_run_link_opens_the_run_page(ui: UI, page: Any) -> None:
    """The official mlflow client prints `View run <name> at: <url>/#/experiments/<id>/runs/<run_id>` after
    a run on our server; that URL opens the run's page."""
    script = (
        "import mlflow\n"
        f"mlflow.set_tracking_uri({ui.url!r})\n"
        "mlflow.set_experiment('from-mlflow')\n"
        "with mlflow.start_run(run_name='official-client'):\n"
        "    mlflow.log_param('alpha', '0.5')\n"
        "    mlflow.log_metric('rmse', 0.25)\n"
    )
    done = subprocess.run([str(mlflow_python()), "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.search(
        r"View run official-client at: (\S+/#/experiments/\d+/runs/[0-9a-f]+)", done.stdout + done.stderr
    )
    assert found, (done.stdout + done.stderr)[-2000:]
    page.goto(found.group(1))
    page.locator("#run-name").filter(has_text="official-client").wait_for()
    assert "alpha" in page.locator("#run-params").inner_text()
    assert "rmse" in page.locator("#run-metrics").inner_text()
    # MLflow's other link forms: a run's tab in the path, the compare page with a JSON list
    run_id = found.group(1).rsplit("/", 1)[1]
    page.goto(found.group(1) + "/model-metrics")
    page.locator(".chart-card[data-key=rmse] canvas").wait_for()
    page.goto(f'{ui.url}/#/compare-runs?runs=["{run_id}","{ui.seeded.runs["resnet-01"]}"]')
    page.locator("#chart-legend").get_by_text("official-client").wait_for()
    # and the experiment link of the same format opens the runs table
    page.goto(found.group(1).split("/runs/")[0])
    page.locator("#runs-table").get_by_role("link", name="official-client").wait_for()
