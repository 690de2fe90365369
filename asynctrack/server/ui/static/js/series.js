// Pure data helpers for the charts: the server's reduced series (per bucket x, min, max, last) turned into
// uPlot's aligned columns, EMA smoothing, splicing a finer zoomed range into the full view, live appends.

/** One run's series as plain arrays, x in the chart's unit (seconds for time axes), duplicates merged. */
export function fromResponse(entry, xMode) {
  const scale = xMode === "step" ? 1 : 1 / 1000;
  const n = entry.x ? entry.x.length : 0;
  const x = new Array(n);
  for (let i = 0; i < n; i++) x[i] = entry.x[i] * scale;
  return normalize({ x, min: entry.min.slice(), max: entry.max.slice(), last: entry.last.slice() });
}

/** Sorted by x with unique x (uPlot needs both): equal x merge into one bucket. */
export function normalize(s) {
  const n = s.x.length;
  let sorted = true;
  let unique = true;
  for (let i = 1; i < n; i++) {
    if (s.x[i] < s.x[i - 1]) sorted = false;
    else if (s.x[i] === s.x[i - 1]) unique = false;
  }
  if (sorted && unique) return s;
  let order = [...Array(n).keys()];
  if (!sorted) order.sort((a, b) => s.x[a] - s.x[b] || a - b);
  const out = { x: [], min: [], max: [], last: [] };
  for (const i of order) {
    const k = out.x.length - 1;
    if (k >= 0 && out.x[k] === s.x[i]) {
      out.min[k] = lo(out.min[k], s.min[i]);
      out.max[k] = hi(out.max[k], s.max[i]);
      out.last[k] = s.last[i];
    } else {
      out.x.push(s.x[i]);
      out.min.push(s.min[i]);
      out.max.push(s.max[i]);
      out.last.push(s.last[i]);
    }
  }
  return out;
}

const lo = (a, b) => (a === null ? b : b === null ? a : Math.min(a, b));
const hi = (a, b) => (a === null ? b : b === null ? a : Math.max(a, b));

/** The full view with [x0, x1] replaced by a finer fetch of that range. */
export function splice(full, fine, x0, x1) {
  const out = { x: [], min: [], max: [], last: [] };
  const push = (s, i) => {
    out.x.push(s.x[i]);
    out.min.push(s.min[i]);
    out.max.push(s.max[i]);
    out.last.push(s.last[i]);
  };
  let i = 0;
  for (; i < full.x.length && full.x[i] < x0; i++) push(full, i);
  for (let j = 0; j < fine.x.length; j++) push(fine, j);
  const lastFine = fine.x.length ? fine.x[fine.x.length - 1] : x1;
  for (; i < full.x.length; i++) if (full.x[i] > x1 && full.x[i] > lastFine) push(full, i);
  return normalize(out);
}

/** Append live points newer than the series' last x; returns how many were added. */
export function appendNewer(s, add) {
  const lastX = s.x.length ? s.x[s.x.length - 1] : -Infinity;
  let added = 0;
  for (let i = 0; i < add.x.length; i++) {
    if (add.x[i] > lastX) {
      s.x.push(add.x[i]);
      s.min.push(add.min[i]);
      s.max.push(add.max[i]);
      s.last.push(add.last[i]);
      added++;
    }
  }
  return added;
}

/** TensorBoard's debiased exponential moving average; weight 0 returns the values unchanged. */
export function ema(values, weight) {
  if (!weight) return values;
  const out = new Array(values.length);
  let acc = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || !isFinite(v)) {
      out[i] = v === undefined ? undefined : null;
      continue;
    }
    acc = acc * weight + (1 - weight) * v;
    n++;
    out[i] = acc / (1 - Math.pow(weight, n));
  }
  return out;
}

const positive = (arr) => arr.map((v) => (v === null || v === undefined || v > 0 ? v : null));

/**
 * uPlot's data for several runs: [x, line_0, min_0, max_0, line_1, ...] aligned on the union of x.
 * band: whether the run has a min-max band (not all raw points).
 */
export function buildData(uPlot, runs, { smooth, log }) {
  const tables = runs.map((s) => {
    let line = ema(s.last, smooth);
    let mn = s.min;
    let mx = s.max;
    if (log) {
      line = positive(line);
      mn = positive(mn);
      mx = positive(mx);
    }
    return [s.x, line, mn, mx];
  });
  if (tables.length === 1) return tables[0];
  return uPlot.join(tables);
}
