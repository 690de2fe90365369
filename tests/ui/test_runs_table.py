"""The runs table in a real browser: the filter grammar (with the bad token shown inline), sorting,
keyset paging while runs are added, column picking, nested runs, selection, delete and restore, and the
experiments page's create, rename, delete and restore."""

from __future__ import annotations

from typing import Any

import pytest
from ui_browser import UI
from ui_seed import MANY_RUNS

from asynctrack import MlflowClient


def _rows(page: Any) -> Any:
    return page.locator("#runs-table tbody tr[data-run-id]")


def _column(page: Any, key: str) -> list[str]:
    """The texts of one column, found by its header's data-order (e.g. metrics.`loss`)."""
    return page.evaluate(
        """key => {
          const ths = [...document.querySelectorAll('#runs-table thead th')];
          const i = ths.findIndex(th => th.querySelector(`[data-order="${key}"]`));
          const rows = [...document.querySelectorAll('#runs-table tbody tr[data-run-id]')];
          return rows.map(r => r.children[i].textContent);
        }""",
        key,
    )


@pytest.mark.slow
def test_filter_with_the_search_grammar_and_a_bad_token(ui: UI, page: Any) -> None:
    page.goto(f"{ui.url}/#/experiments/{ui.seeded.experiment_id}?cols=m:loss,p:lr")
    _rows(page).first.wait_for()
    page.fill("#filter", "metrics.loss < 0.2 and params.lr = '0.01'")
    page.press("#filter", "Enter")
    page.wait_for_function("() => location.hash.includes('filter=')")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#runs-table tbody tr[data-run-id]')].length > 0 &&"
        " ![...document.querySelectorAll('#runs-table tbody tr[data-run-id]')]"
        "   .some(r => r.textContent.includes('0.001'))"
    )
    losses = [float(v) for v in _column(page, "metrics.`loss`")]
    lrs = _column(page, "params.`lr`")
    assert losses and all(v < 0.2 for v in losses) and set(lrs) == {"0.01"}
    # the filter is in the URL: a reload shows the same rows
    page.reload()
    _rows(page).first.wait_for()
    assert sorted(float(v) for v in _column(page, "metrics.`loss`")) == sorted(losses)
    # a bad token: the server's message, and the token marked in the echoed filter
    page.problems.allowed.append("status of 400")
    page.fill("#filter", "metrics.loss <<< 2")
    page.press("#filter", "Enter")
    error = page.locator("#filter-error")
    error.wait_for()
    assert "unexpected '<'" in error.inner_text()
    assert page.locator("#filter-error .bad-token").inner_text() == "<"
    page.fill("#filter", "metrics.loss < 0.2 andd params.lr = '1'")
    page.press("#filter", "Enter")
    page.locator("#filter-error .bad-token").filter(has_text="andd").wait_for()
    page.fill("#filter", "")
    page.press("#filter", "Enter")
    error.wait_for(state="hidden")


def test_sort_by_clicking_a_header(ui: UI, page: Any) -> None:
    page.goto(f"{ui.url}/#/experiments/{ui.seeded.experiment_id}?cols=m:loss&filter=metrics.loss >= 0")
    _rows(page).first.wait_for()
    page.click("#runs-table th button[data-order='metrics.`loss`']")
    page.wait_for_function("() => location.hash.includes('DESC')")
    page.locator("th button.active[data-order='metrics.`loss`']").wait_for()
    page.wait_for_function(
        "() => document.querySelector('th button.active .arrow').textContent.includes('▼')"
    )
    desc = [float(v) for v in _column(page, "metrics.`loss`")]
    assert len(desc) > 5 and desc == sorted(desc, reverse=True)
    page.click("#runs-table th button[data-order='metrics.`loss`']")
    page.wait_for_function(
        "() => document.querySelector('th button.active .arrow').textContent.includes('▲')"
    )
    page.wait_for_function("() => location.hash.includes('ASC')")
    asc = [float(v) for v in _column(page, "metrics.`loss`")]
    assert asc == sorted(desc)
    page.click("#runs-table th button[data-order='attributes.run_name']")
    page.wait_for_function("() => location.hash.includes('run_name')")
    page.wait_for_function(
        "() => document.querySelector('th button.active').dataset.order === 'attributes.run_name'"
    )
    names = page.locator("#runs-table tbody tr[data-run-id] td.name a").all_inner_texts()
    assert names == sorted(names)


def test_paging_stays_correct_while_runs_are_added(ui: UI, page: Any) -> None:
    """Load more pages with the keyset token while new runs arrive: every run that existed when paging
    started appears exactly once."""
    eid = ui.seeded.many_experiment_id
    page.goto(f"{ui.url}/#/experiments/{eid}?cols=m:score")
    page.wait_for_function(
        "() => document.querySelectorAll('#runs-table tbody tr[data-run-id]').length === 100"
    )
    client = MlflowClient(tracking_uri=ui.url)
    added = [client.create_run(eid, run_name=f"late-{i}").info.run_id for i in range(3)]
    page.click("#load-more")
    page.wait_for_function("() => document.getElementById('load-more').hidden")
    ids = page.evaluate(
        "() => [...document.querySelectorAll('#runs-table tbody tr[data-run-id]')].map(r => r.dataset.runId)"
    )
    assert len(ids) == len(set(ids)) == MANY_RUNS  # the new runs start later: they sort before page 1
    assert not set(added) & set(ids)
    names = page.locator("#runs-table tbody tr[data-run-id] td.name a").all_inner_texts()
    assert sorted(names) == [f"many-{i:03d}" for i in range(MANY_RUNS)]
    for rid in added:
        client.delete_run(rid)


@pytest.mark.slow
def test_pick_columns(ui: UI, page: Any) -> None:
    page.goto(f"{ui.url}/#/experiments/{ui.seeded.experiment_id}?cols=m:loss")
    _rows(page).first.wait_for()
    assert page.locator("#runs-table th button[data-order='params.`optimizer`']").count() == 0
    page.click("#columns-button")
    page.fill("#column-picker input[type=search]", "optim")
    page.check("#column-picker input[data-col='p:optimizer']")
    page.locator("#runs-table th button[data-order='params.`optimizer`']").wait_for()
    page.wait_for_function("() => decodeURIComponent(location.hash).includes('p:optimizer')")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#runs-table tbody tr')]"
        "  .some(r => r.textContent.includes('adam'))"
    )
    assert set(_column(page, "params.`optimizer`")) >= {"adam", "sgd"}
    page.fill("#column-picker input[type=search]", "team")
    page.check("#column-picker input[data-col='t:team']")
    page.locator("#runs-table th button[data-order='tags.`team`']").wait_for()
    page.fill("#column-picker input[type=search]", "loss")
    page.uncheck("#column-picker input[data-col='m:loss']")
    page.locator("#runs-table th button[data-order='metrics.`loss`']").wait_for(state="detached")
    # the choice is in the link
    page.reload()
    page.locator("#runs-table th button[data-order='tags.`team`']").wait_for()
    assert page.locator("#runs-table th button[data-order='metrics.`loss`']").count() == 0


def test_nested_runs_expand_under_their_parent(ui: UI, page: Any) -> None:
    s = ui.seeded
    page.goto(f"{ui.url}/#/experiments/{s.experiment_id}")
    parent = page.locator(f"#runs-table tr[data-run-id='{s.parent_id}']")
    parent.wait_for()
    for child in s.children:
        assert page.locator(f"#runs-table tr[data-run-id='{child}']").count() == 0
    parent.locator("button.toggle").click()
    for child in s.children:
        page.locator(f"#runs-table tr.child[data-run-id='{child}']").wait_for()
    order = page.evaluate(
        "() => [...document.querySelectorAll('#runs-table tbody tr')].map(r => r.dataset.runId)"
    )
    at = order.index(s.parent_id)
    assert set(order[at + 1 : at + 4]) == set(s.children)
    parent.locator("button.toggle").click()
    page.locator(f"#runs-table tr[data-run-id='{s.children[0]}']").wait_for(state="detached")


@pytest.mark.slow
def test_select_runs_delete_and_restore(ui: UI, page: Any) -> None:
    eid = ui.seeded.other_experiment_id
    client = MlflowClient(tracking_uri=ui.url)
    victim = client.create_run(eid, run_name="to-delete").info.run_id
    page.goto(f"{ui.url}/#/experiments/{eid}")
    row = page.locator(f"#runs-table tr[data-run-id='{victim}']")
    row.locator("input[type=checkbox]").check()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Confirm delete").click()
    row.wait_for(state="detached")
    assert client.get_run(victim).info.lifecycle_stage == "deleted"
    page.select_option("select[aria-label=Lifecycle]", "deleted")
    row.wait_for()
    row.locator("input[type=checkbox]").check()
    page.get_by_role("button", name="Restore").click()
    row.wait_for(state="detached")
    assert client.get_run(victim).info.lifecycle_stage == "active"


@pytest.mark.slow
def test_experiments_create_rename_delete_restore(ui: UI, page: Any) -> None:
    page.goto(ui.url + "/")
    page.fill("input[aria-label='New experiment name']", "made-in-browser")
    page.click("text=Create")
    row = page.locator("#experiments-table tr", has_text="made-in-browser")
    row.wait_for()
    row.get_by_role("button", name="Rename").click()
    page.fill("input[aria-label='New name']", "renamed-in-browser")
    page.get_by_role("button", name="Save").click()
    row = page.locator("#experiments-table tr", has_text="renamed-in-browser")
    row.wait_for()
    client = MlflowClient(tracking_uri=ui.url)
    exp = client.get_experiment_by_name("renamed-in-browser")
    assert exp is not None
    page.fill("input[aria-label='Search experiments']", "renamed-in")
    page.wait_for_function("() => document.querySelectorAll('#experiments-table tbody tr').length === 1")
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Confirm delete").click()
    row.wait_for(state="detached")
    assert client.get_experiment(exp.experiment_id).lifecycle_stage == "deleted"
    page.select_option("select[aria-label=Lifecycle]", "deleted")
    row.get_by_role("button", name="Restore").click()
    row.wait_for(state="detached")
    assert client.get_experiment(exp.experiment_id).lifecycle_stage == "active"
