// The single-page app's entry: a hash router that mounts one page at a time into <main>.
// Each page is mount(main, route) -> dispose(); dispose stops its timers, observers and requests.

import { h, replace } from "./dom.js";
import { current } from "./route.js";

const pages = {
  experiments: () => import("./experiments.js"),
  runs: () => import("./runs.js"),
  run: () => import("./run.js"),
  compare: () => import("./compare.js"),
};

function resolve(route) {
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

let dispose = null;
let generation = 0;

async function render() {
  const route = current();
  const [name, args] = resolve(route);
  const main = document.getElementById("main");
  if (dispose) {
    try {
      dispose();
    } catch (e) {
      console.warn("dispose failed", e);
    }
    dispose = null;
  }
  const gen = ++generation;
  if (!name) {
    replace(main, h("div", { class: "pad" }, h("h2", { text: "Page not found" }), h("a", { href: "#/", text: "Experiments" })));
    return;
  }
  const mod = await pages[name]();
  if (gen !== generation) return; // the user navigated again meanwhile
  replace(main);
  dispose = mod.mount(main, { ...args, route }) || null;
}

window.addEventListener("hashchange", render);
render();
