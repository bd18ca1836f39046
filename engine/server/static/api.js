// The API client: the bearer token (kept in sessionStorage) goes with every request.
const KEY = "exitflow-token";

export function token() { return sessionStorage.getItem(KEY) || ""; }
export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value); else sessionStorage.removeItem(KEY);
}

export async function call(method, path, body, contentType = "application/json") {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers["Content-Type"] = contentType;
  const resp = await fetch(path, { method, headers, body });
  const text = await resp.text();
  if (!resp.ok) {
    let message = text;
    try { message = JSON.parse(text).message || text; } catch (e) { /* not JSON */ }
    const err = new Error(`${resp.status}: ${message}`);
    err.status = resp.status;
    throw err;
  }
  return text;
}

export async function getJSON(path) { return JSON.parse(await call("GET", path)); }

export const wfPath = (ns, name) =>
  `/api/v1/workflows/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;

// Live changes: Server-Sent Events; polling when the stream is not available.
export function watch(ns, name, onChange) {
  let closed = false, timer = null, source = null;
  const poll = () => { if (!closed) { onChange(); timer = setTimeout(poll, 2000); } };
  const q = name ? `?name=${encodeURIComponent(name)}` : "";
  try {
    source = new EventSource(`/api/v1/workflow-events/${encodeURIComponent(ns)}${q}`);
    source.onmessage = (ev) => {
      try { onChange(JSON.parse(ev.data).result); } catch (e) { onChange(); }
    };
    source.onerror = () => { if (source.readyState === EventSource.CLOSED && !timer) poll(); };
  } catch (e) { poll(); }
  return () => { closed = true; if (source) source.close(); if (timer) clearTimeout(timer); };
}
