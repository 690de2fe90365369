// Hash routes. The hash holds the whole view, "#/<path>?<query>", so a link reproduces it. MLflow's own
// links (#/experiments/<id> and #/experiments/<id>/runs/<run_id>) open the matching pages.

export function current() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const i = raw.indexOf("?");
  const path = (i < 0 ? raw : raw.slice(0, i)) || "/";
  const params = new URLSearchParams(i < 0 ? "" : raw.slice(i + 1));
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { path, parts, params };
}

export function href(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) continue;
    q.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ""}`;
}

/** The page a route shows and its arguments: ["runs", {experimentIds}], ["run", {experimentId, runId}], ... */
export function resolve(route) {
  const p = route.parts;
  if (p.length === 0 || (p[0] === "experiments" && p.length === 1)) return ["experiments", {}];
  if (p[0] === "experiments" && p[2] === "runs" && p[3]) return ["run", { experimentId: p[1], runId: p[3] }];
  if (p[0] === "experiments" && p[1]) return ["runs", { experimentIds: [p[1]] }];
  if (p[0] === "runs") {
    const ids = (route.params.get("experiments") || "").split(",").filter(Boolean);
    return ["runs", { experimentIds: ids }];
  }
  if (p[0] === "compare" || p[0] === "compare-runs") return ["compare", {}]; // MLflow's is compare-runs
  return [null, {}];
}

let silent = false;

/** Update the current route's query without re-rendering the page (the page already shows it). */
export function setParams(updates) {
  const { path, params } = current();
  for (const [k, v] of Object.entries(updates)) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) params.delete(k);
    else params.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const s = params.toString();
  const next = `#${path}${s ? `?${s}` : ""}`;
  if (next !== location.hash) {
    silent = true;
    history.replaceState(null, "", next);
    silent = false;
  }
}

export function isSilent() {
  return silent;
}

export function list(params, key) {
  const v = params.get(key);
  return v ? v.split(",").filter(Boolean) : [];
}

export const experimentHref = (id) => `#/experiments/${encodeURIComponent(id)}`;
export const runHref = (expId, runId, params) =>
  href(`/experiments/${encodeURIComponent(expId)}/runs/${encodeURIComponent(runId)}`, params);
