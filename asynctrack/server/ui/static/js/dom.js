// DOM helpers. Every piece of data reaches the page as a text node or a property: this module never
// parses HTML, so a run named "<img src=x onerror=alert(1)>" is shown as those characters.

/** Create an element. attrs: {class, text, on: {click: fn}, dataset: {...}, ...attributes or properties}. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = String(v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" || k === "checked" || k === "disabled" || k === "selected") el[k] = v;
    else if (k === "href") el.setAttribute("href", safeHref(v));
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Only our own hash routes and same-origin API paths become links (never javascript: or other hosts). */
export function safeHref(href) {
  const s = String(href);
  return s.startsWith("#") || (s.startsWith("/") && !s.startsWith("//")) ? s : "#";
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

const pad = (n) => String(n).padStart(2, "0");

/** "2026-12-04 13:05:09" in local time; "" for no time. */
export function fmtTime(ms) {
  if (ms === null || ms === undefined || ms === "" || Number(ms) <= 0) return "";
  const d = new Date(Number(ms));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "3 min ago" style, for last-activity columns. */
export function fmtAgo(ms) {
  if (!ms) return "";
  const s = (Date.now() - Number(ms)) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 86400 * 30) return `${Math.floor(s / 86400)} d ago`;
  return fmtTime(ms).slice(0, 10);
}

/** A duration in ms as "1h 02m", "3m 05s", "4.2s". */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms) || ms < 0) return "";
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(Math.floor(s % 60))}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${pad(m % 60)}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

export function runDuration(run) {
  const start = Number(run.start_time || 0);
  if (!start) return null;
  const end = run.end_time ? Number(run.end_time) : run.status === "RUNNING" ? Date.now() : null;
  return end ? end - start : null;
}

/** A metric value for a table cell: up to 6 significant digits; NaN/Infinity as sent. */
export function fmtNumber(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export function statusBadge(status) {
  const s = String(status || "");
  return h("span", { class: `badge st-${s.toLowerCase()}`, text: s.toLowerCase() || "?" });
}

/** A button that asks to be clicked twice (no window.confirm: the page never opens dialogs). */
export function confirmButton(label, confirmLabel, action, cls = "btn danger") {
  const b = h("button", { class: cls, type: "button", text: label });
  let armed = null;
  b.addEventListener("click", async () => {
    if (!armed) {
      b.textContent = confirmLabel;
      b.classList.add("armed");
      armed = setTimeout(() => {
        armed = null;
        b.textContent = label;
        b.classList.remove("armed");
      }, 3000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    b.disabled = true;
    try {
      await action();
    } finally {
      b.disabled = false;
      b.textContent = label;
      b.classList.remove("armed");
    }
  });
  return b;
}

export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}
