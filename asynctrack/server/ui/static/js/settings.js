// Chart settings in the URL: x (step|wall|relative), log (1), smooth (0..0.99), q (metric filter).

export function chartSettings(params) {
  const x = params.get("x");
  const smooth = Number(params.get("smooth") || 0);
  return {
    x: x === "wall" || x === "relative" ? x : "step",
    log: params.get("log") === "1",
    smooth: isFinite(smooth) && smooth >= 0 && smooth < 1 ? smooth : 0,
    q: params.get("q") || "",
  };
}

export function chartSettingsParams(s) {
  return { x: s.x === "step" ? "" : s.x, log: s.log ? "1" : "", smooth: s.smooth ? String(s.smooth) : "", q: s.q };
}
