// DOM helpers: every piece of data reaches the page through textContent or setAttribute,
// never through innerHTML, so a workflow name like <img src=x onerror=...> stays text.
export const SVG = "http://www.w3.org/2000/svg";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  return fill(el, attrs, children);
}

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  return fill(el, attrs, children);
}

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export const PHASE_ICON = {
  Succeeded: "✔", Failed: "✖", Error: "⚠", Running: "◔", Pending: "○",
  Skipped: "↷", Omitted: "–", ExitPhase: "⏏",
};

export function phaseBadge(phase) {
  return h("span", { class: `phase phase-${phase || "Pending"}` },
    h("span", { "aria-hidden": "true", text: PHASE_ICON[phase] || "?" }), " ", phase || "Pending");
}

export function duration(start, end) {
  if (!start) return "";
  const a = Date.parse(start), b = end ? Date.parse(end) : Date.now();
  const sec = Math.max(0, Math.round((b - a) / 1000));
  if (sec < 60) return `${sec}s`;
  const m = Math.floor(sec / 60);
  return m < 60 ? `${m}m ${sec % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}
