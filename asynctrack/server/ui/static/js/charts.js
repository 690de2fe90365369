// Metric charts: one uPlot chart per key for one run or a comparison. Each chart asks the server for its
// series reduced to about two buckets per pixel (min, max and last of each bucket), draws min-max as a
// band and last as the line, so a one-step spike stays visible at any zoom. Only charts in view fetch
// (IntersectionObserver). Drag to zoom fetches the finer range; shift+drag pans; double-click resets.
// While a shown run is RUNNING and the tab is visible, new points arrive from `updates` every second.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { ui } from "./api.js";
import { fmtDuration, fmtNumber, h, replace } from "./dom.js";
import { appendNewer, buildData, fromResponse, splice } from "./series.js";

export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const HEIGHT = 240;
const POLL_MS = 1000;

export const colorOf = (i) => PALETTE[i % PALETTE.length];

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

/** Debug/test hook: the charts on the page by metric key ({u, view, response}). */
const registry = (window.__asynctrackCharts = window.__asynctrackCharts || {});

/**
 * Mount the charts of `keys` for `runs` ([{run_id, run_name, status, start_time}]) into host.
 * settings: {x: "step"|"wall"|"relative", log: bool, smooth: 0..0.99, q: key filter}; onSettings(settings)
 * is called when the user changes them; onRuns(runs) when live updates change a run's status or metrics.
 */
export function mountCharts(host, { runs, keys, settings, onSettings, onRuns }) {
  let alive = true;
  const cfg = { x: "step", log: false, smooth: 0, q: "", ...settings };
  const cards = new Map();
  let cursor = null; // the last `updates` answer's cursor
  const fresh = new Set(); // cursors of series loaded since the last poll (their pairs' positions)
  let pollTimer = null;
  let polls = 0;
  let polling = false;
  for (const k of Object.keys(registry)) delete registry[k];

  // --- the settings bar ----------------------------------------------------------------------------
  const xSel = h(
    "select",
    { class: "input", id: "chart-x", "aria-label": "X axis" },
    [["step", "Step"], ["wall", "Wall time"], ["relative", "Relative time"]].map(([v, t]) => h("option", { value: v, text: t, selected: cfg.x === v })),
  );
  const logBox = h("input", { type: "checkbox", id: "chart-log", checked: cfg.log });
  const smooth = h("input", { type: "range", id: "chart-smooth", min: 0, max: 0.99, step: 0.01, value: cfg.smooth });
  const smoothVal = h("span", { class: "mono", text: Number(cfg.smooth).toFixed(2) });
  const filter = h("input", { type: "search", class: "input", id: "chart-filter", placeholder: "Filter metrics", value: cfg.q });
  const live = h("span", { class: "hint", id: "live-indicator" });
  const bar = h(
    "div",
    { class: "chart-bar" },
    h("label", {}, "X axis ", xSel),
    h("label", {}, logBox, "Log scale"),
    h("label", {}, "Smoothing ", smooth, smoothVal),
    filter,
    h("span", { class: "hint", text: "Drag to zoom · shift+drag to pan · double-click to reset" }),
    h("span", { class: "spacer" }),
    live,
  );
  const legend = h("div", { class: "legend", id: "chart-legend" });
  const grid = h("div", { class: "chart-grid", id: "charts" });
  host.append(bar, legend, grid);

  const changed = () => onSettings && onSettings({ ...cfg });
  xSel.addEventListener("change", () => {
    cfg.x = xSel.value;
    changed();
    cursor = null;
    fresh.clear();
    for (const c of cards.values()) invalidate(c);
  });
  logBox.addEventListener("change", () => {
    cfg.log = logBox.checked;
    changed();
    for (const c of cards.values()) if (c.view) draw(c, true, true);
  });
  smooth.addEventListener("input", () => {
    cfg.smooth = Number(smooth.value);
    smoothVal.textContent = cfg.smooth.toFixed(2);
    for (const c of cards.values()) if (c.view) draw(c, false);
  });
  smooth.addEventListener("change", changed);
  filter.addEventListener("input", () => {
    cfg.q = filter.value.trim();
    applyFilter();
    changed();
  });

  function drawLegend() {
    replace(
      legend,
      runs.map((r, i) => {
        const sw = h("span", { class: "swatch" });
        sw.style.background = colorOf(i);
        return h("span", { class: "legend-item", title: r.run_id }, sw, r.status === "RUNNING" ? h("span", { class: "live-dot", title: "running" }) : null, r.run_name || r.run_id);
      }),
    );
  }

  // --- cards ---------------------------------------------------------------------------------------
  const observer = new IntersectionObserver(
    (entries) => {
      for (const e of entries) {
        const c = e.target.__card;
        c.visible = e.isIntersecting;
        if (c.visible && !c.loaded && !c.loading) load(c);
      }
    },
    { rootMargin: "200px" },
  );
  const resizer = new ResizeObserver(() => {
    for (const c of cards.values()) if (c.u && c.box.clientWidth && c.u.width !== c.box.clientWidth) c.u.setSize({ width: c.box.clientWidth, height: HEIGHT });
  });
  resizer.observe(grid);

  function addCard(key) {
    if (cards.has(key)) return;
    const empty = grid.querySelector("#no-metrics");
    if (empty) empty.remove();
    const info = h("span", { class: "muted" });
    const box = h("div", { class: "chart-box" }, h("div", { class: "placeholder", text: "…" }));
    const el = h("div", { class: "chart-card", dataset: { key } }, h("h3", {}, h("span", { text: key }), info), box);
    const card = { key, el, box, info, u: null, full: null, view: null, loaded: false, loading: false, visible: false, zoomed: false, gen: 0 };
    el.__card = card;
    cards.set(key, card);
    grid.append(el);
    observer.observe(el);
    if (cfg.q && !key.toLowerCase().includes(cfg.q.toLowerCase())) el.hidden = true;
  }

  function applyFilter() {
    const q = cfg.q.toLowerCase();
    for (const c of cards.values()) c.el.hidden = !!q && !c.key.toLowerCase().includes(q);
  }

  function invalidate(c) {
    c.gen++;
    c.loaded = false;
    c.loading = false;
    c.zoomed = false;
    if (c.unbind) c.unbind();
    if (c.u) {
      c.u.destroy();
      c.u = null;
    }
    replace(c.box, h("div", { class: "placeholder", text: "…" }));
    if (c.visible) load(c);
  }

  const bucketsFor = (c) => Math.max(100, Math.min(5000, Math.round((c.box.clientWidth || 600) * 2)));

  function toServer(v) {
    return cfg.x === "step" ? v : v * 1000;
  }

  async function fetchSeries(c, start, end) {
    const params = { run_ids: runs.map((r) => r.run_id), key: c.key, x: cfg.x, buckets: bucketsFor(c) };
    if (start !== undefined) {
      params.start = cfg.x === "step" ? Math.floor(toServer(start)) : Math.floor(toServer(start));
      params.end = cfg.x === "step" ? Math.ceil(toServer(end)) : Math.ceil(toServer(end));
    }
    const res = await ui("series", params);
    const byRun = new Map((res.series || []).map((s) => [s.run_id, s]));
    return { res, perRun: runs.map((r) => byRun.get(r.run_id) || null) };
  }

  async function load(c) {
    c.loading = true;
    const gen = c.gen;
    try {
      const { res, perRun } = await fetchSeries(c);
      if (!alive || gen !== c.gen) return;
      c.full = perRun.map((e) => (e ? fromResponse(e, cfg.x) : { x: [], min: [], max: [], last: [] }));
      c.raw = perRun.every((e) => !e || e.raw);
      c.counts = perRun.map((e) => (e ? e.count : 0));
      c.view = c.full.map(copy);
      c.response = res;
      for (const e of perRun) if (e && e.cursor != null) fresh.add(e.cursor);
      c.loaded = true;
      c.zoomed = false;
      draw(c, true, true);
      schedulePoll();
    } catch (e) {
      if (!alive || gen !== c.gen) return;
      replace(c.box, h("div", { class: "placeholder error-text", text: e.message || String(e) }));
      console.warn(`series ${c.key}:`, e.message || e);
    } finally {
      if (gen === c.gen) c.loading = false;
    }
  }

  function setInfo(c) {
    const total = (c.counts || []).reduce((a, b) => a + (b || 0), 0);
    const shown = c.view ? c.view.reduce((a, s) => a + s.x.length, 0) : 0;
    c.info.textContent = total > shown ? `${total.toLocaleString()} points, ${shown.toLocaleString()} buckets (min–max band)` : `${total.toLocaleString()} points`;
  }

  function draw(c, resetScales, recreate = false) {
    const data = buildData(uPlot, c.view, { smooth: cfg.smooth, log: cfg.log });
    setInfo(c);
    if (c.u && !recreate) {
      c.u.setData(data, resetScales);
    } else {
      const keep = c.u && c.zoomed ? { min: c.u.scales.x.min, max: c.u.scales.x.max } : null;
      if (c.unbind) c.unbind();
      if (c.u) c.u.destroy();
      replace(c.box);
      c.u = new uPlot(options(c), data, c.box);
      attach(c);
      if (keep) c.u.setScale("x", keep);
    }
    registry[c.key] = { u: c.u, view: c.view, full: c.full, response: c.response, runs: runs.map((r) => r.run_id) };
  }

  function options(c) {
    const series = [{}];
    const bands = [];
    runs.forEach((r, i) => {
      const color = colorOf(i);
      series.push({ label: r.run_name || r.run_id, stroke: color, width: 1.5, spanGaps: true, points: { size: 5, fill: color } });
      series.push({ label: "min", stroke: alpha(color, 0.45), width: 1, spanGaps: true, points: { show: false } });
      series.push({ label: "max", stroke: alpha(color, 0.45), width: 1, spanGaps: true, points: { show: false } });
      bands.push({ series: [3 * i + 3, 3 * i + 2], fill: alpha(color, 0.16) });
    });
    const axisStyle = { stroke: "#69737d", grid: { stroke: "#eef0f3", width: 1 }, ticks: { stroke: "#e3e6ea", width: 1 }, font: "11px system-ui, sans-serif" };
    const xAxis = { ...axisStyle };
    if (cfg.x === "relative") xAxis.values = (u, splits) => splits.map((v) => fmtDuration(v * 1000));
    if (cfg.x === "step") xAxis.values = (u, splits) => splits.map(axisNumber);
    return {
      width: c.box.clientWidth || 560,
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: true }, bind: { dblclick: () => null }, points: { show: false } },
      scales: { x: { time: cfg.x === "wall" }, y: cfg.log ? { distr: 3 } : {} },
      axes: [xAxis, { ...axisStyle, size: 60, values: (u, splits) => splits.map((v) => fmtNumber(v)) }],
      series,
      bands,
      hooks: { setCursor: [(u) => tooltip(c, u)] },
    };
  }

  function attach(c) {
    const u = c.u;
    const tip = h("div", { class: "tip", hidden: true });
    c.box.append(tip);
    c.tip = tip;
    let before = null;
    let pan = null;
    u.root.addEventListener(
      "mousedown",
      (ev) => {
        before = [u.scales.x.min, u.scales.x.max];
        if (!ev.shiftKey || ev.button !== 0) return;
        ev.stopPropagation(); // shift+drag pans instead of selecting
        ev.preventDefault();
        pan = { x: ev.clientX, min: u.scales.x.min, max: u.scales.x.max };
      },
      true,
    );
    const onMove = (ev) => {
      if (!pan) return;
      const dx = ((ev.clientX - pan.x) / u.over.clientWidth) * (pan.max - pan.min);
      c.zoomed = true;
      u.setScale("x", { min: pan.min - dx, max: pan.max - dx });
    };
    const onUp = () => {
      if (pan) {
        pan = null;
        refine(c);
        return;
      }
      if (!before) return;
      const was = before;
      before = null;
      setTimeout(() => {
        if (!c.u || c.u !== u) return;
        if (u.scales.x.min !== was[0] || u.scales.x.max !== was[1]) {
          c.zoomed = true;
          refine(c);
        }
      }, 0);
    };
    window.addEventListener("mousemove", onMove);
    window.addEventListener("mouseup", onUp);
    c.unbind = () => {
      window.removeEventListener("mousemove", onMove);
      window.removeEventListener("mouseup", onUp);
    };
    u.over.addEventListener("dblclick", () => {
      c.zoomed = false;
      c.view = c.full.map(copy);
      draw(c, true);
    });
    u.over.addEventListener("mouseleave", () => (tip.hidden = true));
  }

  let refineTimer = null;
  function refine(c) {
    clearTimeout(refineTimer);
    refineTimer = setTimeout(async () => {
      if (!c.u || !c.full) return;
      const { min, max } = c.u.scales.x;
      if (c.raw && !hasGrown(c)) return; // every point is already drawn
      const gen = c.gen;
      try {
        const { res, perRun } = await fetchSeries(c, min, max);
        if (!alive || gen !== c.gen || !c.u) return;
        c.view = c.view.map((v, i) => (perRun[i] ? splice(v, fromResponse(perRun[i], cfg.x), min, max) : v));
        c.response = res;
        draw(c, false);
        c.u.setScale("x", { min, max });
      } catch (e) {
        console.warn(`zoom ${c.key}:`, e.message || e);
      }
    }, 120);
  }

  const hasGrown = (c) => c.view.some((v, i) => v.x.length > (c.full[i] ? c.full[i].x.length : 0));

  function tooltip(c, u) {
    const tip = c.tip;
    const idx = u.cursor.idx;
    if (!tip || idx === null || idx === undefined || u.cursor.left < 0) {
      if (tip) tip.hidden = true;
      return;
    }
    const xv = u.data[0][idx];
    const rows = [];
    runs.forEach((r, i) => {
      const ys = u.data[1 + 3 * i];
      let j = -1;
      for (let d = 0; d < 400 && j < 0; d++) {
        if (ys[idx - d] != null) j = idx - d;
        else if (ys[idx + d] != null) j = idx + d;
      }
      if (j < 0) return;
      const v = ys[j];
      const sw = h("span", { class: "swatch" });
      sw.style.background = colorOf(i);
      const mn = u.data[2 + 3 * i][j];
      const mx = u.data[3 + 3 * i][j];
      const range = mn !== mx && mn != null && mx != null ? ` [${fmtNumber(mn)} … ${fmtNumber(mx)}]` : "";
      rows.push(h("div", { class: "tip-row" }, sw, h("span", { text: r.run_name || r.run_id }), h("span", { class: "tip-v", text: fmtNumber(v) + range })));
    });
    const xText = cfg.x === "step" ? `step ${fmtNumber(Math.round(xv))}` : cfg.x === "wall" ? new Date(xv * 1000).toLocaleString() : fmtDuration(xv * 1000);
    replace(tip, h("div", { class: "tip-x", text: xText }), rows);
    tip.hidden = false;
    const boxRect = c.box.getBoundingClientRect();
    const overRect = u.over.getBoundingClientRect();
    let left = overRect.left - boxRect.left + u.cursor.left + 14;
    if (left + tip.offsetWidth > c.box.clientWidth) left = Math.max(0, left - tip.offsetWidth - 28);
    tip.style.left = `${left}px`;
    tip.style.top = `${overRect.top - boxRect.top + 6}px`;
  }

  // --- live updates --------------------------------------------------------------------------------
  const anyRunning = () => runs.some((r) => r.status === "RUNNING");

  function schedulePoll() {
    if (!alive || pollTimer || polling || !anyRunning() || document.visibilityState !== "visible") {
      live.replaceChildren();
      if (alive && anyRunning() && (pollTimer || polling)) live.append(h("span", { class: "live-dot" }), "live");
      return;
    }
    live.replaceChildren(h("span", { class: "live-dot" }), "live");
    pollTimer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    pollTimer = null;
    if (!alive || !anyRunning() || document.visibilityState !== "visible") return schedulePoll();
    const loaded = [...cards.values()].filter((c) => c.loaded);
    if ((cursor === null && !fresh.size) || !loaded.length) {
      if (++polls % 5 === 0) await newKeys(); // nothing shown yet: only look for the first metrics
      return schedulePoll();
    }
    polling = true;
    const sent = [...fresh];
    const cursors = cursor === null ? sent : [cursor, ...sent];
    try {
      const res = await ui("updates", { run_ids: runs.map((r) => r.run_id), keys: loaded.map((c) => c.key), cursor: cursors, x: cfg.x });
      if (!alive) return;
      for (const c of sent) fresh.delete(c);
      applyUpdates(res);
      if (++polls % 10 === 0) await newKeys(); // a running run may start logging another metric
    } catch (e) {
      console.warn("updates:", e.message || e);
    } finally {
      polling = false;
    }
    schedulePoll();
  }

  function applyUpdates(res) {
    if (res.cursor != null) cursor = res.cursor;
    const touched = new Set();
    for (const s of res.series || []) {
      const c = cards.get(s.key);
      const i = runs.findIndex((r) => r.run_id === s.run_id);
      if (!c || !c.loaded || i < 0) continue;
      if (s.reset) {
        touched.delete(c);
        invalidate(c); // the history changed under the cursor: read the series again
        continue;
      }
      const add = fromResponse(s, cfg.x);
      const n = appendNewer(c.full[i], add);
      appendNewer(c.view[i], add);
      if (n) {
        c.counts[i] = (c.counts[i] || 0) + n;
        touched.add(c);
      }
    }
    for (const c of touched) {
      if (!c.loaded) continue;
      if (c.view.some((v) => v.x.length > 4 * bucketsFor(c))) invalidate(c); // re-reduce a long tail
      else draw(c, !c.zoomed);
    }
    let statusChanged = false;
    for (const u of res.runs || []) {
      const r = runs.find((x) => x.run_id === u.run_id);
      if (!r) continue;
      if (u.status && u.status !== r.status) {
        r.status = u.status;
        statusChanged = true;
      }
      if (u.end_time) r.end_time = u.end_time;
    }
    if (statusChanged) drawLegend();
    if (onRuns) onRuns(res.runs || []);
  }

  async function newKeys() {
    for (const r of runs.filter((x) => x.status === "RUNNING")) {
      try {
        const res = await ui("run", { run_id: r.run_id });
        if (!alive) return;
        for (const k of res.metric_keys || []) if (!cards.has(k)) addCard(k);
      } catch (e) {
        console.warn("metric keys:", e.message || e);
      }
    }
  }

  const onVisible = () => schedulePoll();
  document.addEventListener("visibilitychange", onVisible);

  drawLegend();
  if (!keys.length) grid.append(h("p", { class: "muted pad", id: "no-metrics", text: "No metrics logged yet." }));
  for (const k of keys) addCard(k);
  schedulePoll();

  return () => {
    alive = false;
    clearTimeout(pollTimer);
    clearTimeout(refineTimer);
    observer.disconnect();
    resizer.disconnect();
    document.removeEventListener("visibilitychange", onVisible);
    for (const c of cards.values()) {
      if (c.unbind) c.unbind();
      if (c.u) c.u.destroy();
    }
  };
}

/** Axis ticks: 50k, 1.5M instead of 50000, 1500000. */
function axisNumber(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(4))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(4))}k`;
  return fmtNumber(v);
}

const copy = (s) => ({ x: s.x.slice(), min: s.min.slice(), max: s.max.slice(), last: s.last.slice() });
