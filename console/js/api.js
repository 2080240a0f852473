// The public /v1 API with the signed-in key. The key lives in sessionStorage only: never in a
// URL, a cookie or localStorage, and it is gone when the tab closes.

const KEY = "public-api-console-key";

export function currentKey() {
  return sessionStorage.getItem(KEY);
}

export function signIn(key) {
  sessionStorage.setItem(KEY, key);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/** A problem+json answer, with its status, code, detail and field errors. */
export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code;
    this.errors = problem?.errors ?? [];
  }

  /** The message to show, with the fields named. */
  describe() {
    const fields = this.errors.map((e) => `${e.field ?? e.pointer ?? ""}: ${e.detail ?? e.message ?? e.code ?? ""}`);
    return [this.message, ...fields].join(" — ");
  }
}

/** Called when the key stops working (revoked, expired, or never valid). */
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/** Calls the API; returns the parsed JSON (or null for 204), throws ApiProblem otherwise. */
export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${currentKey() ?? ""}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const value = text ? safeParse(text) : null;
  if (response.ok) return value;
  const problem = new ApiProblem(response.status, value);
  if (response.status === 401) onUnauthorized(problem);
  throw problem;
}

function safeParse(text) {
  try { return JSON.parse(text); } catch { return { detail: text.slice(0, 200) }; }
}

/** A query string from the non-empty values of `params`. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Path segment, encoded. */
export const seg = encodeURIComponent;
