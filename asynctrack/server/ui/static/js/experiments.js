// The experiments page: search by name, run counts and last activity; create, rename, delete, restore;
// pick several to see their runs together.

import { ApiError, mlflow, ui } from "./api.js";
import { clear, confirmButton, debounce, fmtAgo, fmtTime, h, replace } from "./dom.js";
import { experimentHref, href, setParams } from "./route.js";

export function mount(main, { route }) {
  const state = {
    q: route.params.get("q") || "",
    view: route.params.get("view") || "active",
    selected: new Set(),
  };
  let alive = true;
  const msg = h("div", { class: "msg" });
  const body = h("tbody");
  const count = h("span", { class: "muted" });
  const compareBtn = h("button", { class: "btn", type: "button", text: "Show runs of selected", disabled: true });
  compareBtn.addEventListener("click", () => {
    location.hash = href("/runs", { experiments: [...state.selected] });
  });

  const search = h("input", { type: "search", class: "input", placeholder: "Search experiments by name", value: state.q, "aria-label": "Search experiments" });
  search.addEventListener(
    "input",
    debounce(() => {
      state.q = search.value.trim();
      setParams({ q: state.q });
      load();
    }, 200),
  );
  const view = h(
    "select",
    { class: "input", "aria-label": "Lifecycle" },
    ["active", "deleted", "all"].map((v) => h("option", { value: v, text: v === "all" ? "All" : v[0].toUpperCase() + v.slice(1), selected: v === state.view })),
  );
  view.addEventListener("change", () => {
    state.view = view.value;
    setParams({ view: state.view === "active" ? "" : state.view });
    load();
  });

  const newName = h("input", { class: "input", placeholder: "New experiment name", "aria-label": "New experiment name" });
  const createForm = h(
    "form",
    { class: "inline-form" },
    newName,
    h("button", { class: "btn primary", type: "submit", text: "Create" }),
  );
  createForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = newName.value.trim();
    if (!name) return;
    try {
      await mlflow("experiments/create", { name });
      newName.value = "";
      showMsg(`Created experiment "${name}".`);
      load();
    } catch (e) {
      showMsg(e.message, true);
    }
  });

  function showMsg(text, error = false) {
    replace(msg, text ? h("div", { class: error ? "error" : "note", text }) : null);
  }

  main.append(
    h(
      "div",
      { class: "page" },
      h("div", { class: "page-head" }, h("h1", { text: "Experiments" }), count),
      h("div", { class: "toolbar" }, search, view, compareBtn, h("span", { class: "spacer" }), createForm),
      msg,
      h(
        "table",
        { class: "grid", id: "experiments-table" },
        h(
          "thead",
          {},
          h("tr", {}, h("th", { class: "sel" }), ...["Name", "ID", "Runs", "Last activity", "Created", "Artifact location", ""].map((t) => h("th", { text: t }))),
        ),
        body,
      ),
    ),
  );

  function row(exp) {
    const deleted = exp.lifecycle_stage === "deleted";
    const box = h("input", { type: "checkbox", checked: state.selected.has(exp.experiment_id), "aria-label": "Select experiment" });
    box.addEventListener("change", () => {
      if (box.checked) state.selected.add(exp.experiment_id);
      else state.selected.delete(exp.experiment_id);
      compareBtn.disabled = state.selected.size === 0;
    });
    const nameCell = h("td", { class: "name" }, h("a", { href: experimentHref(exp.experiment_id), text: exp.name }), deleted ? h("span", { class: "badge st-killed", text: "deleted" }) : null);
    const rename = h("button", { class: "btn small", type: "button", text: "Rename" });
    rename.addEventListener("click", () => {
      const input = h("input", { class: "input", value: exp.name, "aria-label": "New name" });
      const form = h("form", { class: "inline-form" }, input, h("button", { class: "btn small primary", type: "submit", text: "Save" }));
      const cancel = h("button", { class: "btn small", type: "button", text: "Cancel" });
      cancel.addEventListener("click", load);
      form.append(cancel);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        try {
          await mlflow("experiments/update", { experiment_id: exp.experiment_id, new_name: input.value.trim() });
          showMsg("");
          load();
        } catch (e) {
          showMsg(e.message, true);
        }
      });
      replace(nameCell, form);
      input.focus();
    });
    const act = deleted
      ? h("button", { class: "btn small", type: "button", text: "Restore", on: { click: () => change("restore", exp) } })
      : confirmButton("Delete", "Confirm delete", () => change("delete", exp), "btn small danger");
    return h(
      "tr",
      { dataset: { id: exp.experiment_id } },
      h("td", { class: "sel" }, box),
      nameCell,
      h("td", { class: "mono", text: exp.experiment_id }),
      h("td", { class: "num", text: exp.run_count ?? "" }),
      h("td", { text: fmtAgo(exp.last_activity), title: fmtTime(exp.last_activity) }),
      h("td", { text: fmtTime(exp.creation_time) }),
      h("td", { class: "mono clip", text: exp.artifact_location || "", title: exp.artifact_location || "" }),
      h("td", { class: "actions" }, deleted ? null : rename, act),
    );
  }

  async function change(what, exp) {
    try {
      await mlflow(`experiments/${what}`, { experiment_id: exp.experiment_id });
      showMsg(`${what === "delete" ? "Deleted" : "Restored"} "${exp.name}".`);
      load();
    } catch (e) {
      showMsg(e.message, true);
    }
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    try {
      const res = await ui("experiments", { view: state.view, q: state.q });
      if (!alive || mine !== seq) return;
      const exps = res.experiments || [];
      replace(body, exps.length ? exps.map(row) : h("tr", {}, h("td", { colspan: 8, class: "muted pad", text: state.q ? `No experiment matches "${state.q}".` : "No experiments." })));
      count.textContent = `${exps.length} experiment${exps.length === 1 ? "" : "s"}`;
    } catch (e) {
      if (!alive) return;
      clear(body);
      showMsg(e instanceof ApiError ? e.message : String(e), true);
    }
  }
  load();
  return () => {
    alive = false;
  };
}
