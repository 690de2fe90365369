// A run's artifact tree (directories listed lazily) and a preview of the chosen file: text, JSON/YAML,
// images, MLflow's log_table JSON and CSV as tables. Previews are text nodes, tables of text nodes or an
// <img> of a raster type: an artifact's HTML or SVG is shown as source, never rendered.

import { ApiError, artifactText, artifactUrl, ui } from "./api.js";
import { fmtBytes, h, replace } from "./dom.js";
import { setParams } from "./route.js";

const IMAGE = new Set(["png", "jpg", "jpeg", "gif", "webp", "bmp"]);
const TEXT = new Set(["txt", "log", "md", "py", "yaml", "yml", "cfg", "ini", "toml", "sh", "sql", "r", "js", "ts", "java", "scala", "go", "rs", "c", "h", "cpp", "xml", "mlmodel", "mlproject", "requirements", "lock"]);
const SOURCE_ONLY = new Set(["html", "htm", "svg", "xhtml"]);
const MAX_PREVIEW = 2 * 1024 * 1024;
const MAX_ROWS = 1000;

const ext = (path) => {
  const base = path.split("/").pop();
  const i = base.lastIndexOf(".");
  return i > 0 ? base.slice(i + 1).toLowerCase() : base.toUpperCase() === base && base ? "" : base.toLowerCase();
};

export function mountArtifacts(host, runId, initialPath) {
  let alive = true;
  const tree = h("div", { class: "tree", id: "artifact-tree" });
  const preview = h("div", { class: "preview", id: "artifact-preview" }, h("p", { class: "muted", text: "Select a file to preview it." }));
  host.append(h("div", { class: "artifacts" }, tree, preview));
  let active = null;

  async function list(path) {
    const res = await ui("artifacts/list", { run_id: runId, path: path || null });
    const files = res.files || [];
    files.sort((a, b) => (b.is_dir - a.is_dir) || a.path.localeCompare(b.path));
    return files;
  }

  function item(file, depth) {
    const name = file.path.split("/").pop();
    const btn = h(
      "button",
      { class: "tree-item", type: "button", dataset: { path: file.path }, title: file.path },
      h("span", { class: "icon", text: file.is_dir ? "▸" : "·" }),
      h("span", { text: name }),
      file.is_dir ? null : h("span", { class: "size", text: fmtBytes(file.file_size) }),
    );
    const wrap = h("div", {}, btn);
    if (file.is_dir) {
      let kids = null;
      btn.addEventListener("click", async () => {
        if (kids) {
          kids.hidden = !kids.hidden;
          btn.firstChild.textContent = kids.hidden ? "▸" : "▾";
          return;
        }
        kids = h("div", { class: "tree-children" });
        wrap.append(kids);
        btn.firstChild.textContent = "▾";
        try {
          const files = await list(file.path);
          replace(kids, files.length ? files.map((f) => item(f, depth + 1)) : h("div", { class: "muted small pad", text: "empty" }));
        } catch (e) {
          replace(kids, h("div", { class: "error-text small", text: e.message }));
        }
      });
    } else {
      btn.addEventListener("click", () => {
        if (active) active.classList.remove("active");
        active = btn;
        btn.classList.add("active");
        setParams({ path: file.path });
        show(file);
      });
    }
    return wrap;
  }

  async function show(file) {
    const kind = ext(file.path);
    const download = h("a", { class: "btn small", href: artifactUrl(runId, file.path, true), download: file.path.split("/").pop(), id: "artifact-download", text: "Download" });
    const head = h("div", { class: "card-head" }, h("h3", { class: "mono", text: file.path }), h("span", { class: "muted", text: fmtBytes(file.file_size) }), h("span", { class: "spacer" }), download);
    const body = h("div", { class: "preview-body" });
    replace(preview, head, body);
    if (IMAGE.has(kind)) {
      body.append(h("img", { src: artifactUrl(runId, file.path), alt: file.path }));
      return;
    }
    if (file.file_size > MAX_PREVIEW) {
      body.append(h("p", { class: "muted", text: `Too large to preview (${fmtBytes(file.file_size)}); download it instead.` }));
      return;
    }
    const known = TEXT.has(kind) || SOURCE_ONLY.has(kind) || kind === "json" || kind === "csv" || kind === "tsv" || kind === "";
    if (!known) {
      body.append(h("p", { class: "muted", text: "No preview for this file type; download it instead." }));
      return;
    }
    body.append(h("p", { class: "muted", text: "Loading…" }));
    let text;
    try {
      text = await artifactText(runId, file.path);
    } catch (e) {
      replace(body, h("div", { class: "error-text", text: e instanceof ApiError ? e.message : String(e) }));
      return;
    }
    if (!alive) return;
    if (kind === "json") replace(body, jsonPreview(text));
    else if (kind === "csv" || kind === "tsv") replace(body, table(parseCsv(text, kind === "tsv" ? "\t" : ",")));
    else if (SOURCE_ONLY.has(kind)) replace(body, h("p", { class: "muted small", text: "Shown as source: this page never renders HTML or SVG from an artifact." }), h("pre", { text }));
    else replace(body, h("pre", { text }));
  }

  (async () => {
    try {
      const files = await list("");
      if (!alive) return;
      replace(tree, files.length ? files.map((f) => item(f, 0)) : h("div", { class: "muted pad", text: "No artifacts." }));
      if (initialPath) {
        // Open the directories on the way to the file from the URL, then the file.
        const parts = initialPath.split("/");
        for (let i = 1; i <= parts.length; i++) {
          const p = parts.slice(0, i).join("/");
          const btn = [...tree.querySelectorAll(".tree-item")].find((b) => b.dataset.path === p);
          if (!btn) break;
          btn.click();
          if (i < parts.length) await waitFor(() => btn.parentElement.querySelector(".tree-children .tree-item, .tree-children .muted"));
        }
      }
    } catch (e) {
      replace(tree, h("div", { class: "error-text pad", text: e.message || String(e) }));
    }
  })();

  return () => {
    alive = false;
  };
}

async function waitFor(fn) {
  for (let i = 0; i < 50; i++) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function jsonPreview(text) {
  let obj;
  try {
    obj = JSON.parse(text);
  } catch {
    return h("pre", { text });
  }
  // MLflow's log_table: {"columns": [...], "data": [[...], ...]} (pandas "split" orientation).
  if (obj && Array.isArray(obj.columns) && Array.isArray(obj.data) && obj.data.every((r) => Array.isArray(r))) {
    return table([obj.columns.map(String), ...obj.data.map((r) => r.map(cell))], "MLflow table");
  }
  return h("pre", { text: JSON.stringify(obj, null, 2) });
}

const cell = (v) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));

function table(rows, caption) {
  if (!rows.length) return h("p", { class: "muted", text: "Empty table." });
  const [head, ...rest] = rows;
  const shown = rest.slice(0, MAX_ROWS);
  return h(
    "div",
    {},
    h("p", { class: "muted small", text: `${caption ? caption + ": " : ""}${rest.length.toLocaleString()} rows × ${head.length} columns${rest.length > MAX_ROWS ? ` (first ${MAX_ROWS} shown)` : ""}` }),
    h(
      "div",
      { class: "table-wrap" },
      h("table", { class: "grid preview-table" }, h("thead", {}, h("tr", {}, head.map((c) => h("th", { text: c })))), h("tbody", {}, shown.map((r) => h("tr", {}, r.map((c) => h("td", { text: c })))))),
    ),
  );
}

/** RFC 4180 CSV: quoted fields, doubled quotes, newlines inside quotes. */
export function parseCsv(text, sep = ",") {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"' && field === "") quoted = true;
    else if (ch === sep) {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      if (rows.length > MAX_ROWS + 1) return rows;
    } else field += ch;
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
