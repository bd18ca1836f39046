// The node graph, laid out as Argo does: top to bottom along `children`, each root (the
// entrypoint, then `<wf>.onExit` and hooks) as its own tree beside the others. Retries and
// loop iterations are drawn inside a labelled group box.
import { PHASE_ICON, s } from "./dom.js";

const W = 200, H = 46, GX = 28, GY = 44, PAD = 16, TREE_GAP = 70;
const LOOP = /\(\d+:.*\)$/;

// Argo draws step group [i+1] below the outbound nodes of group [i] (the last attempt of a
// retry, the leaves of nested steps), not below group [i] itself: rebuild those edges.
function edgesOf(nodes) {
  const kids = (id) => (nodes[id].children || []).filter((c) => nodes[c]);
  const isGroup = (id) => nodes[id].type === "StepGroup";
  const outbound = (id, seen = new Set()) => {
    if (seen.has(id)) return [id];
    seen.add(id);
    const n = nodes[id], ks = kids(id);
    if (n.type === "Retry") return ks.length ? outbound(ks[ks.length - 1], seen) : [id];
    if (n.type === "StepGroup") {
      const work = ks.filter((c) => !isGroup(c));
      const out = work.flatMap((c) => outbound(c, seen));
      return out.length ? out : [id];
    }
    if (n.type === "Steps") {
      let group = ks.find(isGroup);
      if (!group) return [id];
      for (let next = kids(group).find(isGroup); next; next = kids(group).find(isGroup)) {
        group = next;
      }
      return outbound(group, seen);
    }
    return [id];
  };
  const edges = new Map(Object.keys(nodes).map((id) => [id, []]));
  for (const id of Object.keys(nodes)) {
    const ks = kids(id);
    for (const c of ks) {
      if (isGroup(id) && isGroup(c)) {
        const from = ks.filter((k) => !isGroup(k)).flatMap((k) => outbound(k));
        if (from.length) {
          for (const f of from) if (!edges.get(f).includes(c)) edges.get(f).push(c);
          continue;
        }
      }
      edges.get(id).push(c);
    }
  }
  return edges;
}

function trees(nodes, edges) {
  const childOf = new Set();
  for (const list of edges.values()) for (const c of list) childOf.add(c);
  const roots = Object.values(nodes).filter((n) => !childOf.has(n.id));
  roots.sort((a, b) => (a.startedAt || "~").localeCompare(b.startedAt || "~")
    || a.name.localeCompare(b.name));
  const owner = new Map();
  const out = [];
  for (const root of roots) {
    const members = [];
    const stack = [root.id];
    while (stack.length) {
      const id = stack.pop();
      if (owner.has(id) || !nodes[id]) continue;
      owner.set(id, root.id);
      members.push(id);
      for (const c of [...edges.get(id)].reverse()) stack.push(c);
    }
    out.push({ root: root.id, members });
  }
  return out;
}

function layoutTree(edges, tree) {
  const inTree = new Set(tree.members);
  const depth = new Map([[tree.root, 0]]);
  // Longest path from the root (children lists form a DAG).
  for (let changed = true, guard = 0; changed && guard < tree.members.length + 1; guard++) {
    changed = false;
    for (const id of tree.members) {
      if (!depth.has(id)) continue;
      for (const c of edges.get(id)) {
        if (!inTree.has(c)) continue;
        const d = depth.get(id) + 1;
        if (!depth.has(c) || depth.get(c) < d) { depth.set(c, d); changed = true; }
      }
    }
  }
  const layers = [];
  for (const id of tree.members) {  // members are in depth-first order: siblings stay together
    const d = depth.get(id) ?? 0;
    (layers[d] = layers[d] || []).push(id);
  }
  const width = Math.max(...layers.map((l) => (l ? l.length : 0)));
  const pos = new Map();
  layers.forEach((layer, d) => {
    if (!layer) return;
    const offset = ((width - layer.length) * (W + GX)) / 2;
    layer.forEach((id, i) => pos.set(id, { x: offset + i * (W + GX), y: d * (H + GY) }));
  });
  return { pos, width: width * (W + GX) - GX, height: layers.length * (H + GY) - GY };
}

function groups(nodes, inTree) {
  const out = [];
  for (const n of Object.values(nodes)) {
    if (!inTree.has(n.id)) continue;
    const kids = (n.children || []).filter((c) => nodes[c]);
    if (n.type === "Retry" && kids.length) out.push({ label: `retries ×${kids.length}`, ids: kids });
    const loop = kids.filter((c) => LOOP.test(nodes[c].displayName || ""));
    if (loop.length > 1) out.push({ label: `loop ×${loop.length}`, ids: loop });
  }
  return out;
}

function short(text, max) {  // keep the end: `….onExit`, `…(2)` say the most
  return text.length > max ? `…${text.slice(text.length - max + 1)}` : text;
}

export function drawGraph(nodes, extras, selected, onSelect) {
  const edges = edgesOf(nodes);
  const forest = trees(nodes, edges);
  const pos = new Map();
  const boxes = [];
  let x0 = PAD, height = 0;
  for (const tree of forest) {
    const lay = layoutTree(edges, tree);
    for (const [id, p] of lay.pos) pos.set(id, { x: p.x + x0, y: p.y + PAD + 20 });
    const role = (extras[tree.root] || {}).role;
    boxes.push({ x: x0, w: lay.width, role, root: tree.root, members: new Set(tree.members) });
    x0 += lay.width + TREE_GAP;
    height = Math.max(height, lay.height);
  }
  const svgW = Math.max(x0 - TREE_GAP + PAD, 200), svgH = height + 2 * PAD + 30;
  const svg = s("svg", { class: "graph", width: svgW, height: svgH, viewBox: `0 0 ${svgW} ${svgH}`,
    role: "group", "aria-label": "Node graph" });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
  s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))));
  for (const box of boxes) {  // a caption over each separate tree: what it is
    const label = box.role === "exit" ? "exit handler" : box.role === "hook" ? "hook" : "";
    if (label) svg.append(s("text", { x: box.x, y: PAD + 6, class: `tree-label tree-${box.role}`,
      text: label }));
  }
  for (const box of boxes) {
    for (const g of groups(nodes, box.members)) {
      const ps = g.ids.map((id) => pos.get(id)).filter(Boolean);
      if (!ps.length) continue;
      const gx = Math.min(...ps.map((p) => p.x)) - 8, gy = Math.min(...ps.map((p) => p.y)) - 16;
      const gw = Math.max(...ps.map((p) => p.x)) + W + 8 - gx;
      const gh = Math.max(...ps.map((p) => p.y)) + H + 8 - gy;
      svg.append(s("g", { class: "group" },
        s("rect", { x: gx, y: gy, width: gw, height: gh, rx: 8 }),
        s("text", { x: gx + 6, y: gy + 11, text: g.label })));
    }
  }
  for (const n of Object.values(nodes)) {
    const a = pos.get(n.id);
    if (!a) continue;
    for (const c of edges.get(n.id)) {
      const b = pos.get(c);
      if (!b) continue;
      const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y;
      const my = (y1 + y2) / 2;
      svg.append(s("path", { class: "edge", d: `M ${x1} ${y1} C ${x1} ${my}, ${x2} ${my}, ${x2} ${y2}`,
        "marker-end": "url(#arrow)" }));
    }
  }
  for (const n of Object.values(nodes)) {
    const p = pos.get(n.id);
    if (!p) continue;
    const ex = extras[n.id] || {};
    const role = ex.role || "";
    const phase = n.phase || "Pending";
    const cls = ["node", `phase-${phase}`, role ? `role-${role}` : "", n.id === selected ? "selected" : ""];
    const tag = role === "exit" ? "EXIT" : role === "hook" ? "HOOK" : "";
    const label = n.displayName || n.name;
    const g = s("g", { class: cls.join(" "), transform: `translate(${p.x},${p.y})`, tabindex: 0,
      role: "button", "data-node": n.id, "data-phase": phase, "data-role": role,
      "data-name": label,
      "aria-label": `${label}: ${n.type} ${phase}${tag ? ` (${tag.toLowerCase()} handler)` : ""}`,
      "aria-pressed": n.id === selected ? "true" : "false" },
    s("title", { text: `${n.name} — ${n.type} ${phase}${n.message ? `: ${n.message}` : ""}` }),
    s("rect", { class: "box", width: W, height: H, rx: 6 }),
    s("rect", { class: "bar", width: 6, height: H, rx: 3 }),
    s("circle", { class: "dot", cx: 24, cy: H / 2, r: 12 }),
    s("text", { class: "icon", x: 24, y: H / 2 + 5, "text-anchor": "middle",
      text: PHASE_ICON[phase] || "?" }),
    s("text", { class: "label", x: 44, y: 19, text: short(label, 18) }),
    s("text", { class: "sub", x: 44, y: 36,
      text: `${n.type}${ex.attempt > 1 ? ` · attempt ${ex.attempt}` : ""}` }));
    if (tag) {
      g.append(s("rect", { class: "tag", x: W - 44, y: H - 19, width: 40, height: 15, rx: 3 }),
        s("text", { class: "tagtext", x: W - 24, y: H - 8, "text-anchor": "middle", text: tag }));
    }
    const pick = () => onSelect(n.id);
    g.addEventListener("click", pick);
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pick(); }
    });
    svg.append(g);
  }
  return svg;
}
