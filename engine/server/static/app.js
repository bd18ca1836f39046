// Entry: the runs list at `/`, a run at `/workflows/{ns}/{name}`.
import { call, getJSON, setToken, token, watch } from "./api.js";
import { clear, duration, h, phaseBadge } from "./dom.js";
import { runPage } from "./run.js";

const PHASES = ["Pending", "Running", "ExitPhase", "Succeeded", "Failed", "Error"];
let stopWatching = null;

function route() {
  if (stopWatching) { stopWatching(); stopWatching = null; }
  const main = document.getElementById("main");
  const m = location.pathname.match(/^\/workflows\/([^/]+)\/([^/]+)\/?$/);
  if (m) {
    stopWatching = runPage(main, decodeURIComponent(m[1]), decodeURIComponent(m[2]));
  } else {
    stopWatching = listPage(main);
  }
}

function listPage(main) {
  const params = new URLSearchParams(location.search);
  const ns = params.get("ns") || "default";
  let phase = params.get("phase") || "";
  let limit = 100;
  clear(main);
  document.title = "Workflows · Exitflow";
  const status = h("p", { class: "muted", role: "status", "aria-live": "polite" });
  const select = h("select", { id: "phase-filter", "aria-label": "Filter by phase" },
    h("option", { value: "", text: "All phases" }),
    PHASES.map((p) => h("option", { value: p, text: p, selected: p === phase })));
  const body = h("tbody");
  const table = h("table", { class: "runs" },
    h("caption", { class: "sr-only", text: "Workflow runs, newest first" }),
    h("thead", {}, h("tr", {}, ["Name", "Phase", "Created", "Duration", "Nodes"].map(
      (t) => h("th", { scope: "col", text: t })))),
    body);
  main.append(
    h("div", { class: "bar" }, h("h1", { text: `Workflows in ${ns}` }),
      h("label", {}, "Phase ", select)),
    submitForm(ns), status, table);
  const more = h("button", { type: "button", id: "more", text: "Show more", hidden: true,
    onclick: () => { limit += 100; load(); } });
  main.append(more);

  async function load() {
    const q = `?listOptions.limit=${limit}${phase ? `&phase=${encodeURIComponent(phase)}` : ""}`;
    try {
      const data = await getJSON(`/api/v1/workflows/${encodeURIComponent(ns)}${q}`);
      clear(body);
      for (const wf of data.items) {
        const href = `/workflows/${encodeURIComponent(ns)}/${encodeURIComponent(wf.metadata.name)}`;
        const nodes = Object.keys(wf.status.nodes || {}).length;
        body.append(h("tr", { "data-name": wf.metadata.name },
          h("td", {}, h("a", { href, text: wf.metadata.name })),
          h("td", {}, phaseBadge(wf.status.phase)),
          h("td", { text: wf.metadata.creationTimestamp || "" }),
          h("td", { text: duration(wf.status.startedAt, wf.status.finishedAt) }),
          h("td", { text: String(nodes) })));
      }
      status.textContent = data.items.length ? `${data.items.length} run(s)` : "No runs.";
      more.hidden = !(data.metadata && data.metadata.continue);
    } catch (e) { status.textContent = `Could not load runs: ${e.message}`; }
  }
  select.addEventListener("change", () => {
    phase = select.value;
    const q = new URLSearchParams(location.search);
    if (phase) q.set("phase", phase); else q.delete("phase");
    history.replaceState(null, "", `/${q.toString() ? "?" + q : ""}`);
    load();
  });
  load();
  let pending = null;
  return watch(ns, "", () => {  // coalesce bursts of changes into one reload
    if (!pending) pending = setTimeout(() => { pending = null; load(); }, 150);
  });
}

function submitForm(ns) {
  const text = h("textarea", { id: "submit-yaml", rows: 10, cols: 80, spellcheck: "false",
    "aria-label": "Workflow YAML" });
  const out = h("p", { role: "status", "aria-live": "polite" });
  const button = h("button", { type: "submit", text: "Submit" });
  const form = h("form", { class: "submit" }, text, h("div", {}, button), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.textContent = "Submitting…";
    try {
      const wf = JSON.parse(await call("POST", `/api/v1/workflows/${encodeURIComponent(ns)}`,
        text.value, "application/yaml"));
      out.textContent = "";
      out.append("Submitted ", h("a", {
        href: `/workflows/${encodeURIComponent(ns)}/${encodeURIComponent(wf.metadata.name)}`,
        text: wf.metadata.name }));
    } catch (e) { out.textContent = `Not submitted: ${e.message}`; }
  });
  return h("details", { class: "submit" }, h("summary", { text: "Submit a workflow (YAML)" }), form);
}

function init() {
  const input = document.getElementById("token");
  input.value = token();
  input.addEventListener("change", () => setToken(input.value.trim()));
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
  });
  document.addEventListener("click", (ev) => {  // in-app navigation without reloads
    const a = ev.target.closest && ev.target.closest("a[href^='/']");
    if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || a.getAttribute("href").startsWith("/api")
        || a.getAttribute("href") === "/metrics") return;
    ev.preventDefault();
    history.pushState(null, "", a.getAttribute("href"));
    route();
    document.getElementById("main").focus();
  });
  window.addEventListener("popstate", route);
  route();
}

init();
