// The single-page app's entry: a hash router that mounts one page at a time into <main>.
// Each page is mount(main, route) -> dispose(); dispose stops its timers, observers and requests.

import { h, replace } from "./dom.js";
import { endPrefetch } from "./prefetch.js";
import { current, resolve } from "./route.js";

const pages = {
  experiments: () => import("./experiments.js"),
  runs: () => import("./runs.js"),
  run: () => import("./run.js"),
  compare: () => import("./compare.js"),
};

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
  endPrefetch(); // the first page has asked for its data; later pages always ask afresh
}

window.addEventListener("hashchange", render);
render();
