"""The run page in a real browser: details, parent and children, the description edited and kept, tags
added and deleted, and the artifact tree's previews and downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ui_browser import UI

from asynctrack import MlflowClient


@pytest.mark.slow
def test_run_page_shows_details_parent_and_children(ui: UI, page: Any) -> None:
    s = ui.seeded
    page.goto(ui.run_url(s.parent_id))
    kids = page.locator("#child-runs a")
    kids.first.wait_for()
    assert sorted(kids.all_inner_texts()) == ["sweep-child-0", "sweep-child-1", "sweep-child-2"]
    kids.first.click()
    page.locator("#parent-link").wait_for()
    assert page.locator("#parent-link").inner_text() == s.parent_id
    page.click("#parent-link")
    page.locator("#run-name").filter(has_text="sweep-parent").wait_for()
    details = page.locator("#run-details").inner_text()
    assert "FINISHED" in details.upper() and "Duration" in details and "5m 00s" in details


@pytest.mark.slow
def test_edit_the_description(ui: UI, page: Any) -> None:
    rid = ui.seeded.runs["resnet-03"]
    page.goto(ui.run_url(rid))
    page.click("#edit-description")
    text = "Baseline with **cosine** schedule.\nSecond line <b>not bold</b>."
    page.fill("#description-input", text)
    page.click("#save-description")
    page.locator("#run-description .description").wait_for()
    assert page.locator("#run-description .description").inner_text() == text
    assert MlflowClient(tracking_uri=ui.url).get_run(rid).data.tags["mlflow.note.content"] == text
    page.reload()
    page.locator("#run-description .description").wait_for()
    assert page.locator("#run-description .description").inner_text() == text


def test_add_and_delete_a_tag(ui: UI, page: Any) -> None:
    rid = ui.seeded.runs["resnet-04"]
    page.goto(ui.run_url(rid))
    page.fill("#tag-key", "reviewed")
    page.fill("#tag-value", "yes")
    page.click("text=Add tag")
    row = page.locator("#run-tags tr[data-tag=reviewed]")
    row.wait_for()
    assert MlflowClient(tracking_uri=ui.url).get_run(rid).data.tags["reviewed"] == "yes"
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Confirm").click()
    row.wait_for(state="detached")
    assert "reviewed" not in MlflowClient(tracking_uri=ui.url).get_run(rid).data.tags


@pytest.mark.slow
def test_artifact_previews_and_download(ui: UI, page: Any, tmp_path: Path) -> None:
    rid = ui.seeded.runs["resnet-00"]
    page.goto(ui.run_url(rid, "?tab=artifacts"))
    tree = page.locator("#artifact-tree")
    preview = page.locator("#artifact-preview")
    tree.locator(".tree-item[data-path='notes.txt']").click()
    preview.locator("pre").filter(has_text="hello from the artifact").wait_for()
    tree.locator(".tree-item[data-path='config.yaml']").click()
    preview.locator("pre").filter(has_text="layers: [64, 64]").wait_for()
    tree.locator(".tree-item[data-path='meta.json']").click()
    preview.locator("pre").filter(has_text='"nested"').wait_for()
    # MLflow's log_table JSON and a CSV become tables
    tree.locator(".tree-item[data-path='eval_table.json']").click()
    preview.locator("table th", has_text="epoch").wait_for()
    assert preview.locator("table tbody tr").count() == 2
    tree.locator(".tree-item[data-path='data']").click()
    tree.locator(".tree-item[data-path='data/table.csv']").click()
    preview.locator("table td", has_text="a, quoted").wait_for()
    assert preview.locator("table tbody tr").all_inner_texts() == ["a, quoted\t1.5", "b\t2.5"]
    # an image
    tree.locator(".tree-item[data-path='plots']").click()
    tree.locator(".tree-item[data-path='plots/blue.png']").click()
    page.wait_for_function(
        "() => { const i = document.querySelector('#artifact-preview img');"
        " return i && i.complete && i.naturalWidth === 64 }"
    )
    # the selected file is in the URL: a link opens it again
    page.reload()
    page.locator("#artifact-preview img").wait_for()
    # download: the bytes of the file
    tree.locator(".tree-item[data-path='notes.txt']").click()
    with page.expect_download() as info:
        page.click("#artifact-download")
    target = tmp_path / "notes.txt"
    info.value.save_as(target)
    assert target.read_text() == "hello from the artifact\nsecond line\n"
    assert info.value.suggested_filename == "notes.txt"
