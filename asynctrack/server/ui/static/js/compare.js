// Comparing runs: their parameters side by side (differences first) and one chart per metric key with
// a line per run. #/compare?runs=a,b,c plus the chart settings.

import { ui } from "./api.js";
import { colorOf, mountCharts } from "./charts.js";
import { h, replace, statusBadge } from "./dom.js";
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
      }));
      const keys = [...new Set(ok.flatMap((r) => r.metric_keys || []))].sort();
      page.append(paramsTable(runs));
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

function paramsTable(runs) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  const differs = (k) => new Set(runs.map((r) => r.params[k] ?? "\u0000")).size > 1;
  const diffKeys = keys.filter(differs);
  const sameKeys = keys.filter((k) => !differs(k));
  const head = h(
    "tr",
    {},
    h("th", { text: "Run" }),
    runs.map((r, i) => {
      const sw = h("span", { class: "swatch" });
      sw.style.background = colorOf(i);
      return h("th", {}, sw, " ", h("a", { href: runHref(r.experiment_id, r.run_id), text: r.run_name }), " ", statusBadge(r.status));
    }),
  );
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
