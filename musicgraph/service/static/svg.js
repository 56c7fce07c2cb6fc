// Small SVG drawings of a result: its explanation paths as a graph, and its audio features as a radar.
// Plain DOM, no library; every drawing has a text alternative for screen readers (role="img" + <title>/<desc>).

const NS = "http://www.w3.org/2000/svg";
let uid = 0;

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function labelled(svg, title, desc) {
  const id = `svg-${++uid}`;
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", `${id}-t ${id}-d`);
  el("title", { id: `${id}-t` }, svg).textContent = title;
  el("desc", { id: `${id}-d` }, svg).textContent = desc;
}

function short(text, n = 18) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/** Sentences of the graph's edges, seed to result ("Radiohead → listened to by → user 431 → ..."). */
export function graphSentences(graph) {
  const names = new Map(graph.nodes.map((n) => [n.id, n.name]));
  const out = new Map();
  for (const e of graph.edges) {
    out.set(`${e.source}>${e.target}`, `${names.get(e.source)} ${e.phrase} ${names.get(e.target)}`);
  }
  return [...out.values()];
}

/** Column of each node: seeds at 0, the result at the last column, nodes on paths in between. */
function columns(graph) {
  const result = graph.nodes.find((n) => n.role === "result");
  const next = new Map();
  for (const e of graph.edges) {
    if (!next.has(e.source)) next.set(e.source, []);
    next.get(e.source).push(e.target);
  }
  // longest distance from each node to the result along edges (a path graph is acyclic in reading order)
  const memo = new Map();
  const toResult = (id, seen = new Set()) => {
    if (id === result.id) return 0;
    if (memo.has(id)) return memo.get(id);
    if (seen.has(id)) return 0;
    seen.add(id);
    let best = null;
    for (const t of next.get(id) || []) {
      const d = toResult(t, seen);
      if (d !== null) best = Math.max(best ?? 0, d + 1);
    }
    memo.set(id, best ?? 1);
    return best ?? 1;
  };
  const depth = new Map(graph.nodes.map((n) => [n.id, toResult(n.id)]));
  const maxD = Math.max(1, ...depth.values());
  const col = new Map();
  for (const [id, d] of depth) col.set(id, maxD - d);
  return { col, ncols: maxD + 1, result };
}

/** The explanation graph of one result as an SVG (nodes coloured by label, edges with arrows). */
export function drawGraph(graph, title) {
  const W = 360;
  const H = 170;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "path-graph", width: "100%", focusable: "false" });
  const sentences = graphSentences(graph);
  labelled(svg, `Why: graph of ${title}`, sentences.length ? sentences.join("; ") : "no path");
  const { col, ncols } = columns(graph);
  const byCol = new Map();
  for (const n of graph.nodes) {
    const c = col.get(n.id) ?? 0;
    if (!byCol.has(c)) byCol.set(c, []);
    byCol.get(c).push(n);
  }
  const pos = new Map();
  const padX = 46;
  for (const [c, nodes] of byCol) {
    const x = ncols === 1 ? W / 2 : padX + (c * (W - 2 * padX)) / (ncols - 1);
    nodes.forEach((n, i) => pos.set(n.id, { x, y: ((i + 1) * H) / (nodes.length + 1) }));
  }
  const defs = el("defs", {}, svg);
  const marker = el("marker", { id: `arrow-${++uid}`, viewBox: "0 0 10 10", refX: 17, refY: 5, markerWidth: 6,
    markerHeight: 6, orient: "auto-start-reverse" }, defs);
  el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }, marker);
  const edges = el("g", { class: "edges" }, svg);
  for (const e of graph.edges) {
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    if (!a || !b) continue;
    const line = el("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: `edge ${e.type}`,
      "marker-end": `url(#${marker.id})` }, edges);
    el("title", {}, line).textContent = e.phrase;
  }
  const nodes = el("g", { class: "nodes" }, svg);
  for (const n of graph.nodes) {
    const p = pos.get(n.id);
    const g = el("g", { class: `node ${n.role}`, transform: `translate(${p.x},${p.y})` }, nodes);
    el("circle", { r: n.role === "result" ? 9 : 7, class: `dot ${n.label}` }, g);
    el("title", {}, g).textContent = `${n.label}: ${n.name}`;
    const text = el("text", { y: -12, "text-anchor": "middle", class: "node-label" }, g);
    text.textContent = short(n.name);
  }
  return svg;
}

/** A radar of the item's audio features (filled) against the request's targets (dashed markers). */
export function drawRadar(radar, title) {
  const S = 170;
  const R = 58;
  const cx = S / 2;
  const cy = S / 2 + 4;
  const svg = el("svg", { viewBox: `0 0 ${S} ${S + 6}`, class: "radar", width: "100%", focusable: "false" });
  const axes = radar.axes;
  const desc = axes.map((a) => {
    const v = radar.item[a];
    const t = radar.target[a];
    return `${a} ${v == null ? "unknown" : v.toFixed(2)}${t == null ? "" : ` (asked ${t.toFixed(2)})`}`;
  }).join(", ");
  labelled(svg, `Audio features of ${title}${radar.estimated ? " (estimated)" : ""}`, desc);
  const angle = (i) => -Math.PI / 2 + (2 * Math.PI * i) / axes.length;
  const point = (i, v) => [cx + R * v * Math.cos(angle(i)), cy + R * v * Math.sin(angle(i))];
  const grid = el("g", { class: "grid" }, svg);
  for (const r of [0.25, 0.5, 0.75, 1]) {
    el("polygon", { points: axes.map((_, i) => point(i, r).join(",")).join(" "), class: "ring" }, grid);
  }
  axes.forEach((a, i) => {
    const [x, y] = point(i, 1);
    el("line", { x1: cx, y1: cy, x2: x, y2: y, class: "spoke" }, grid);
    const [lx, ly] = point(i, 1.28);
    const t = el("text", { x: lx, y: ly + 3, "text-anchor": "middle", class: "axis-label" }, grid);
    t.textContent = a.slice(0, 5);
  });
  if (axes.some((a) => radar.item[a] != null)) {  // unknown features are drawn at the centre
    const values = axes.map((a) => radar.item[a] ?? 0);
    el("polygon", { points: values.map((v, i) => point(i, Math.max(0, Math.min(1, v))).join(",")).join(" "),
      class: `item${radar.estimated ? " estimated" : ""}` }, svg);
  }
  const targets = axes.map((a, i) => [i, radar.target[a]]).filter(([, t]) => t != null);
  if (targets.length >= 3) {
    el("polygon", { points: targets.map(([i, t]) => point(i, t).join(",")).join(" "), class: "target" }, svg);
  }
  for (const [i, t] of targets) {
    const [x, y] = point(i, t);
    el("rect", { x: x - 3, y: y - 3, width: 6, height: 6, class: "target-mark", transform: `rotate(45 ${x} ${y})` }, svg);
  }
  return svg;
}
