"""Charts in a real browser: a one-step spike of a 1,000,000-point metric is in the drawn data at full
zoom-out; zooming fetches the finer range; three runs compared; a run logging in the background shows
its new points without a reload."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from ui_browser import UI
from ui_seed import SPIKE_STEP, SPIKE_VALUE, WIDE_METRICS

from asynctrack import MlflowClient

_DATA = """key => { const c = window.__asynctrackCharts[key];
                   return c && c.u ? c.u.data.map(a => Array.from(a)) : null }"""


def _wait_chart(page: Any, key: str) -> list[list[float | None]]:
    page.wait_for_function(
        f"() => {{ const c = (window.__asynctrackCharts || {{}})[{key!r}];"
        " return c && c.u && c.u.data[0].length > 0 }"
    )
    data: list[list[float | None]] = page.evaluate(_DATA, key)
    return data


@pytest.mark.slow  # a million points into a browser chart (~5 s)
def test_a_spike_in_a_million_points_is_drawn_at_full_zoom_out(ui: UI, page: Any) -> None:
    with page.expect_response(lambda r: "/ajax-api/asynctrack/ui/series" in r.url) as got:
        page.goto(ui.run_url(ui.seeded.long_run_id, "?tab=charts"))
    body = got.value.json()
    (entry,) = body["series"]
    assert entry["count"] == 1_000_000 and entry["raw"] is False
    assert len(entry["x"]) <= 5000 and max(v for v in entry["max"] if v is not None) == SPIKE_VALUE
    data = _wait_chart(page, "signal")
    xs, maxes = data[0], data[3]
    at = maxes.index(SPIKE_VALUE)
    assert xs[at] >= SPIKE_STEP and (at == 0 or xs[at - 1] < SPIKE_STEP)
    assert len(xs) <= 5000  # buckets, not points
    # the line (last of each bucket) hides the spike; the band keeps it
    assert max(v for v in data[1] if v is not None) < SPIKE_VALUE


@pytest.mark.slow
def test_only_charts_in_view_fetch_and_a_finished_run_is_not_polled(ui: UI, page: Any) -> None:
    keys: list[str] = []
    polls: list[str] = []

    def seen(r: Any) -> None:
        if "/ajax-api/asynctrack/ui/series" in r.url:
            keys.append(r.url.split("key=")[1].split("&")[0])
        if "/ajax-api/asynctrack/ui/updates" in r.url:
            polls.append(r.url)

    page.on("response", seen)
    page.goto(
        f"{ui.url}/#/experiments/{ui.seeded.other_experiment_id}/runs/{ui.seeded.wide_run_id}?tab=charts"
    )
    _wait_chart(page, "w00")
    assert page.locator(".chart-card").count() == WIDE_METRICS
    page.wait_for_timeout(500)  # let every chart in view ask
    first = set(keys)
    assert "w00" in first and len(first) < WIDE_METRICS, first
    page.locator(f".chart-card[data-key=w{WIDE_METRICS - 1:02d}]").scroll_into_view_if_needed()
    _wait_chart(page, f"w{WIDE_METRICS - 1:02d}")
    assert len(set(keys)) > len(first)
    # the run is FINISHED: nothing is polled, however long the tab stays open
    page.wait_for_timeout(2500)
    assert polls == []


@pytest.mark.slow
def test_zoom_fetches_the_finer_range(ui: UI, page: Any) -> None:
    page.goto(ui.run_url(ui.seeded.long_run_id, "?tab=charts"))
    full = _wait_chart(page, "signal")
    full_step = (full[0][-1] - full[0][0]) / len(full[0])
    over = page.locator(".chart-card[data-key=signal] .u-over")
    box = over.bounding_box()
    assert box is not None
    with page.expect_response(lambda r: "/series" in r.url and "start=" in r.url and "end=" in r.url) as got:
        page.mouse.move(box["x"] + box["width"] * 0.645, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.665, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
    fine = got.value.json()["series"][0]
    assert fine["count"] < 1_000_000
    page.wait_for_function(
        """() => { const u = window.__asynctrackCharts.signal.u; const xs = u.data[0];
                   const inRange = xs.filter(x => x >= u.scales.x.min && x <= u.scales.x.max);
                   return inRange.length > 100 }"""
    )
    zoomed = page.evaluate(
        """() => { const u = window.__asynctrackCharts.signal.u;
                   const xs = u.data[0].filter(x => x >= u.scales.x.min && x <= u.scales.x.max);
                   return {n: xs.length, span: xs[xs.length - 1] - xs[0],
                           min: u.scales.x.min, max: u.scales.x.max} }"""
    )
    assert zoomed["span"] / zoomed["n"] < full_step / 5  # much finer than at full zoom-out
    assert 600_000 < zoomed["min"] < zoomed["max"] < 700_000
    # the spike stays visible in the zoomed range that holds it
    assert zoomed["min"] <= SPIKE_STEP <= zoomed["max"]
    data = page.evaluate(_DATA, "signal")
    assert SPIKE_VALUE in data[3]
    # shift+drag pans: the range moves left by about a quarter of its width and that range is fetched
    y = box["y"] + box["height"] / 2
    with page.expect_response(lambda r: "/series" in r.url and "start=" in r.url) as panned:
        page.keyboard.down("Shift")
        page.mouse.move(box["x"] + box["width"] * 0.4, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.65, y, steps=5)
        page.mouse.up()
        page.keyboard.up("Shift")
    assert panned.value.json()["series"][0]["count"] > 0
    moved = page.evaluate("() => window.__asynctrackCharts.signal.u.scales.x")
    width = zoomed["max"] - zoomed["min"]
    assert (
        moved["min"] < zoomed["min"] - width / 10 and abs((moved["max"] - moved["min"]) - width) < width / 100
    )
    # double-click resets to the full view
    over.dblclick()
    page.wait_for_function(
        "() => { const u = window.__asynctrackCharts.signal.u;"
        " return u.scales.x.max - u.scales.x.min > 900000 }"
    )


@pytest.mark.slow
def test_compare_three_runs(ui: UI, page: Any) -> None:
    s = ui.seeded
    chosen = ["resnet-01", "resnet-02", "resnet-03"]
    client = MlflowClient(tracking_uri=ui.url)
    for name in chosen:  # a metric equal in the three runs
        client.log_metric(s.runs[name], "epochs", 10.0, synchronous=True)
    page.goto(f"{ui.url}/#/experiments/{s.experiment_id}?cols=m:loss")
    for name in chosen:
        page.locator(f"#runs-table tr[data-run-id='{s.runs[name]}'] input[type=checkbox]").check()
    page.click("#compare-button")
    page.wait_for_function("() => location.hash.startsWith('#/compare')")
    data = _wait_chart(page, "loss")
    assert len(data) == 1 + 3 * 3  # x, then line/min/max per run
    for i in range(3):
        line = [v for v in data[1 + 3 * i] if v is not None]
        assert len(line) == 200
    assert page.locator("#chart-legend .legend-item").all_inner_texts() == chosen
    assert page.locator("#compare-params").get_by_text("Parameters that differ").count() == 1
    # Latest metrics side by side: those that differ first and marked, then the equal ones.
    rows = page.eval_on_selector_all(
        "#compare-metrics tbody tr",
        "trs => trs.map(tr => [tr.dataset.key, tr.classList.contains('differs'),"
        " [...tr.querySelectorAll('td')].map(td => td.textContent)])",
    )
    by_key = {key: (differs, cells) for key, differs, cells in rows}
    assert [key for key, _, _ in rows] == ["accuracy", "loss", "val_loss", "epochs"]
    assert by_key["epochs"] == (False, ["10", "10", "10"])
    assert by_key["loss"][0] is True
    for name, shown in zip(chosen, by_key["loss"][1], strict=True):
        latest = client.get_run(s.runs[name]).data.metrics["loss"]
        assert float(shown) == pytest.approx(latest, rel=1e-5)
    # hover shows every run's value
    page.locator(".chart-card[data-key=loss] .u-over").scroll_into_view_if_needed()
    box = page.locator(".chart-card[data-key=loss] .u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = page.locator(".chart-card[data-key=loss] .tip")
    tip.wait_for()
    assert all(name in tip.inner_text() for name in chosen)
    # settings go to the URL: log scale and wall-clock x
    page.check("#chart-log")
    page.select_option("#chart-x", "wall")
    page.wait_for_function("() => location.hash.includes('log=1') && location.hash.includes('x=wall')")
    page.wait_for_function(
        "() => { const c = window.__asynctrackCharts.loss;"
        " return c && c.u && c.u.scales.x.time && c.u.data[0][0] > 1e9 }"
    )


_LOGGER = textwrap.dedent(
    """
    import sys, time
    from asynctrack import MlflowClient
    client = MlflowClient(tracking_uri=sys.argv[1])
    run_id = sys.argv[2]
    step = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        client.log_metric(run_id, "live", float(step % 17), step=step, synchronous=True)
        step += 1
        time.sleep(0.2)
    """
)


@pytest.mark.slow  # a browser waiting for live updates (~5 s)
def test_a_running_run_shows_new_points_without_reload(ui: UI, page: Any) -> None:
    client = MlflowClient(tracking_uri=ui.url)
    rid = client.create_run(ui.seeded.other_experiment_id, run_name="live-run").info.run_id
    client.log_metric(rid, "live", 0.0, step=0, synchronous=True)
    logger = subprocess.Popen([sys.executable, "-c", _LOGGER, ui.url, rid])
    updates: list[str] = []
    page.on(
        "response", lambda r: updates.append(r.url) if "/ajax-api/asynctrack/ui/updates" in r.url else None
    )
    try:
        page.goto(f"{ui.url}/#/experiments/{ui.seeded.other_experiment_id}/runs/{rid}?tab=charts")
        first = _wait_chart(page, "live")
        seen = max(first[0])
        page.locator("#live-indicator").get_by_text("live").wait_for()
        # new steps arrive through `updates` (no reload: the same page keeps its state)
        page.evaluate("() => { window.__sameDocument = true }")
        page.wait_for_function(
            f"() => window.__asynctrackCharts.live.u.data[0].some(x => x > {seen} + 5)", timeout=30_000
        )
        assert page.evaluate("() => window.__sameDocument") is True
        assert updates, "the new points came through `updates`"
        # the runs table's row of the running run follows too
        page.goto(f"{ui.url}/#/experiments/{ui.seeded.other_experiment_id}?cols=m:live")
        cell = page.locator(f"#runs-table tr[data-run-id='{rid}'] td.num").last
        cell.wait_for()
        before = cell.inner_text()
        page.evaluate("() => { window.__sameDocument = true }")
        page.wait_for_function(
            "([sel, before]) => { const c = document.querySelector(sel);"
            " return c && c.textContent !== before }",
            arg=[f"#runs-table tr[data-run-id='{rid}'] td.num:last-child", before],
            timeout=30_000,
        )
        assert page.evaluate("() => window.__sameDocument") is True
    finally:
        logger.kill()
        logger.wait()
        client.set_terminated(rid, "FINISHED")
    page.locator("#chart-legend .live-dot").wait_for(state="detached", timeout=30_000)
