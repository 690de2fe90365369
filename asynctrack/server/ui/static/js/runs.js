// The runs table of one or more experiments: MLflow's filter grammar (errors shown inline, naming the bad
// token), sort by clicking a header, keyset paging ("Load more"), picked columns (only those are fetched),
// nested runs under their parent, selection for comparison, delete/restore. The URL holds the view.

import { ApiError, getUrl, mlflow, mlflowGet } from "./api.js";
import { FIXED, cellValue, colsText, columnPicker, orderKey } from "./columns.js";
import { confirmButton, fmtDuration, fmtNumber, fmtTime, h, replace, runDuration, statusBadge } from "./dom.js";
import { experimentHref, href, list, runHref, setParams } from "./route.js";
import { RUNS_PAGE, colsFromRequest, runsUrl, runsView, storeCols } from "./urls.js";

const LIVE_MS = 1000;
const LIVE_MAX = 100; // RUNNING rows refreshed per poll
// Rows put on screen first: more than the table's visible height holds. The rest follow once that frame is
// painted, so the first rows show without waiting for the layout of the whole page of 100.
const FIRST_ROWS = 30;

export function mount(main, { experimentIds, route }) {
  const p = route.params;
  // cols: from the URL, else the last choice for these experiments, else null (the server's defaults).
  const state = {
    ...runsView(p, experimentIds),
    selected: new Set(list(p, "sel")),
    expanded: new Set(),
    runs: [],
    next: null,
    keys: null,
  };
  let alive = true;
  let seq = 0;
  let controller = null;
  let liveTimer = null;
  const multi = experimentIds.length > 1;

  const title = h("h1", { text: multi ? `Runs of ${experimentIds.length} experiments` : "Runs" });
  const crumbs = h("div", { class: "crumbs" }, h("a", { href: "#/", text: "Experiments" }));
  const info = h("span", { class: "muted", id: "runs-count" });
  const msg = h("div", { class: "msg" });
  const filterError = h("div", { class: "filter-error", id: "filter-error", hidden: true });
  const thead = h("thead");
  const tbody = h("tbody");
  const more = h("button", { class: "btn", type: "button", text: "Load more", id: "load-more", hidden: true });
  const wrap = h("div", { class: "table-wrap" }, h("table", { class: "grid runs", id: "runs-table" }, thead, tbody));
  let drawn = 0; // draw()'s generation: a deferred part of an older draw is dropped
  more.addEventListener("click", () => load(true));

  const filterInput = h("input", {
    type: "text",
    class: "input filter",
    id: "filter",
    value: state.filter,
    spellcheck: "false",
    placeholder: "metrics.loss < 0.2 and params.lr = '0.01'",
    "aria-label": "Filter runs",
  });
  const filterForm = h("form", { class: "filter-form" }, filterInput, h("button", { class: "btn primary", type: "submit", text: "Search" }));
  filterForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.filter = filterInput.value.trim();
    setParams({ filter: state.filter });
    load(false);
  });
  const viewSel = h(
    "select",
    { class: "input", "aria-label": "Lifecycle" },
    ["active", "deleted", "all"].map((v) => h("option", { value: v, text: v === "all" ? "All runs" : v === "active" ? "Active runs" : "Deleted runs", selected: v === state.view })),
  );
  viewSel.addEventListener("change", () => {
    state.view = viewSel.value;
    setParams({ view: state.view === "active" ? "" : state.view });
    load(false);
  });

  const colsBtn = h("button", { class: "btn", type: "button", id: "columns-button", text: "Columns" });
  const pickerHost = h("div", { class: "picker-host" }, colsBtn);
  let picker = null;
  colsBtn.addEventListener("click", (ev) => {
    ev.stopPropagation();
    if (picker) return closePicker();
    if (!state.keys) return;
    picker = columnPicker(state.keys, state.cols || [], (cols) => {
      state.cols = cols;
      setParams({ cols: colsText(cols) || "-" });
      storeCols(experimentIds, cols);
      load(false);
    });
    picker.addEventListener("click", (e) => e.stopPropagation());
    pickerHost.append(picker);
  });
  const closePicker = () => {
    if (picker) picker.remove();
    picker = null;
  };
  document.addEventListener("click", closePicker);

  const compareBtn = h("button", { class: "btn primary", type: "button", id: "compare-button" });
  compareBtn.addEventListener("click", () => {
    location.hash = href("/compare", { runs: [...state.selected] });
  });
  const deleteBtn = confirmButton("Delete", "Confirm delete", () => lifecycle("delete"));
  const restoreBtn = h("button", { class: "btn", type: "button", text: "Restore", on: { click: () => lifecycle("restore") } });
  const clearBtn = h("button", { class: "btn", type: "button", text: "Clear selection" });
  clearBtn.addEventListener("click", () => {
    state.selected.clear();
    selectionChanged();
    draw();
  });
  const selBar = h("div", { class: "selbar" }, compareBtn, deleteBtn, restoreBtn, clearBtn);

  main.append(
    h(
      "div",
      { class: "page" },
      crumbs,
      h("div", { class: "page-head" }, title, info),
      h("div", { class: "toolbar" }, filterForm, viewSel, pickerHost),
      filterError,
      h("div", { class: "toolbar" }, selBar),
      msg,
      wrap,
      h("div", { class: "more" }, more),
    ),
  );

  // Experiment names for the title and breadcrumbs.
  Promise.all(experimentIds.map((id) => mlflowGet("experiments/get", { experiment_id: id }).catch(() => null))).then((res) => {
    if (!alive) return;
    const names = res.map((r, i) => (r && r.experiment ? r.experiment.name : `#${experimentIds[i]}`));
    title.textContent = multi ? `Runs of ${names.join(", ")}` : names[0];
    document.title = `${title.textContent} · asynctrack`;
    for (const [i, id] of experimentIds.entries()) crumbs.append(h("span", { class: "sep", text: "/" }), h("a", { href: experimentHref(id), text: names[i] }));
  });

  function showMsg(text, error = true) {
    replace(msg, text ? h("div", { class: error ? "error" : "note", text }) : null);
  }

  function selectionChanged() {
    const n = state.selected.size;
    compareBtn.textContent = `Compare ${n} run${n === 1 ? "" : "s"}`;
    selBar.hidden = n === 0;
    restoreBtn.hidden = state.view === "active";
    setParams({ sel: [...state.selected] });
  }

  async function lifecycle(what) {
    try {
      for (const id of state.selected) await mlflow(`runs/${what}`, { run_id: id });
      showMsg(`${what === "delete" ? "Deleted" : "Restored"} ${state.selected.size} run(s).`, false);
      state.selected.clear();
      selectionChanged();
      load(false);
    } catch (e) {
      showMsg(e.message);
    }
  }

  function showFilterError(message) {
    const text = filterInput.value;
    let start = -1;
    let token = "";
    const m = /unexpected '((?:[^'\\]|\\.)*)' at position (\d+)/.exec(message) || /'((?:[^'\\]|\\.)*)' \(at position (\d+)/.exec(message);
    if (m) {
      token = m[1];
      const pos = Number(m[2]) - 1;
      start = text.startsWith(token, pos) ? pos : text.indexOf(token);
    } else {
      // Otherwise the first quoted word of the message that occurs in the filter (an entity, a key).
      for (const q of message.matchAll(/'([^']+)'/g)) {
        if (q[1] !== text && text.includes(q[1])) {
          token = q[1];
          start = text.indexOf(token);
          break;
        }
      }
    }
    const shown = h("code", { class: "filter-echo" });
    if (start >= 0 && token) {
      shown.append(text.slice(0, start), h("mark", { class: "bad-token", text: token }), text.slice(start + token.length));
    } else shown.append(text);
    replace(filterError, h("div", { class: "error", text: message }), shown);
    filterError.hidden = false;
  }

  function orderFor(col) {
    return col.kind ? orderKey(col) : col.order;
  }

  function drawHead() {
    const [curKey, curDir] = splitOrder(state.order || "attributes.start_time DESC");
    const cells = [h("th", { class: "sel" }, selectAllBox())];
    const cols = [...FIXED, ...(multi ? [{ id: "experiment", label: "Experiment", order: null }] : []), ...(state.cols || [])];
    for (const col of cols) {
      const key = orderFor(col);
      const label = col.kind ? col.key : col.label;
      const th = h("th", { class: col.kind ? `k-${col.kind}` : "", title: col.kind ? `${{ m: "metric", p: "param", t: "tag" }[col.kind]} ${col.key}` : "" });
      if (col.kind) th.append(h("span", { class: `kind k-${col.kind}`, text: col.kind === "m" ? "M" : col.kind === "p" ? "P" : "T" }));
      if (key) {
        const active = key === curKey;
        const b = h("button", { class: `sort${active ? " active" : ""}`, type: "button", text: label, dataset: { order: key } });
        if (active) b.append(h("span", { class: "arrow", text: curDir === "ASC" ? " ▲" : " ▼" }));
        b.addEventListener("click", () => {
          const dir = active && curDir === "DESC" ? "ASC" : active && curDir === "ASC" ? "DESC" : col.kind === "m" || col.id === "start_time" ? "DESC" : "ASC";
          state.order = `${key} ${dir}`;
          setParams({ order: state.order });
          load(false);
        });
        th.append(b);
      } else th.append(label);
      cells.push(th);
    }
    replace(thead, h("tr", {}, cells));
  }

  function selectAllBox() {
    const box = h("input", { type: "checkbox", "aria-label": "Select all loaded runs" });
    box.checked = state.runs.length > 0 && state.runs.every((r) => state.selected.has(r.run_id));
    box.addEventListener("change", () => {
      for (const r of state.runs) box.checked ? state.selected.add(r.run_id) : state.selected.delete(r.run_id);
      selectionChanged();
      draw();
    });
    return box;
  }

  function rowFor(run, depth, nChildren) {
    const box = h("input", { type: "checkbox", checked: state.selected.has(run.run_id), "aria-label": "Select run" });
    box.addEventListener("change", () => {
      box.checked ? state.selected.add(run.run_id) : state.selected.delete(run.run_id);
      selectionChanged();
    });
    const name = h("td", { class: "name" });
    if (depth) name.append(h("span", { class: "indent" }), h("span", { class: `indent-${Math.min(depth, 6)}` }));
    if (nChildren) {
      const open = state.expanded.has(run.run_id);
      const t = h("button", { class: "toggle", type: "button", text: open ? "▾" : "▸", title: `${nChildren} child run(s)`, "aria-expanded": String(open) });
      t.addEventListener("click", () => {
        open ? state.expanded.delete(run.run_id) : state.expanded.add(run.run_id);
        draw();
      });
      name.append(t);
    } else name.append(h("span", { class: "toggle-space" }));
    name.append(h("a", { href: runHref(run.experiment_id, run.run_id), text: run.run_name || run.run_id }));
    if (nChildren) name.append(h("span", { class: "muted small", text: ` (${nChildren})` }));
    if (run.lifecycle_stage === "deleted") name.append(h("span", { class: "badge st-killed", text: "deleted" }));
    const cells = [
      h("td", { class: "sel" }, box),
      name,
      h("td", {}, statusBadge(run.status)),
      h("td", { class: "clip", text: run.user_id || "" }),
      h("td", { class: "nowrap", text: fmtTime(run.start_time) }),
      h("td", { class: "num", text: fmtDuration(runDuration(run)) }),
      h("td", { class: "clip", text: run.source || "", title: run.source || "" }),
    ];
    if (multi) cells.push(h("td", {}, h("a", { href: experimentHref(run.experiment_id), text: run.experiment_id })));
    for (const col of state.cols || []) {
      const v = cellValue(run, col);
      const text = col.kind === "m" ? fmtNumber(v) : v === undefined ? "" : String(v);
      cells.push(h("td", { class: col.kind === "m" ? "num" : "clip", text, title: text.length > 24 ? text : "" }));
    }
    return h("tr", { dataset: { runId: run.run_id }, class: depth ? "child" : "" }, cells);
  }

  function draw() {
    drawHead();
    const byId = new Map(state.runs.map((r) => [r.run_id, r]));
    const children = new Map();
    for (const r of state.runs) {
      if (r.parent_run_id && byId.has(r.parent_run_id) && r.parent_run_id !== r.run_id) {
        if (!children.has(r.parent_run_id)) children.set(r.parent_run_id, []);
        children.get(r.parent_run_id).push(r);
      }
    }
    const rows = []; // [run, depth, number of children], in display order
    const seen = new Set();
    const add = (r, depth) => {
      if (seen.has(r.run_id)) return;
      seen.add(r.run_id);
      const kids = children.get(r.run_id) || [];
      rows.push([r, depth, kids.length]);
      if (kids.length && state.expanded.has(r.run_id)) for (const k of kids) add(k, depth + 1);
    };
    for (const r of state.runs) if (!(r.parent_run_id && byId.has(r.parent_run_id))) add(r, 0);
    // Runs whose parent chain loops back (never top level above) still show.
    for (const r of state.runs) if (!seen.has(r.run_id) && !isUnderExpandable(r, byId)) add(r, 0);
    const ncols = 7 + (multi ? 1 : 0) + (state.cols || []).length;
    const build = (list) => list.map(([r, depth, n]) => rowFor(r, depth, n));
    const done = () => {
      info.textContent = `${state.runs.length} run${state.runs.length === 1 ? "" : "s"} loaded${state.next ? ", more available" : ""}`;
      more.hidden = !state.next;
    };
    const gen = ++drawn;
    // In two parts only at the top of the table (a first view, a new sort or filter); scrolled down, the
    // user is looking further down, so everything is redrawn at once and the scroll position kept.
    const first = wrap.scrollTop === 0 ? FIRST_ROWS : rows.length;
    replace(tbody, rows.length ? build(rows.slice(0, first)) : h("tr", {}, h("td", { colspan: ncols, class: "muted pad", text: "No runs match." })));
    if (rows.length <= first) return done();
    requestAnimationFrame(() =>
      setTimeout(() => {
        if (!alive || gen !== drawn) return;
        tbody.append(...build(rows.slice(first)));
        done();
      }, 0),
    );
  }

  function isUnderExpandable(r, byId) {
    const seen = new Set();
    let cur = r;
    while (cur && cur.parent_run_id && byId.has(cur.parent_run_id) && !seen.has(cur.run_id)) {
      seen.add(cur.run_id);
      cur = byId.get(cur.parent_run_id);
    }
    return cur && !(cur.parent_run_id && byId.has(cur.parent_run_id));
  }

  async function load(append) {
    const mine = ++seq;
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      // One request: the rows, plus the keys for the column picker until some answer brought them, plus
      // (with no columns chosen) the server's default columns.
      const url = runsUrl(experimentIds, state, { pageSize: RUNS_PAGE, pageToken: append ? state.next : null, withKeys: !state.keys });
      const res = await getUrl(url, controller.signal);
      if (!alive || mine !== seq) return;
      if (res.keys) state.keys = res.keys;
      if (state.cols === null) state.cols = colsFromRequest(res.columns);
      filterError.hidden = true;
      showMsg("");
      state.runs = append ? state.runs.concat(res.runs || []) : res.runs || [];
      state.next = res.next_page_token || null;
      draw();
      selectionChanged();
      scheduleLive();
    } catch (e) {
      if (!alive || mine !== seq || e.name === "AbortError") return;
      if (e instanceof ApiError && e.code === "INVALID_PARAMETER_VALUE" && state.filter) showFilterError(e.message);
      else showMsg(e.message || String(e));
    }
  }

  // Live rows: while RUNNING runs are shown and the tab is visible, re-read just those rows every second
  // (their status, end time and the chosen columns) with a run_id IN (...) filter.
  function scheduleLive() {
    clearTimeout(liveTimer);
    liveTimer = null;
    if (!alive || document.visibilityState !== "visible") return;
    if (!state.runs.some((r) => r.status === "RUNNING")) return;
    liveTimer = setTimeout(refreshLive, LIVE_MS);
  }

  async function refreshLive() {
    liveTimer = null;
    const mine = seq;
    const running = state.runs.filter((r) => r.status === "RUNNING").slice(0, LIVE_MAX);
    if (!running.length || !alive) return;
    const ids = running.map((r) => `'${r.run_id.replace(/[^0-9a-zA-Z_-]/g, "")}'`).join(", ");
    try {
      const live = { filter: `attributes.run_id IN (${ids})`, order: "", view: "all", cols: state.cols || [] };
      const res = await getUrl(runsUrl(experimentIds, live, { pageSize: LIVE_MAX }));
      if (!alive || mine !== seq) return;
      const fresh = new Map((res.runs || []).map((r) => [r.run_id, r]));
      let changed = false;
      state.runs = state.runs.map((r) => {
        const f = fresh.get(r.run_id);
        if (f && JSON.stringify(f) !== JSON.stringify(r)) {
          changed = true;
          return f;
        }
        return r;
      });
      if (changed) draw();
    } catch (e) {
      console.warn("live rows:", e.message || e);
    }
    if (mine === seq) scheduleLive();
  }
  const onVisible = () => scheduleLive();
  document.addEventListener("visibilitychange", onVisible);

  load(false);
  selectionChanged();
  return () => {
    alive = false;
    if (controller) controller.abort();
    clearTimeout(liveTimer);
    document.removeEventListener("click", closePicker);
    document.removeEventListener("visibilitychange", onVisible);
  };
}

function splitOrder(order) {
  const m = /^(.*?)(?:\s+(ASC|DESC))?$/i.exec((order || "").trim());
  return m ? [m[1], (m[2] || "ASC").toUpperCase()] : ["", "ASC"];
}
