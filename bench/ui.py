"""The web UI against MLflow 3.17.2's, in headless Debian chromium, on the same data (issue 13's benchmark).

    PYTHONPATH=$PWD python bench/ui.py [--runs 10000] [--repeat 5] [--no-mlflow]

Data, written into asynctrack's SQLite store with the embedded client and into ``mlflow server`` (its own
SQLite) through MLflow's REST API: (a) an experiment of ``--runs`` runs x 20 metrics x 20 params; (b) a run
with one 1,000,000-point metric holding a one-step spike; (c) 10 runs x 100,000 points; (d) a run that a
background process keeps logging to. Each measurement opens a fresh browser context (a cold cache, as a
first visit), lets the new window settle (``SETTLE_S``: a new Chromium window starts its own browser-UI
renderer, which burns about 0.7 s of CPU right then, on both UIs alike; a user's browser is already open
when they follow a link) and times from the navigation until the thing is on screen. Two clocks:

- **in the page**: from the navigation's start (``performance.timeOrigin``, the browser's own navigation
  start) to the end of the first frame rendered with the element (a task posted from that frame's
  requestAnimationFrame callback runs after its layout and paint: the usual next-paint measure; for a
  chart, the frame after its data is set). The page is watched by a small init script (a MutationObserver
  and a frame loop), not by polling from outside, so the measuring does not slow it; for a click, from
  the click event's timestamp;
- **harness wall clock**: from Python's call to ``goto`` to Python seeing the result (adds the round trips
  of Playwright's protocol, 20-150 ms here).

What is timed:

- (a) the first run rows visible; the rows sorted by a metric (the sort in the URL for both UIs, and for
  asynctrack also a click on the column header of the loaded table);
- (b) the chart drawn, the bytes of the series responses the page fetched, whether the spike is in them,
  and the server's time for that series query (asynctrack's bucketed ``series``; MLflow's
  ``get-history-bulk-interval``, what its UI asks);
- (c) the comparison chart of 10 runs drawn (asynctrack's compare page; MLflow's experiment chart view);
- (d) live: the delay from a point's durable write (the logger's synchronous call returned) until the page
  has it, p50 and p90 (asynctrack only: MLflow's UI refreshes every 30 s);
- (e) the JavaScript and CSS the pages loaded, gzipped (level 6).

Medians of ``--repeat`` runs; ratios are MLflow / asynctrack (above 1: asynctrack is faster or smaller).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests")]

from playwright.sync_api import Browser, Page, Response, sync_playwright  # noqa: E402
from servers import asynctrack_server, mlflow_server, running  # noqa: E402

from asynctrack import MlflowClient  # noqa: E402
from asynctrack.entities import Metric, Param  # noqa: E402
from asynctrack.pipeline import close_pipelines  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
N_METRICS = 20
N_PARAMS = 20
LONG = 1_000_000
SPIKE_STEP, SPIKE = 654_321, 1000.0
CMP_RUNS, CMP_POINTS = 10, 100_000
BASE_MS = 1_764_000_000_000
TIMEOUT_MS = 120_000


# --- the data ------------------------------------------------------------------------------------------
def table_values(n_runs: int) -> tuple[np.ndarray, str]:
    """Metric values (runs x metrics) with a unique maximum of m0, and the name of the run holding it."""
    rng = np.random.default_rng(7)
    vals = rng.random((n_runs, N_METRICS))
    top = int(np.argmax(vals[:, 0]))
    return vals, f"run-{top:05d}"


def long_values() -> np.ndarray:
    vals = np.sin(np.arange(LONG) / 5000.0) * 0.1 + 0.5
    vals[SPIKE_STEP] = SPIKE
    return vals


def compare_values(i: int) -> np.ndarray:
    steps = np.arange(CMP_POINTS, dtype=np.float64)
    return np.exp(-steps / 20_000.0) * (1 + 0.1 * i) + 0.02 * np.random.default_rng(i).standard_normal(
        CMP_POINTS
    )


def seed_asynctrack(db: Path, n_runs: int) -> dict[str, Any]:
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    where = str(db.parent / "artifacts")
    vals, top = table_values(n_runs)
    ids: dict[str, Any] = {"top": top}
    ids["table"] = client.create_experiment("bench-table", artifact_location=where)
    for i in range(n_runs):
        rid = client.create_run(ids["table"], run_name=f"run-{i:05d}", start_time=BASE_MS + i).info.run_id
        metrics = [Metric(f"m{k}", float(vals[i, k]), BASE_MS + i, 0) for k in range(N_METRICS)]
        params = [Param(f"p{k}", f"value-{(i * 31 + k) % 97}") for k in range(N_PARAMS)]
        client.log_batch(rid, metrics=metrics, params=params)
        client.set_terminated(rid, "FINISHED", end_time=BASE_MS + i + 60_000)
    ids["long_exp"] = client.create_experiment("bench-long", artifact_location=where)
    ids["long"] = client.create_run(ids["long_exp"], run_name="long", start_time=BASE_MS).info.run_id
    steps = np.arange(LONG, dtype=np.int64)
    client.log_metric_array(ids["long"], "signal", long_values(), steps=steps, timestamps=BASE_MS + steps)
    client.set_terminated(ids["long"], "FINISHED", end_time=BASE_MS + LONG)
    ids["cmp_exp"] = client.create_experiment("bench-compare", artifact_location=where)
    ids["cmp"] = []
    for i in range(CMP_RUNS):
        rid = client.create_run(ids["cmp_exp"], run_name=f"cmp-{i}", start_time=BASE_MS).info.run_id
        steps = np.arange(CMP_POINTS, dtype=np.int64)
        client.log_metric_array(rid, "loss", compare_values(i), steps=steps, timestamps=BASE_MS + steps * 10)
        client.set_terminated(rid, "FINISHED", end_time=BASE_MS + CMP_POINTS * 10)
        ids["cmp"].append(rid)
    ids["live_exp"] = client.create_experiment("bench-live", artifact_location=where)
    client.flush()
    close_pipelines(timeout=120)
    return ids


class MlflowSeeder:
    """Writes the same data into ``mlflow server`` through its REST API, 8 requests at a time."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url + "/api/2.0/mlflow", timeout=600)
        self.pool = cf.ThreadPoolExecutor(4)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with MLflow's client's retry rule: 429 and 5xx (a locked database under load answers 503)
        and dropped connections are retried with exponential back-off."""
        for attempt in range(12):
            try:
                r = self.http.post(path, json=body)
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code < 500 and r.status_code != 429:
                r.raise_for_status()
                out: dict[str, Any] = r.json()
                return out
            time.sleep(min(30.0, 0.5 * 2**attempt))
        status = r.status_code if r is not None else "no answer"
        raise RuntimeError(f"mlflow server kept failing {path}: {status}")

    def run(self, exp: str, name: str, start: int) -> str:
        body = {"experiment_id": exp, "run_name": name, "start_time": start}
        return str(self.post("/runs/create", body)["run"]["info"]["run_id"])

    def points(self, rid: str, key: str, values: np.ndarray, ts: np.ndarray) -> None:
        def chunk(a: int) -> None:
            metrics = [
                {"key": key, "value": float(values[j]), "timestamp": int(ts[j]), "step": j}
                for j in range(a, min(a + 1000, len(values)))
            ]
            self.post("/runs/log-batch", {"run_id": rid, "metrics": metrics})

        list(self.pool.map(chunk, range(0, len(values), 1000)))

    def seed(self, n_runs: int) -> dict[str, Any]:
        vals, top = table_values(n_runs)
        ids: dict[str, Any] = {"top": top}
        ids["table"] = self.post("/experiments/create", {"name": "bench-table"})["experiment_id"]

        def one(i: int) -> None:
            rid = self.run(ids["table"], f"run-{i:05d}", BASE_MS + i)
            metrics = [
                {"key": f"m{k}", "value": float(vals[i, k]), "timestamp": BASE_MS + i, "step": 0}
                for k in range(N_METRICS)
            ]
            params = [{"key": f"p{k}", "value": f"value-{(i * 31 + k) % 97}"} for k in range(N_PARAMS)]
            self.post("/runs/log-batch", {"run_id": rid, "metrics": metrics, "params": params})
            self.post("/runs/update", {"run_id": rid, "status": "FINISHED", "end_time": BASE_MS + i + 60_000})

        list(self.pool.map(one, range(n_runs)))
        ids["long_exp"] = self.post("/experiments/create", {"name": "bench-long"})["experiment_id"]
        ids["long"] = self.run(ids["long_exp"], "long", BASE_MS)
        steps = np.arange(LONG, dtype=np.int64)
        self.points(ids["long"], "signal", long_values(), BASE_MS + steps)
        ids["cmp_exp"] = self.post("/experiments/create", {"name": "bench-compare"})["experiment_id"]
        ids["cmp"] = []
        for i in range(CMP_RUNS):
            rid = self.run(ids["cmp_exp"], f"cmp-{i}", BASE_MS)
            self.points(rid, "loss", compare_values(i), BASE_MS + np.arange(CMP_POINTS, dtype=np.int64) * 10)
            ids["cmp"].append(rid)
        self.pool.shutdown()
        self.http.close()
        return ids


# --- measuring in the browser --------------------------------------------------------------------------
class Shipped:
    """Every JS and CSS response the pages loaded, by URL, with its gzipped size."""

    def __init__(self) -> None:
        self.pending: list[Response] = []
        self.sizes: dict[str, int] = {}

    def on_response(self, r: Response) -> None:
        if r.request.resource_type in ("script", "stylesheet"):
            self.pending.append(r)

    def harvest(self) -> None:
        """Read the bodies while their page is still open."""
        for r in self.pending:
            if r.url not in self.sizes:
                try:
                    self.sizes[r.url] = len(gzip.compress(r.body(), 6))
                except Exception:  # a response the browser dropped (navigated away): not counted
                    pass
        self.pending.clear()

    def gzipped(self) -> int:
        return sum(self.sizes.values())


SETTLE_S = 1.0

#: Watches the page from its first script on: when ``TARGET`` (a CSS selector; with ``NAME``, an element
#: with that text; else a JS predicate's truthy result) appears, records when (``performance.now()``, ms
#: since the navigation started) and when the frame showing it was painted, in ``window.__bench``. With
#: ``AFTER_CLICK`` it records only after a click and reports the time since the click event.
_PROBE = """
(() => {
  const SEL = %(selector)s, NAME = %(name)s, PRED = %(predicate)s, AFTER_CLICK = %(after_click)s;
  let clickAt = null, done = false;
  window.__bench = null;
  if (AFTER_CLICK) addEventListener('click', (e) => { if (clickAt === null) clickAt = e.timeStamp; }, true);
  const target = () => {
    if (PRED) { try { return PRED() ? true : null; } catch (e) { return null; } }
    const el = document.querySelector(SEL);
    return el && (NAME === null || el.textContent.trim() === NAME) ? el : null;
  };
  const finish = (seen, paint, via) => {
    const from = AFTER_CLICK ? clickAt : 0;
    window.__bench = { seen: seen - from, painted: paint - from, via };
  };
  const found = () => {
    done = true;
    const seen = performance.now();
    // The frame that shows it: rAF runs before that frame's style, layout and paint; a task posted from
    // it runs after them, so its time is when the frame was painted (the next-paint measure).
    requestAnimationFrame(() => setTimeout(() => finish(seen, performance.now(), 'frame'), 0));
  };
  const check = () => {
    if (done || (AFTER_CLICK && clickAt === null)) return;
    const el = target();
    if (el) found();
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true, characterData: true });
  const loop = () => { check(); if (!done) requestAnimationFrame(loop); };
  if (PRED) requestAnimationFrame(loop);
})();
"""

_WAIT = """(limit) => new Promise((resolve) => {
  const until = performance.now() + limit;
  const f = () => (window.__bench || performance.now() > until ? resolve(window.__bench) : setTimeout(f, 10));
  f();
})"""


def _wait(page: Page) -> dict[str, Any]:
    """What the probe recorded; an error if the thing never showed within ``TIMEOUT_MS``."""
    result: dict[str, Any] | None = page.evaluate(_WAIT, TIMEOUT_MS)
    if result is None:
        raise TimeoutError(f"{page.url}: not shown within {TIMEOUT_MS} ms")
    return result


def _probe(
    selector: str = "", name: str | None = None, predicate: str = "", after_click: bool = False
) -> str:
    return _PROBE % {
        "selector": json.dumps(selector),
        "name": json.dumps(name),
        "predicate": f"(() => {{ {predicate} }})" if predicate else "null",
        "after_click": json.dumps(after_click),
    }


def _new_page(browser: Browser, probe: str) -> tuple[Any, Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(probe)
    time.sleep(SETTLE_S)  # the new window's own start-up work, not the page's
    return context, page


def timed(
    browser: Browser,
    url: str,
    probe: str,
    shipped: Shipped | None = None,
    bodies: list[bytes] | None = None,
    match: str = "",
) -> tuple[float, float]:
    """(in-page ms from navigation start to painted, harness wall-clock ms) for one navigation in a fresh
    context (a cold cache). ``shipped`` collects the JS and CSS loaded; ``bodies`` the bodies of responses
    whose URL has ``match``."""
    context, page = _new_page(browser, probe)
    kept: list[Response] = []
    if shipped is not None:
        page.on("response", shipped.on_response)
    if bodies is not None:
        page.on("response", lambda r: kept.append(r) if match in r.url else None)
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit")
        result = _wait(page)
        wall = (time.perf_counter() - t0) * 1000
        if shipped is not None:
            shipped.harvest()
        if bodies is not None:
            bodies.extend(r.body() for r in kept)
        return float(result["painted"]), wall
    finally:
        context.close()


def timed_warm(browser: Browser, url: str, probe: str) -> tuple[float, float]:
    """Like :func:`timed` for a second visit: the page was loaded once in this context (its files in the
    browser's cache), then left (about:blank) and opened again."""
    context, page = _new_page(browser, probe)
    try:
        page.goto(url, wait_until="commit")
        _wait(page)
        page.goto("about:blank")
        time.sleep(0.3)
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit")
        result = _wait(page)
        return float(result["painted"]), (time.perf_counter() - t0) * 1000
    finally:
        context.close()


def click_sort_asynctrack(browser: Browser, url: str, top: str, link: str) -> tuple[float, float]:
    """(in-page ms from the click event to the sorted first row painted, harness wall-clock ms from the
    click call to seeing it) on a loaded table."""
    context, page = _new_page(browser, _probe(link, top, after_click=True))
    header = "#runs-table th button[data-order='metrics.`m0`']"
    try:
        page.goto(url)
        page.locator(header).wait_for()
        page.locator(link).first.wait_for()
        time.sleep(0.3)  # the loaded table idle, as a user reads it before clicking
        t0 = time.perf_counter()
        page.click(header)  # metrics sort DESC first
        result = _wait(page)
        return float(result["painted"]), (time.perf_counter() - t0) * 1000
    finally:
        context.close()


def live_latency(browser: Browser, url: str, ui_url: str, exp: str, seconds: float) -> list[float]:
    """Per point: when the page had it minus when the logger's synchronous write returned (ms)."""
    client = MlflowClient(tracking_uri=ui_url)
    rid = client.create_run(exp, run_name="live").info.run_id
    client.log_metric(rid, "live", 0.0, step=0, synchronous=True)
    logger_src = textwrap.dedent(
        """
        import sys, time
        from asynctrack import MlflowClient
        client = MlflowClient(tracking_uri=sys.argv[1])
        for step in range(1, int(float(sys.argv[3]) / 0.1)):
            client.log_metric(sys.argv[2], "live", float(step % 13), step=step, synchronous=True)
            print(step, time.time() * 1000, flush=True)
            time.sleep(0.1)
        """
    )
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(f"{url}/#/experiments/{exp}/runs/{rid}?tab=charts")
        page.wait_for_function("() => { const c = (window.__asynctrackCharts || {}).live; return c && c.u }")
        page.evaluate(
            """() => { window.__seen = {}; setInterval(() => {
                 const c = window.__asynctrackCharts.live; if (!c || !c.u) return;
                 for (const x of c.u.data[0]) if (!(x in window.__seen)) window.__seen[x] = Date.now();
               }, 5) }"""
        )
        proc = subprocess.run(
            [sys.executable, "-c", logger_src, ui_url, rid, str(seconds)],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
        time.sleep(3)  # the last points' poll
        seen = page.evaluate("() => window.__seen")
    finally:
        context.close()
        client.set_terminated(rid, "FINISHED")
        close_pipelines(timeout=30)
    out = []
    for line in proc.stdout.strip().splitlines():
        step, wrote = line.split()
        if step in seen:
            out.append(seen[step] - float(wrote))
    return out


def server_query_ms(url: str, path: str, params: dict[str, Any], n: int = 15) -> float:
    with httpx.Client(base_url=url, timeout=120) as c:
        c.get(path, params=params).raise_for_status()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            c.get(path, params=params).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure(browser: Browser, side: str, url: str, ids: dict[str, Any], repeat: int) -> dict[str, Any]:
    res: dict[str, list[float]] = {}
    extra: dict[str, Any] = {}
    shipped = Shipped()
    top = ids["top"]
    mlf = side == "mlflow"
    table = f"{url}/#/experiments/{ids['table']}" + ("/runs" if mlf else "")
    link = "a[href*='/runs/']" if mlf else "#runs-table tbody tr[data-run-id] td.name a"
    sorted_url = (
        f"{table}?orderByKey=metrics.%60m0%60&orderByAsc=false"
        if mlf
        else f"{table}?order=metrics.%60m0%60%20DESC"
    )
    long_url = f"{url}/#/experiments/{ids['long_exp']}/runs/{ids['long']}" + (
        "/model-metrics" if mlf else "?tab=charts"
    )
    cmp_url = (
        f"{url}/#/experiments/{ids['cmp_exp']}/runs?compareRunsMode=CHART"
        if mlf
        else f"{url}/#/compare?runs={','.join(ids['cmp'])}"
    )
    drawn_long = _probe(
        predicate="return document.querySelector('.js-plotly-plot .scatterlayer path.js-line')"
        if mlf
        else "const c = (window.__asynctrackCharts || {}).signal; return c && c.u && c.u.data[0].length > 0"
    )
    drawn_cmp = _probe(
        predicate="return [...document.querySelectorAll('.js-plotly-plot')].some(x =>"
        f" x.querySelectorAll('.scatterlayer path.js-line').length >= {CMP_RUNS})"
        if mlf
        else "const c = (window.__asynctrackCharts || {}).loss;"
        f" return c && c.u && c.u.data.length === {1 + 3 * CMP_RUNS} && c.u.data[0].length > 0"
    )
    series_match = "get-history-bulk-interval" if mlf else "/ajax-api/asynctrack/ui/series"

    def add(key: str, got: tuple[float, float]) -> None:
        res.setdefault(key, []).append(got[0])
        res.setdefault(key + "_wall", []).append(got[1])

    for i in range(repeat):
        sh = shipped if i == 0 else None
        add("a_rows", timed(browser, table, _probe(link), sh))
        add("a_rows_warm", timed_warm(browser, table, _probe(link)))
        add("a_sorted_url", timed(browser, sorted_url, _probe(link, top), sh))
        if not mlf:
            add("a_click_sort", click_sort_asynctrack(browser, table, top, link))
        bodies: list[bytes] = []
        add("b_chart", timed(browser, long_url, drawn_long, sh, bodies, series_match))
        if i == 0:
            extra["b_bytes"] = sum(len(b) for b in bodies)
            extra["b_spike"] = any(_has_spike(b) for b in bodies)
        add("c_compare", timed(browser, cmp_url, drawn_cmp, sh))
    print(f"{side} raw (ms): {json.dumps({k: [round(x) for x in v] for k, v in res.items()})}", flush=True)
    extra["ranges"] = {k: (min(v), max(v)) for k, v in res.items()}
    out: dict[str, Any] = {k: statistics.median(v) for k, v in res.items()}
    out.update(extra)
    out["e_shipped"] = shipped.gzipped()
    if mlf:
        out["b_query_ms"] = server_query_ms(
            url,
            "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
            {"run_ids": ids["long"], "metric_key": "signal", "max_results": 320},
        )
    else:
        out["b_query_ms"] = server_query_ms(
            url, "/ajax-api/asynctrack/ui/series", {"run_ids": ids["long"], "key": "signal", "buckets": 1200}
        )
    return out


def _has_spike(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    if "series" in doc:
        return any(SPIKE in (s.get("max") or []) for s in doc["series"])
    return any(m.get("value") == SPIKE for m in doc.get("metrics", []))


# --- the report ----------------------------------------------------------------------------------------
def report(ours: dict[str, Any], theirs: dict[str, Any] | None, live: list[float]) -> str:
    rows = [
        ("(a) first rows painted after navigation, cold cache", "a_rows", "ms"),
        ("(a) first rows painted after navigation, second visit", "a_rows_warm", "ms"),
        ("(a) rows sorted by a metric (sort in the URL), cold", "a_sorted_url", "ms"),
        ("(a) sort by clicking the metric's header: click to sorted rows painted", "a_click_sort", "ms"),
        ("(b) 1,000,000-point chart drawn after navigation", "b_chart", "ms"),
        ("(b) series payload fetched by the page", "b_bytes", "B"),
        ("(b) spike in the fetched data", "b_spike", "?"),
        ("(b) server time of that series query", "b_query_ms", "ms"),
        ("(c) 10 runs x 100,000 points compared, drawn", "c_compare", "ms"),
        ("(e) JS + CSS shipped, gzipped", "e_shipped", "B"),
    ]

    def show(v: Any, unit: str) -> str:
        if v is None:
            return "-"
        if unit == "B":
            return f"{v / 1024:,.1f} KB"
        if unit == "ms":
            return f"{v:,.0f} ms" if v >= 100 else f"{v:,.1f} ms"
        return "yes" if v else "no"

    def cell(d: dict[str, Any] | None, key: str, unit: str) -> str:
        if not d or d.get(key) is None:
            return "-"
        text = show(d[key], unit)
        span = d.get("ranges", {}).get(key)
        if span:
            text += f" ({span[0]:,.0f}-{span[1]:,.0f})"
        wall = d.get(key + "_wall")
        if wall is not None:
            text += f"; wall {wall:,.0f}"
        return text

    lines = [
        "in-page times: navigation start (or the click) to the paint, median (min-max); wall: harness clock",
        "| measure | asynctrack | MLflow 3.17.2 | ratio |",
        "|---|---|---|---|",
    ]
    for label, key, unit in rows:
        a = ours.get(key)
        m = theirs.get(key) if theirs else None
        ratio = f"{m / a:,.1f}x" if unit != "?" and a and m else ""
        lines.append(f"| {label} | {cell(ours, key, unit)} | {cell(theirs, key, unit)} | {ratio} |")
    if live:
        p50 = statistics.median(live)
        p90 = sorted(live)[int(0.9 * (len(live) - 1))]
        lines.append(
            f"| (d) live update delay, p50 / p90 ({len(live)} points) | {p50:,.0f} / {p90:,.0f} ms | "
            "polls every 30 s | |"
        )
    return "\n".join(lines)


def main() -> None:
    global LONG, SPIKE_STEP, CMP_POINTS
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=10_000, help="runs in the table experiment (default 10,000)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="measurements per figure (default 5)")
    parser.add_argument("--live-seconds", type=float, default=15.0)
    parser.add_argument("--no-mlflow", action="store_true", help="measure asynctrack only")
    parser.add_argument("--long", type=int, default=LONG, help="points of the long metric (1,000,000)")
    parser.add_argument("--compare-points", type=int, default=CMP_POINTS, help="points per compared run")
    args = parser.parse_args()
    LONG, CMP_POINTS = args.long, args.compare_points
    SPIKE_STEP = min(SPIKE_STEP, LONG * 2 // 3)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        ids = seed_asynctrack(root / "ui.db", args.runs)
        print(f"seeded asynctrack in {time.perf_counter() - t0:.1f} s", flush=True)
        theirs = None
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            with running(asynctrack_server(root, backend_store_uri=f"sqlite:///{root / 'ui.db'}")) as srv:
                ours = measure(browser, "asynctrack", srv.url, ids, args.repeat)
                print(f"asynctrack: {ours}", flush=True)
                live = live_latency(browser, srv.url, srv.url, ids["live_exp"], args.live_seconds)
            print(f"load average after asynctrack: {os.getloadavg()}", flush=True)
            print(report(ours, None, live), flush=True)
            if not args.no_mlflow:
                mroot = root / "mlflow"
                mroot.mkdir()
                with running(mlflow_server(mroot, workers=4)) as msrv:
                    t0 = time.perf_counter()
                    mids = MlflowSeeder(msrv.url).seed(args.runs)
                    print(f"seeded mlflow in {time.perf_counter() - t0:.1f} s", flush=True)
                    theirs = measure(browser, "mlflow", msrv.url, mids, args.repeat)
                    print(f"mlflow: {theirs}", flush=True)
            browser.close()
    print(f"load average at end: {os.getloadavg()}")
    print(report(ours, theirs, live))


if __name__ == "__main__":
    main()
