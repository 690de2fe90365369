// The runs table's columns: the fixed ones, the ones the user picks (params, latest metrics, tags), how
// each sorts (MLflow's order_by) and how the choice is written in the URL ("m:loss,p:lr,t:team").

import { h } from "./dom.js";

export const FIXED = [
  { id: "run_name", label: "Run name", order: "attributes.run_name" },
  { id: "status", label: "Status", order: "attributes.status" },
  { id: "user_id", label: "User", order: "attributes.user_id" },
  { id: "start_time", label: "Started", order: "attributes.start_time" },
  { id: "duration", label: "Duration", order: null },
  { id: "source", label: "Source", order: "tags.`mlflow.source.name`" },
];

const KINDS = { m: "metrics", p: "params", t: "tags" };
export const KIND_LABEL = { m: "Metrics", p: "Parameters", t: "Tags" };

export { colsText, columnRequest, parseCols } from "./urls.js";

export function orderKey(col) {
  const q = "`" + col.key.replace(/`/g, "") + "`";
  return `${KINDS[col.kind]}.${q}`;
}

export function cellValue(run, col) {
  const bag = run[KINDS[col.kind]] || {};
  return Object.prototype.hasOwnProperty.call(bag, col.key) ? bag[col.key] : undefined;
}

/** A popover with a search box and one checkbox per key, grouped by kind. onChange(cols) on each click. */
export function columnPicker(keys, chosen, onChange) {
  const selected = new Map(chosen.map((c) => [`${c.kind}:${c.key}`, c]));
  const list = h("div", { class: "picker-list" });
  const search = h("input", { type: "search", class: "input", placeholder: "Filter keys", "aria-label": "Filter column keys" });
  function draw() {
    const needle = search.value.trim().toLowerCase();
    list.replaceChildren();
    for (const [kind, field] of [["m", "metrics"], ["p", "params"], ["t", "tags"]]) {
      const all = (keys[field] || []).filter((k) => !needle || k.toLowerCase().includes(needle));
      if (!all.length) continue;
      list.append(h("div", { class: "picker-group", text: `${KIND_LABEL[kind]} (${all.length})` }));
      for (const key of all.slice(0, 500)) {
        const id = `${kind}:${key}`;
        const box = h("input", { type: "checkbox", checked: selected.has(id), dataset: { col: id } });
        box.addEventListener("change", () => {
          if (box.checked) selected.set(id, { kind, key });
          else selected.delete(id);
          onChange([...selected.values()]);
        });
        list.append(h("label", { class: "picker-item" }, box, h("span", { text: key })));
      }
    }
    if (!list.firstChild) list.append(h("div", { class: "muted pad", text: "No keys." }));
  }
  search.addEventListener("input", draw);
  draw();
  return h("div", { class: "picker", id: "column-picker" }, search, list);
}
