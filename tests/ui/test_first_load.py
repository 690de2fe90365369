"""How the runs table's first view loads, in a real browser: its data is asked once, by the small first
module (prefetch.js) before the rest of the app has loaded, and the column choice is remembered."""

from __future__ import annotations

from typing import Any

import pytest
from ui_browser import UI


def _requests(page: Any) -> list[dict[str, Any]]:
    """Every request the page sends, with the script URLs on its initiator's stack (Chromium's CDP)."""
    cdp = page.context.new_cdp_session(page)
    seen: list[dict[str, Any]] = []

    def on_request(event: dict[str, Any]) -> None:
        frames: list[str] = []
        stack = event.get("initiator", {}).get("stack")
        while stack:
            frames += [f["url"] for f in stack.get("callFrames", [])]
            stack = stack.get("parent")
        seen.append({"url": event["request"]["url"], "method": event["request"]["method"], "stack": frames})

    cdp.on("Network.requestWillBeSent", on_request)
    cdp.send("Network.enable")
    return seen


@pytest.mark.slow
def test_the_runs_table_is_one_request_sent_by_the_first_module(ui: UI, page: Any) -> None:
    """One GET brings the rows, the default columns and the picker's keys; prefetch.js sends it (and the
    experiment's name and the session) as soon as it runs, not after the page modules loaded; the page
    uses those answers instead of asking again."""
    seen = _requests(page)
    page.goto(f"{ui.url}/#/experiments/{ui.seeded.experiment_id}")
    page.locator("#runs-table tbody tr[data-run-id]").first.wait_for()
    page.locator("#runs-table th button[data-order='metrics.`loss`']").wait_for()  # a default column
    page.wait_for_function("() => document.title.includes('vision-baselines')")
    runs = [r for r in seen if "/ajax-api/asynctrack/ui/runs" in r["url"]]
    assert len(runs) == 1, [r["url"] for r in runs]
    (first,) = runs
    assert first["method"] == "GET"
    assert "keys=1" in first["url"] and "default_columns=1" in first["url"]
    assert any(u.endswith("/js/prefetch.js") for u in first["stack"]), first["stack"]
    assert not [r for r in seen if "/ajax-api/asynctrack/ui/keys" in r["url"]]
    for part in ("/ajax-api/2.0/mlflow/experiments/get", "/ajax-api/asynctrack/auth/session"):
        asked = [r for r in seen if part in r["url"]]
        assert len(asked) == 1 and any(u.endswith("/js/prefetch.js") for u in asked[0]["stack"]), asked
    # The picker has its keys from that answer.
    page.click("#columns-button")
    page.locator("#column-picker input[data-col='p:optimizer']").wait_for()
    # A later visit asks afresh (a prefetched answer serves only the first page).
    page.click("a[href='#/']")
    page.locator("a", has_text="vision-baselines").first.wait_for()
    page.goto(f"{ui.url}/#/experiments/{ui.seeded.experiment_id}?cols=m:loss")
    page.locator("#runs-table tbody tr[data-run-id]").first.wait_for()
    runs = [r for r in seen if "/ajax-api/asynctrack/ui/runs" in r["url"]]
    assert len(runs) == 2 and not any(u.endswith("/js/prefetch.js") for u in runs[1]["stack"])


@pytest.mark.slow
def test_the_column_choice_is_remembered_per_experiment(ui: UI, page: Any) -> None:
    """Columns picked in a table come back when the experiment is opened again without `cols` in its link
    (localStorage, per set of experiments), already in the first request; other experiments keep theirs."""
    eid = ui.seeded.experiment_id
    page.goto(f"{ui.url}/#/experiments/{eid}?cols=m:loss")
    page.locator("#runs-table tbody tr[data-run-id]").first.wait_for()
    page.click("#columns-button")
    page.check("#column-picker input[data-col='t:team']")
    page.locator("#runs-table th button[data-order='tags.`team`']").wait_for()
    page.goto(f"{ui.url}/#/experiments/{eid}")
    page.locator("#runs-table th button[data-order='tags.`team`']").wait_for()
    seen = _requests(page)
    page.reload()
    page.locator("#runs-table tbody tr[data-run-id]").first.wait_for()
    page.locator("#runs-table th button[data-order='tags.`team`']").wait_for()
    heads = page.eval_on_selector_all(
        "#runs-table th button[data-order]", "bs => bs.map(b => b.dataset.order)"
    )
    assert "metrics.`loss`" in heads and "params.`lr`" not in heads  # the choice, not the defaults
    (runs,) = [r for r in seen if "/ajax-api/asynctrack/ui/runs" in r["url"]]
    assert "tags=team" in runs["url"] and "default_columns" not in runs["url"]
    # Another experiment is not affected.
    page.goto(f"{ui.url}/#/experiments/{ui.seeded.other_experiment_id}")
    page.locator("#runs-table tbody tr[data-run-id]").first.wait_for()
    assert page.locator("#runs-table th button[data-order='tags.`team`']").count() == 0


def test_a_second_visit_loads_the_app_from_the_cache(ui: UI, page: Any) -> None:
    """The app's files are immutable under their version prefix: on a second visit the browser takes
    every one from its cache without asking the server (not even a 304)."""
    url = f"{ui.url}/#/experiments/{ui.seeded.experiment_id}"
    page.goto(url)
    page.locator("#runs-table tbody tr[data-run-id]").first.wait_for()
    page.goto("about:blank")
    page.goto(url)
    page.locator("#runs-table tbody tr[data-run-id]").first.wait_for()
    files = page.evaluate(
        "() => performance.getEntriesByType('resource')"
        "  .filter(e => new URL(e.name).pathname.startsWith('/static/'))"
        "  .map(e => [new URL(e.name).pathname, e.transferSize])"
    )
    assert len(files) >= 8, files
    assert all(path.startswith("/static/v") for path, _ in files), files
    assert [f for f in files if f[1] != 0] == []  # 0 bytes over the network: from the cache


def test_the_first_rows_are_drawn_before_the_rest_of_the_page(ui: UI, page: Any) -> None:
    """A page of 100 runs goes on screen in two parts: the first 30 rows (more than the table shows),
    then, once they are painted, the other 70; a new sort does the same, and all 100 rows end up there
    in order."""
    page.add_init_script(
        """window.__firstBatch = null;
        new MutationObserver(() => {
          const n = document.querySelectorAll('#runs-table tbody tr[data-run-id]').length;
          if (n && window.__firstBatch === null) window.__firstBatch = n;
        }).observe(document, { childList: true, subtree: true });"""
    )
    page.goto(f"{ui.url}/#/experiments/{ui.seeded.many_experiment_id}?cols=m:score")
    page.wait_for_function(
        "() => document.querySelectorAll('#runs-table tbody tr[data-run-id]').length === 100"
    )
    assert page.evaluate("window.__firstBatch") == 30
    page.locator("#runs-count", has_text="100 runs loaded").wait_for()
    page.evaluate("window.__firstBatch = null")
    page.click("#runs-table th button[data-order='attributes.run_name']")
    page.wait_for_function("() => location.hash.includes('run_name')")
    page.wait_for_function(
        "() => document.querySelectorAll('#runs-table tbody tr[data-run-id]').length === 100"
        " && document.querySelector('th button.active').dataset.order === 'attributes.run_name'"
    )
    assert page.evaluate("window.__firstBatch") == 30
    names = page.locator("#runs-table tbody tr[data-run-id] td.name a").all_inner_texts()
    assert names == sorted(names) and len(names) == 100
