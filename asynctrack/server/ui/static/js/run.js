// The run page: status, times, parent and children, an editable description (the tag
// mlflow.note.content), params, latest metrics, tags (add/delete); the Charts tab (every metric of the
// run) and the Artifacts tab (tree and previews).

import { mlflow, mlflowGet, ui } from "./api.js";
import { confirmButton, fmtDuration, fmtNumber, fmtTime, h, replace, runDuration, statusBadge } from "./dom.js";
import { experimentHref, runHref, setParams } from "./route.js";
import { chartSettings, chartSettingsParams } from "./settings.js";

const NOTE = "mlflow.note.content";

export function mount(main, { experimentId, runId, route }) {
  let alive = true;
  let disposeTab = null;
  let refreshTimer = null;
  // MLflow's run links may name a tab in the path: .../runs/<id>/model-metrics or .../artifacts/<path>
  const pathTab = { "model-metrics": "charts", "system-metrics": "charts", artifacts: "artifacts" }[route.parts[4]];
  const tab = route.params.get("tab") || pathTab || "overview";
  const page = h("div", { class: "page" });
  main.append(page);

  async function load() {
    let res;
    try {
      res = await ui("run", { run_id: runId });
    } catch (e) {
      if (alive) replace(page, h("div", { class: "msg" }, h("div", { class: "error", text: e.message })), h("a", { href: experimentHref(experimentId), text: "Back to the runs" }));
      return null;
    }
    return res;
  }

  function render(res) {
    const run = res.run;
    const info = run.info;
    const expId = info.experiment_id;
    const tags = Object.fromEntries((run.data.tags || []).map((t) => [t.key, t.value]));
    const name = info.run_name || tags["mlflow.runName"] || info.run_id;
    document.title = `${name} · asynctrack`;
    const crumbs = h("div", { class: "crumbs" }, h("a", { href: "#/", text: "Experiments" }), h("span", { class: "sep", text: "/" }));
    const expLink = h("a", { href: experimentHref(expId), text: `#${expId}` });
    crumbs.append(expLink, h("span", { class: "sep", text: "/" }), h("span", { text: name }));
    mlflowGet("experiments/get", { experiment_id: expId })
      .then((r) => (expLink.textContent = r.experiment.name))
      .catch(() => {});
    const deleted = info.lifecycle_stage === "deleted";
    const lifecycle = deleted
      ? h("button", { class: "btn", type: "button", text: "Restore", on: { click: () => act("restore") } })
      : confirmButton("Delete", "Confirm delete", () => act("delete"));
    const head = h("div", { class: "page-head" }, h("h1", { id: "run-name", text: name }), statusBadge(info.status), deleted ? h("span", { class: "badge st-killed", text: "deleted" }) : null, h("span", { class: "spacer" }), lifecycle);
    const nMetrics = (res.metric_keys || []).length;
    const tabs = h(
      "nav",
      { class: "tabs" },
      [["overview", "Overview"], ["charts", `Charts (${nMetrics})`], ["artifacts", "Artifacts"]].map(([t, label]) =>
        h("a", { href: runHref(expId, runId, t === "overview" ? {} : { tab: t }), class: t === tab ? "active" : "", text: label, dataset: { tab: t } }),
      ),
    );
    const body = h("div", { id: `tab-${tab}` });
    replace(page, crumbs, head, tabs, body);
    if (tab === "charts") {
      const runInfo = { run_id: info.run_id, run_name: name, status: info.status, start_time: info.start_time };
      // The chart code (and uPlot) loads only when a chart is shown.
      import("./charts.js").then(({ mountCharts }) => {
        if (!alive) return;
        disposeTab = mountCharts(body, {
          runs: [runInfo],
          keys: res.metric_keys || [],
          settings: chartSettings(route.params),
          onSettings: (s) => setParams(chartSettingsParams(s)),
        });
      });
    } else if (tab === "artifacts") {
      import("./artifacts.js").then(({ mountArtifacts }) => {
        const fromPath = route.parts[4] === "artifacts" ? route.parts.slice(5).join("/") : "";
        if (alive) disposeTab = mountArtifacts(body, info.run_id, route.params.get("path") || fromPath);
      });
    } else overview(body, res, tags);
    if (tab === "overview" && info.status === "RUNNING") refreshTimer = setTimeout(refresh, 3000);
  }

  async function refresh() {
    refreshTimer = null;
    if (!alive) return;
    if (document.visibilityState !== "visible") {
      refreshTimer = setTimeout(refresh, 3000);
      return;
    }
    // Only while the run is RUNNING and the overview is shown, and not while the user is typing.
    if (page.querySelector("textarea, .tag-form input:focus")) {
      refreshTimer = setTimeout(refresh, 3000);
      return;
    }
    const res = await load();
    if (res && alive) render(res);
  }

  async function act(what) {
    try {
      await mlflow(`runs/${what}`, { run_id: runId });
      reload();
    } catch (e) {
      flash(e.message);
    }
  }

  function flash(text) {
    const m = page.querySelector(".msg") || page.appendChild(h("div", { class: "msg" }));
    replace(m, h("div", { class: "error", text }));
  }

  async function reload() {
    if (disposeTab) disposeTab();
    disposeTab = null;
    clearTimeout(refreshTimer);
    const res = await load();
    if (res && alive) render(res);
  }

  function overview(body, res, tags) {
    const run = res.run;
    const info = run.info;
    const parentId = tags["mlflow.parentRunId"];
    const details = h(
      "table",
      { class: "kv", id: "run-details" },
      h(
        "tbody",
        {},
        kv("Run ID", h("span", { class: "mono", text: info.run_id })),
        kv("Experiment ID", h("a", { href: experimentHref(info.experiment_id), text: info.experiment_id })),
        kv("Status", statusBadge(info.status)),
        kv("Started", fmtTime(info.start_time)),
        kv("Ended", fmtTime(info.end_time)),
        kv("Duration", fmtDuration(runDuration(info))),
        kv("User", info.user_id || ""),
        kv("Source", tags["mlflow.source.name"] || ""),
        tags["mlflow.source.git.commit"] ? kv("Git commit", h("span", { class: "mono", text: tags["mlflow.source.git.commit"] })) : null,
        kv("Lifecycle", info.lifecycle_stage),
        kv("Artifact URI", h("span", { class: "mono", text: info.artifact_uri || "" })),
        parentId ? kv("Parent run", h("a", { href: runHref(info.experiment_id, parentId), text: parentId, id: "parent-link" })) : null,
        res.children && res.children.length
          ? kv(
              `Child runs (${res.children.length})`,
              h("div", { class: "children", id: "child-runs" }, res.children.map((c) => h("span", {}, h("a", { href: runHref(info.experiment_id, c.run_id), text: c.run_name || c.run_id }), " ", statusBadge(c.status)))),
            )
          : null,
      ),
    );
    const metrics = (run.data.metrics || []).slice().sort((a, b) => a.key.localeCompare(b.key));
    const params = (run.data.params || []).slice().sort((a, b) => a.key.localeCompare(b.key));
    const allTags = (run.data.tags || []).slice().sort((a, b) => a.key.localeCompare(b.key));
    const userTags = allTags.filter((t) => !t.key.startsWith("mlflow."));
    const systemTags = allTags.filter((t) => t.key.startsWith("mlflow.") && t.key !== NOTE);

    const metricsTable = h(
      "table",
      { class: "kv", id: "run-metrics" },
      h(
        "tbody",
        {},
        metrics.map((m) =>
          h("tr", {}, h("th", {}, h("a", { href: runHref(info.experiment_id, info.run_id, { tab: "charts", q: m.key }), text: m.key })), h("td", { class: "num", text: fmtNumber(typeof m.value === "number" ? m.value : String(m.value)) }), h("td", { class: "muted small", text: `step ${m.step ?? 0}` })),
        ),
      ),
    );
    const paramsTable = h("table", { class: "kv", id: "run-params" }, h("tbody", {}, params.map((p) => h("tr", {}, h("th", { text: p.key }), h("td", { text: p.value })))));

    body.append(
      h(
        "div",
        { class: "cards" },
        h("div", { class: "card" }, h("h2", { text: "Details" }), details),
        description(info.run_id, tags[NOTE] || ""),
        h("div", { class: "card" }, h("h2", { text: `Parameters (${params.length})` }), params.length ? paramsTable : h("p", { class: "muted", text: "No parameters." })),
        h("div", { class: "card" }, h("h2", { text: `Metrics (${metrics.length})` }), metrics.length ? metricsTable : h("p", { class: "muted", text: "No metrics." })),
        tagsCard(info.run_id, userTags, systemTags),
      ),
    );
  }

  function description(id, text) {
    const card = h("div", { class: "card", id: "run-description" });
    const show = (value) => {
      const edit = h("button", { class: "btn small", type: "button", text: "Edit", id: "edit-description" });
      edit.addEventListener("click", () => editor(value));
      replace(card, h("div", { class: "card-head" }, h("h2", { text: "Description" }), h("span", { class: "spacer" }), edit), value ? h("div", { class: "description", text: value }) : h("p", { class: "muted", text: "No description." }));
    };
    const editor = (value) => {
      const area = h("textarea", { class: "input", id: "description-input", "aria-label": "Description" });
      area.value = value;
      const save = h("button", { class: "btn small primary", type: "button", text: "Save", id: "save-description" });
      const cancel = h("button", { class: "btn small", type: "button", text: "Cancel", on: { click: () => show(value) } });
      const err = h("div", { class: "msg" });
      save.addEventListener("click", async () => {
        save.disabled = true;
        try {
          await mlflow("runs/set-tag", { run_id: id, key: NOTE, value: area.value });
          show(area.value);
        } catch (e) {
          replace(err, h("div", { class: "error", text: e.message }));
          save.disabled = false;
        }
      });
      replace(card, h("div", { class: "card-head" }, h("h2", { text: "Description" })), area, err, h("div", { class: "toolbar" }, save, cancel));
      area.focus();
    };
    show(text);
    return card;
  }

  function tagsCard(id, userTags, systemTags) {
    const rows = userTags.map((t) =>
      h("tr", { dataset: { tag: t.key } }, h("th", { text: t.key }), h("td", { text: t.value }), h("td", { class: "act" }, confirmButton("Delete", "Confirm", () => tagChange("delete-tag", { run_id: id, key: t.key }), "btn small danger"))),
    );
    const key = h("input", { class: "input", placeholder: "key", id: "tag-key", "aria-label": "Tag key" });
    const value = h("input", { class: "input", placeholder: "value", id: "tag-value", "aria-label": "Tag value" });
    const form = h("form", { class: "tag-form" }, key, value, h("button", { class: "btn small primary", type: "submit", text: "Add tag" }));
    const err = h("div", { class: "msg" });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!key.value.trim()) return;
      await tagChange("set-tag", { run_id: id, key: key.value.trim(), value: value.value }, err);
    });
    const sys = systemTags.length
      ? h("details", {}, h("summary", { class: "muted", text: `System tags (${systemTags.length})` }), h("table", { class: "kv" }, h("tbody", {}, systemTags.map((t) => h("tr", {}, h("th", { text: t.key }), h("td", { text: t.value }))))))
      : null;
    return h("div", { class: "card", id: "run-tags" }, h("h2", { text: `Tags (${userTags.length})` }), rows.length ? h("table", { class: "kv" }, h("tbody", {}, rows)) : h("p", { class: "muted", text: "No tags." }), form, err, sys);
  }

  async function tagChange(what, body, err) {
    try {
      await mlflow(`runs/${what}`, body);
      reload();
    } catch (e) {
      if (err) replace(err, h("div", { class: "error", text: e.message }));
      else flash(e.message);
    }
  }

  load().then((res) => {
    if (res && alive) render(res);
  });
  return () => {
    alive = false;
    clearTimeout(refreshTimer);
    if (disposeTab) disposeTab();
  };
}

function kv(label, value) {
  return h("tr", {}, h("th", { text: label }), h("td", {}, value));
}

