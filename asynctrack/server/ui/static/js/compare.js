// Comparing runs: their parameters side by side (only those that differ, until asked for all), their
// latest metrics side by side (those that differ first and marked), and one chart per metric key with a
// line per run. #/compare?runs=a,b,c plus the chart settings.

import { ui } from "./api.js";
import { colorOf, mountCharts } from "./charts.js";
import { fmtNumber, h, replace, statusBadge } from "./dom.js";
import { list, runHref, setParams } from "./route.js";
import { chartSettings, chartSettingsParams } from "./settings.js";

export function mount(main, { route }) {
  let alive = true;
  let disposeCharts = null;
  const ids = runIds(route.params);
  const page = h("div", { class: "page" }, h("div", { class: "crumbs" }, h("a", { href: "#/", text: "Experiments" })), h("div", { class: "page-head" }, h("h1", { text: `Comparing ${ids.length} runs` })));
  main.append(page);
  if (!ids.length) {
    page.append(h("p", { class: "muted", text: "No runs chosen: select runs in a runs table and press Compare." }));
    return () => {};
  }
  Promise.all(ids.map((id) => ui("run", { run_id: id }).catch((e) => ({ error: e, id }))))
    .then((results) => {
      if (!alive) return;
      const ok = results.filter((r) => !r.error);
      for (const r of results.filter((r) => r.error)) page.append(h("div", { class: "msg" }, h("div", { class: "error", text: `${r.id}: ${r.error.message}` })));
      const runs = ok.map((r) => ({
        run_id: r.run.info.run_id,
        run_name: r.run.info.run_name || r.run.info.run_id,
        status: r.run.info.status,
        start_time: r.run.info.start_time,
        experiment_id: r.run.info.experiment_id,
        params: Object.fromEntries((r.run.data.params || []).map((p) => [p.key, p.value])),
        metrics: Object.fromEntries((r.run.data.metrics || []).map((m) => [m.key, m.value])),
      }));
      const keys = [...new Set(ok.flatMap((r) => r.metric_keys || []))].sort();
      page.append(paramsTable(runs), metricsTable(runs));
      const host = h("div", {});
      page.append(host);
      disposeCharts = mountCharts(host, { runs, keys, settings: chartSettings(route.params), onSettings: (s) => setParams(chartSettingsParams(s)) });
    });
  return () => {
    alive = false;
    if (disposeCharts) disposeCharts();
  };
}

/** runs=a,b,c, or MLflow's compare link runs=["a","b"]. */
function runIds(params) {
  const raw = params.get("runs") || "";
  if (raw.startsWith("[")) {
    try {
      const ids = JSON.parse(raw);
      if (Array.isArray(ids)) return ids.map(String).filter(Boolean);
    } catch {
      /* not JSON: read it as a list */
    }
  }
  return list(params, "runs");
}

function runsHead(runs) {
  return h(
    "tr",
    {},
    h("th", { text: "Run" }),
    runs.map((r, i) => {
      const sw = h("span", { class: "swatch" });
      sw.style.background = colorOf(i);
      return h("th", {}, sw, " ", h("a", { href: runHref(r.experiment_id, r.run_id), text: r.run_name }), " ", statusBadge(r.status));
    }),
  );
}

/** The keys of `field` over all runs, split into those whose values differ between runs and the rest. */
function splitKeys(runs, field) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r[field])))].sort();
  const differs = (k) => new Set(runs.map((r) => String(r[field][k] ?? "\u0000"))).size > 1;
  return [keys, keys.filter(differs), keys.filter((k) => !differs(k))];
}

function paramsTable(runs) {
  const [keys, diffKeys, sameKeys] = splitKeys(runs, "params");
  const head = runsHead(runs);
  const rows = (ks) => ks.map((k) => h("tr", {}, h("th", { text: k }), runs.map((r) => h("td", { class: "clip", text: r.params[k] ?? "", title: r.params[k] ?? "" }))));
  const body = h("tbody", {}, rows(diffKeys.slice(0, 50)));
  const toggle = h("button", { class: "btn small", type: "button", text: `Show all ${keys.length} parameters`, hidden: !sameKeys.length && diffKeys.length <= 50 });
  toggle.addEventListener("click", () => {
    replace(body, rows(diffKeys), rows(sameKeys));
    toggle.hidden = true;
  });
  return h(
    "div",
    { class: "card compare-params", id: "compare-params" },
    h("div", { class: "card-head" }, h("h2", { text: `Parameters that differ (${diffKeys.length} of ${keys.length})` }), h("span", { class: "spacer" }), toggle),
    h("div", { class: "table-wrap" }, h("table", { class: "grid" }, h("thead", {}, head), body)),
  );
}

/** The latest value of every metric per run: the metrics whose values differ come first and are marked
 * (class "differs"), the ones equal in every run after them (the first 50 until asked for all). */
function metricsTable(runs) {
  const [keys, diffKeys, sameKeys] = splitKeys(runs, "metrics");
  const cell = (r, k) => {
    const v = r.metrics[k];
    const text = v === undefined ? "" : fmtNumber(v);
    return h("td", { class: "num", text, title: v === undefined ? "" : String(v) });
  };
  const rows = (ks, differs) => ks.map((k) => h("tr", { class: differs ? "differs" : "", dataset: { key: k } }, h("th", { text: k }), runs.map((r) => cell(r, k))));
  const all = [...rows(diffKeys, true), ...rows(sameKeys, false)];
  const body = h("tbody", {}, all.slice(0, 50));
  const toggle = h("button", { class: "btn small", type: "button", text: `Show all ${keys.length} metrics`, hidden: all.length <= 50 });
  toggle.addEventListener("click", () => {
    replace(body, all);
    toggle.hidden = true;
  });
  return h(
    "div",
    { class: "card compare-metrics", id: "compare-metrics" },
    h("div", { class: "card-head" }, h("h2", { text: `Latest metrics (${diffKeys.length} of ${keys.length} differ)` }), h("span", { class: "spacer" }), toggle),
    h("div", { class: "table-wrap" }, h("table", { class: "grid" }, h("thead", {}, runsHead(runs)), body)),
  );
}
