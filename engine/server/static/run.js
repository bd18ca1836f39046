// A run: header with verify badge, the node graph, node details, and the event timeline whose
// slider shows the run as it stood after any event (GET .../events?at=SEQ).
import { call, getJSON, watch, wfPath } from "./api.js";
import { clear, duration, h, phaseBadge } from "./dom.js";
import { drawGraph } from "./graph.js";

export function runPage(main, ns, name) {
  clear(main);
  document.title = `${name} · Exitflow`;
  const base = wfPath(ns, name);
  let at = null;            // null: follow the run live; a number: time travel
  let data = null;          // the last /events?at= answer
  let selected = null;
  let loading = null, again = false;

  const title = h("h1", { class: "run-name", text: name });
  const phaseSlot = h("span", { id: "run-phase" });
  const verifyBadge = h("span", { id: "verify", class: "verify verify-unknown", role: "status",
    text: "verifying…" });
  const actions = h("span", { class: "actions" },
    h("button", { type: "button", id: "stop", text: "Stop", onclick: () => command("stop") }),
    h("button", { type: "button", id: "terminate", text: "Terminate",
      onclick: () => command("terminate") }));
  const note = h("p", { class: "note", role: "status", "aria-live": "polite" });
  const params = h("dl", { class: "params", id: "run-params" });
  const slider = h("input", { type: "range", id: "timeline", min: 1, max: 1, value: 1, step: 1,
    "aria-label": "Event timeline: show the run as it stood after event" });
  const sliderText = h("span", { id: "timeline-text", "aria-live": "polite" });
  const live = h("button", { type: "button", id: "live", text: "Live", "aria-pressed": "true",
    onclick: () => { at = null; refresh(); } });
  const prev = h("button", { type: "button", text: "◀", "aria-label": "Previous event",
    onclick: () => go((at ?? total()) - 1) });
  const next = h("button", { type: "button", text: "▶", "aria-label": "Next event",
    onclick: () => go((at ?? total()) + 1) });
  const events = h("ol", { class: "events", id: "events", "aria-label": "Events" });
  const graph = h("div", { class: "graph-wrap", id: "graph" });
  const details = h("aside", { class: "details", id: "details", "aria-label": "Node details" },
    h("p", { class: "muted", text: "Select a node (click, or Tab then Enter) to see its details." }));

  main.append(
    h("div", { class: "bar" }, h("a", { href: "/", text: "← Workflows" })),
    h("div", { class: "run-head" }, title, phaseSlot, verifyBadge, actions),
    note, params,
    h("section", { class: "timeline", "aria-label": "Time travel" },
      h("div", { class: "slider-row" }, prev, slider, next, live), sliderText),
    h("div", { class: "run-body" }, graph, details),
    h("details", { class: "event-list" }, h("summary", { text: "Events" }), events));

  const total = () => (data ? data.total : 1);

  function go(seq) {
    const n = total();
    seq = Math.max(1, Math.min(n, seq));
    at = seq >= n ? null : seq;
    refresh();
  }

  slider.addEventListener("input", () => go(Number(slider.value)));

  async function command(verb) {
    if (!confirm(`${verb} ${name}?`)) return;
    try { await call("PUT", `${base}/${verb}`); note.textContent = `${verb} requested.`; }
    catch (e) { note.textContent = `${verb} refused: ${e.message}`; }
  }

  async function refresh() {
    if (loading) { again = true; return loading; }
    loading = (async () => {
      try {
        const q = at === null ? "latest" : String(at);
        data = await getJSON(`${base}/events?at=${q}`);
        render();
      } catch (e) {
        note.textContent = `Could not load ${name}: ${e.message}`;
      }
    })();
    await loading;
    loading = null;
    if (again) { again = false; refresh(); }
  }

  function render() {
    const wf = data.workflow;
    const st = wf.status;
    clear(phaseSlot).append(phaseBadge(st.phase));
    main.dataset.phase = st.phase;
    main.dataset.at = String(data.at);
    clear(params);
    for (const p of wf.spec.arguments.parameters || []) {
      params.append(h("dt", { text: p.name }), h("dd", { class: "param-value", text: p.value }));
    }
    note.textContent = st.message || "";
    slider.max = String(data.total);
    slider.value = String(data.at);
    live.setAttribute("aria-pressed", at === null ? "true" : "false");
    const ev = data.events[data.at - 1];
    sliderText.textContent = `Event ${data.at} of ${data.total}: ${ev ? describe(ev) : ""}`
      + (at === null ? " (live)" : " (past)");
    main.classList.toggle("past", at !== null);
    clear(events);
    data.events.forEach((e, i) => {
      const item = h("li", { class: i + 1 === data.at ? "current" : i + 1 > data.at ? "future" : "" },
        h("button", { type: "button", "data-seq": e.seq, onclick: () => go(e.seq),
          text: `${e.seq}. ${describe(e)}` }));
      events.append(item);
    });
    clear(graph).append(drawGraph(st.nodes || {}, data.nodes || {}, selected, (id) => {
      selected = id; render(); showDetails();
      const el = graph.querySelector(`[data-node="${CSS.escape(id)}"]`);
      if (el) el.focus();
    }));
    if (selected) showDetails(false);
  }

  function describe(e) {
    const d = e.data || {};
    const node = d.node_id && data.workflow.status.nodes[d.node_id];
    const who = node ? ` ${node.displayName}` : d.display_name ? ` ${d.display_name}` : "";
    const what = d.phase || d.status || d.strategy || "";
    return `${e.type}${who}${what ? ` → ${what}` : ""} at ${e.time}`;
  }

  async function showDetails(withLogs = true) {
    const n = data.workflow.status.nodes[selected];
    const ex = (data.nodes || {})[selected] || {};
    if (!n) { clear(details).append(h("p", { class: "muted", text: "This node does not exist yet at this event." })); return; }
    const rows = [
      ["Name", n.name], ["ID", n.id], ["Type", n.type], ["Template", n.templateName],
      ["Role", ex.role === "exit" ? "exit handler" : ex.role === "hook" ? "hook" : "work"],
      ["Phase", n.phase], ["Message", n.message || ""],
      ["Started", n.startedAt || ""], ["Finished", n.finishedAt || ""],
      ["Duration", duration(n.startedAt, n.finishedAt)],
      ["Exit code", (n.outputs && n.outputs.exitCode) || ""],
      ["Attempts", String(ex.attempt || 0) + (ex.lostAttempts ? ` (${ex.lostAttempts} lost to a crash)` : "")],
      ["Idempotency key", ex.idempotencyKey || ""],
    ];
    const dl = h("dl", { class: "kv" });
    for (const [k, v] of rows) if (v !== "") dl.append(h("dt", { text: k }), h("dd", { text: v }));
    const io = (title, list) => (list && list.length ? [h("h3", { text: title }),
      h("table", { class: "io" }, list.map((p) => h("tr", {}, h("th", { scope: "row", text: p.name }),
        h("td", { text: p.value }))))] : []);
    const logs = h("pre", { class: "logs", id: "node-logs", tabindex: 0, "aria-label": "Logs" });
    const result = n.outputs && n.outputs.result !== undefined
      ? [h("h3", { text: "Result" }), h("pre", { class: "result", text: n.outputs.result })] : [];
    clear(details).append(h("h2", { text: n.displayName }), phaseBadge(n.phase), dl,
      ...io("Inputs", n.inputs && n.inputs.parameters),
      ...io("Outputs", n.outputs && n.outputs.parameters), ...result,
      h("h3", { text: "Logs" }), logs);
    if (!withLogs && details.dataset.node === selected && details.dataset.logs) {
      logs.textContent = details.dataset.logs;
      return;
    }
    details.dataset.node = selected;
    try {
      const text = await call("GET", `${base}/log?nodeId=${encodeURIComponent(selected)}`);
      const lines = text.split("\n").filter(Boolean).map((l) => {
        const r = JSON.parse(l).result;
        return r.stream === "stderr" ? `[stderr] ${r.content}` : r.content;
      });
      logs.textContent = lines.length ? lines.join("\n") : "(no output)";
      details.dataset.logs = logs.textContent;
    } catch (e) { logs.textContent = `Logs unavailable: ${e.message}`; }
  }

  async function verify() {
    try {
      const v = await getJSON(`${base}/verify`);
      verifyBadge.className = `verify ${v.ok ? "verify-ok" : "verify-bad"}`;
      verifyBadge.textContent = v.ok ? `✔ chain intact (${v.events} events)` : "✖ tampered";
      verifyBadge.title = v.ok ? v.checks.join(", ") : v.findings.join("\n");
    } catch (e) {
      verifyBadge.className = "verify verify-unknown";
      verifyBadge.textContent = `verify failed: ${e.message}`;
    }
  }

  refresh().then(verify);
  let pending = null;
  return watch(ns, name, () => {
    if (at !== null || pending) return;   // time travel holds the picture still
    pending = setTimeout(() => {
      pending = null;
      const before = data ? data.workflow.status.finishedAt : null;
      refresh().then(() => { if (!before && data && data.workflow.status.finishedAt) verify(); });
    }, 100);
  });
}
