// The server's APIs: the UI's read endpoints (/ajax-api/asynctrack/ui/) and MLflow's REST API for writes
// (/ajax-api/2.0/mlflow/). Writes are POSTs with a JSON body, which a page on another site cannot send
// without a CORS preflight the server never grants. A GET that prefetch.js already sent gets its answer.

import { session, take } from "./prefetch.js";
import { MLFLOW, UI, query } from "./urls.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// With `asynctrack server --auth` the page is signed in by an HttpOnly session cookie, and every write
// must carry the session's CSRF token. The session is asked once: {auth: false} without --auth.
export { session };

async function csrfToken() {
  return (await session()).csrf_token || "";
}

/** End the session and go to the login page. */
export async function signOut() {
  try {
    await fetch("/ajax-api/asynctrack/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": await csrfToken() },
      body: "{}",
      credentials: "same-origin",
    });
  } finally {
    window.location.assign("/login");
  }
}

async function call(url, init, signal) {
  let resp;
  const method = (init && init.method) || "GET";
  if (method !== "GET" && method !== "HEAD") {
    init = { ...init, headers: { ...(init.headers || {}), "X-CSRF-Token": await csrfToken() } };
  }
  const early = method === "GET" ? take(url) : undefined;
  try {
    resp = early ? await early.catch(() => fetch(url, { ...init, signal, credentials: "same-origin" })) : await fetch(url, { ...init, signal, credentials: "same-origin" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "NETWORK", `The server did not answer (${e.message}).`);
  }
  if (resp.status === 401) {
    window.location.assign("/login"); // not signed in, or the session ended
  }
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const code = body && body.error_code ? body.error_code : `HTTP_${resp.status}`;
    const msg = body && body.message ? body.message : `${resp.status} ${resp.statusText}`;
    throw new ApiError(resp.status, code, msg);
  }
  if (body === null) throw new ApiError(resp.status, "BAD_RESPONSE", "The server sent something that is not JSON.");
  return body;
}

/** GET a URL of ours (already built, e.g. by urls.js's runsUrl). */
export function getUrl(url, signal) {
  return call(url, { method: "GET" }, signal);
}

/** GET a UI endpoint: ui("series", {run_ids: [...], key}) */
export function ui(path, params, signal) {
  return call(UI + path + query(params), { method: "GET" }, signal);
}

export function uiPost(path, body, signal) {
  return call(UI + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }, signal);
}

/** POST to MLflow's REST API (writes). */
export function mlflow(path, body) {
  return call(MLFLOW + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

export function mlflowGet(path, params) {
  return call(MLFLOW + path + query(params), { method: "GET" });
}

/** URL of an artifact's bytes (for <img>, downloads and previews). */
export function artifactUrl(runId, path, download = false) {
  return `${UI}artifacts/get${query({ run_id: runId, path, download: download ? 1 : null })}`;
}

/** Fetch raw bytes/text of an artifact, with a size cap for previews. */
export async function artifactText(runId, path, signal) {
  const resp = await fetch(artifactUrl(runId, path), { signal, credentials: "same-origin" });
  if (!resp.ok) {
    let msg = `${resp.status} ${resp.statusText}`;
    try {
      const b = await resp.json();
      if (b.message) msg = b.message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(resp.status, "HTTP", msg);
  }
  return resp.text();
}
