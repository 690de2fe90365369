// The data API's URLs, and how the runs table's query is read from the route (and localStorage) and
// written as a URL. No imports and no DOM: prefetch.js uses it to ask for a page's data before the rest of
// the app has loaded, and the page then asks for the very same URL (so it gets the prefetched answer).

export const UI = "/ajax-api/asynctrack/ui/";
export const MLFLOW = "/ajax-api/2.0/mlflow/";

/** "?a=1&b=x,y" from {a: 1, b: ["x", "y"]}; empty values left out. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    q.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

const KINDS = { m: "metrics", p: "params", t: "tags" };

/** "m:loss,p:lr" -> [{kind: "m", key: "loss"}, {kind: "p", key: "lr"}] */
export function parseCols(text) {
  return (text || "")
    .split(",")
    .filter(Boolean)
    .map((c) => {
      const i = c.indexOf(":");
      return i > 0 && KINDS[c.slice(0, i)] ? { kind: c.slice(0, i), key: c.slice(i + 1) } : null;
    })
    .filter((c) => c && c.key);
}

export const colsText = (cols) => cols.map((c) => `${c.kind}:${c.key}`).join(",");

/** The keys of each kind the runs endpoint should send. */
export function columnRequest(cols) {
  const out = { params: [], metrics: [], tags: [] };
  for (const c of cols) out[KINDS[c.kind]].push(c.key);
  return out;
}

/** The columns the server chose ({metrics, params, tags}) as the page's column list. */
export function colsFromRequest(columns) {
  const out = [];
  for (const [kind, field] of [["m", "metrics"], ["p", "params"], ["t", "tags"]]) for (const key of (columns && columns[field]) || []) out.push({ kind, key });
  return out;
}

// The runs table's column choice is remembered per set of experiments, so a table opened without `cols`
// in its URL shows the columns last picked there.
const COLS_STORE = "asynctrack.cols.";

export function storedCols(experimentIds) {
  try {
    const text = localStorage.getItem(COLS_STORE + experimentIds.join(","));
    return text === null ? null : parseCols(text === "-" ? "" : text);
  } catch {
    return null; // storage disabled
  }
}

export function storeCols(experimentIds, cols) {
  try {
    localStorage.setItem(COLS_STORE + experimentIds.join(","), colsText(cols) || "-");
  } catch {
    /* storage disabled or full: the URL still holds the choice */
  }
}

/** The runs table's view from its route's query: filter, order, lifecycle view, columns (null: not chosen). */
export function runsView(params, experimentIds) {
  return {
    filter: params.get("filter") || "",
    order: params.get("order") || "",
    view: params.get("view") || "active",
    cols: params.has("cols") ? parseCols(params.get("cols") === "-" ? "" : params.get("cols")) : storedCols(experimentIds),
  };
}

/** GET runs' URL. With `withKeys` the answer carries the keys for the picker; with no columns chosen
 * (cols null) the server picks the default columns and says which. */
export function runsUrl(experimentIds, view, { pageSize, pageToken = null, withKeys = false }) {
  const q = new URLSearchParams();
  q.set("experiment_ids", experimentIds.join(","));
  if (view.filter) q.set("filter", view.filter);
  if (view.order) q.append("order_by", view.order);
  if (view.view && view.view !== "active") q.set("run_view", view.view);
  q.set("max_results", String(pageSize));
  if (pageToken) q.set("page_token", pageToken);
  const cols = columnRequest(view.cols || []);
  for (const field of ["params", "metrics", "tags"]) for (const key of cols[field]) q.append(field, key);
  if (withKeys) q.set("keys", "1");
  if (view.cols === null) q.set("default_columns", "1");
  return `${UI}runs?${q}`;
}

/** Rows per page of the runs table. */
export const RUNS_PAGE = 100;
