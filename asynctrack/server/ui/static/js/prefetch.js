// Loaded first, as an async module with only tiny dependencies: it asks for the opened page's data (and
// the sign-in session) at once, while the rest of the app is still loading, and tells the browser which
// page module to fetch. The page then asks for the same URLs through api.js, which hands it these answers
// instead of asking again. Only the first page's requests are kept (endPrefetch), so a later visit never
// gets a stale answer.

import { current, resolve } from "./route.js";
import { MLFLOW, RUNS_PAGE, UI, query, runsUrl, runsView } from "./urls.js";

const pending = new Map();

function ask(url) {
  const promise = fetch(url, { credentials: "same-origin" });
  promise.catch(() => {}); // a failure is seen (and reported) by the page when it takes the answer
  pending.set(url, promise);
}

/** The prefetched response for `url` (a Promise<Response>), once; undefined when it was not prefetched. */
export function take(url) {
  const found = pending.get(url);
  pending.delete(url);
  return found;
}

/** The first page has asked for what it needs: drop what it did not take. */
export function endPrefetch() {
  pending.clear();
}

let sessionPromise = null;
/** The session ({auth, username, csrf_token}; {auth: false} without `--auth`), asked once. */
export function session() {
  if (sessionPromise === null) {
    sessionPromise = fetch("/ajax-api/asynctrack/auth/session", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : { auth: false }))
      .catch(() => ({ auth: false }));
  }
  return sessionPromise;
}

function preloadModules(names) {
  for (const name of names) {
    const link = document.createElement("link");
    link.rel = "modulepreload";
    link.href = new URL(name, import.meta.url).href;
    document.head.append(link);
  }
}

// What each page needs first. Only an optimization: a module or request missing here is fetched later.
const MODULES = {
  experiments: ["./experiments.js"],
  runs: ["./runs.js", "./columns.js"],
  run: ["./run.js", "./settings.js"],
  compare: ["./compare.js", "./charts.js", "./series.js", "./settings.js", "../vendor/uplot/uPlot.esm.js"],
};

function start() {
  const route = current();
  const [name, args] = resolve(route);
  if (!name) return;
  preloadModules(MODULES[name] || []);
  if (name === "runs" && args.experimentIds.length) {
    const view = runsView(route.params, args.experimentIds);
    ask(runsUrl(args.experimentIds, view, { pageSize: RUNS_PAGE, withKeys: true }));
    for (const id of args.experimentIds) ask(`${MLFLOW}experiments/get${query({ experiment_id: id })}`);
  } else if (name === "run") {
    ask(`${UI}run${query({ run_id: args.runId })}`);
  } else if (name === "experiments") {
    ask(`${UI}experiments${query({ view: route.params.get("view") || "active", q: route.params.get("q") || "" })}`);
  }
  session();
}

try {
  start();
} catch (e) {
  console.warn("prefetch:", e); // the pages ask for their data themselves
}
