// The musicgraph page: search, result cards (path graph + radar), "why this song", chat refinement.
// Talks to the same server's JSON API (POST /chat keeps the conversation on the server).

import { drawGraph, drawRadar, graphSentences } from "./svg.js";

const $ = (sel) => document.querySelector(sel);
const state = { sessionId: null, busy: false };

function setStatus(text, isError = false) {
  const box = $("#status");
  box.textContent = text;
  box.classList.toggle("error", isError);
}

async function postJSON(url, body) {
  const resp = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : { code: "http_error", message: `HTTP ${resp.status}` };
    const e = new Error(err.message);
    e.code = err.code;
    e.suggestions = err.suggestions || [];
    throw e;
  }
  return data;
}

function text(tag, content, cls) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  node.textContent = content;
  return node;
}

function evidenceList(rec) {
  const dl = document.createElement("dl");
  dl.className = "evidence";
  const add = (term, value) => {
    if (!value || (Array.isArray(value) && !value.length)) return;
    dl.appendChild(text("dt", term));
    dl.appendChild(text("dd", Array.isArray(value) ? value.join(", ") : value));
  };
  for (const [k, v] of Object.entries(rec.evidence || {})) {
    if (k !== "explain") add(k, v);
  }
  const scores = Object.entries(rec.scores || {}).map(([k, v]) => `${k} ${Number(v).toPrecision(3)}`);
  add("scores", scores);
  const ranks = Object.entries(rec.ranks || {}).map(([k, v]) => `${k} #${v}`);
  add("component ranks", ranks);
  return dl;
}

function card(rec, i) {
  const li = document.createElement("li");
  li.className = "card";
  li.dataset.id = rec.id;
  const art = document.createElement("article");
  const headId = `card-${i}-title`;
  art.setAttribute("aria-labelledby", headId);
  const h = document.createElement("h3");
  h.id = headId;
  h.appendChild(text("span", `${rec.number ?? rec.rank}. `, "rank"));
  const title = rec.kind === "song" ? rec.title || rec.name : rec.name;
  h.appendChild(text("span", title, "title"));
  if (rec.kind === "song" && rec.artist) {
    h.appendChild(text("span", " by ", "by"));
    h.appendChild(text("span", rec.artist, "artist"));
  } else {
    h.appendChild(text("span", ` (${rec.kind})`, "kind"));
  }
  art.appendChild(h);

  const visuals = document.createElement("div");
  visuals.className = "visuals";
  const fig1 = document.createElement("figure");
  fig1.className = "path-figure";
  fig1.appendChild(drawGraph(rec.graph, title));
  fig1.appendChild(text("figcaption", rec.paths && rec.paths.length ? "How the graph reaches it" : "What it is linked to"));
  const fig2 = document.createElement("figure");
  fig2.className = "radar-figure";
  fig2.appendChild(drawRadar(rec.radar, title));
  const asked = Object.keys(rec.radar.target).length > 0;
  const known = Object.values(rec.radar.item).some((v) => v != null);
  const caption = known ? `Sound${rec.radar.estimated ? " (estimated)" : ""}${asked ? " vs. your request" : ""}`
    : `Sound not known${asked ? " (dashed: your request)" : ""}`;
  fig2.appendChild(text("figcaption", caption));
  visuals.append(fig1, fig2);
  art.appendChild(visuals);

  const panelId = `card-${i}-why`;
  const button = text("button", "Why this song?", "why");
  button.type = "button";
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", panelId);
  const panel = document.createElement("div");
  panel.id = panelId;
  panel.className = "why-panel";
  panel.hidden = true;
  panel.setAttribute("role", "region");
  panel.setAttribute("aria-label", `Why ${title}`);
  const reasons = rec.reasons && rec.reasons.length ? rec.reasons : graphSentences(rec.graph);
  panel.appendChild(text("h4", "Reasons"));
  const ul = document.createElement("ul");
  for (const r of reasons) ul.appendChild(text("li", r));
  panel.appendChild(ul);
  const why = rec.why && rec.why.length ? rec.why : (rec.paths || []).map((p) => p.join(" · "));
  if (why.length) {
    panel.appendChild(text("h4", "Paths"));
    const pl = document.createElement("ul");
    for (const p of why) pl.appendChild(text("li", p));
    panel.appendChild(pl);
  }
  panel.appendChild(text("h4", "Evidence"));
  panel.appendChild(evidenceList(rec));
  const links = document.createElement("p");
  links.className = "links";
  const a = text("a", "Explanation as JSON");
  a.href = `/explain/${encodeURIComponent(rec.id)}?kind=${rec.kind === "artist" ? "artist" : "song"}` +
    (state.lastQuery ? `&q=${encodeURIComponent(state.lastQuery)}` : "");
  links.appendChild(a);
  if (rec.neo4j_browser) {
    links.appendChild(document.createTextNode(" · "));
    const n = text("a", "Open this path in Neo4j Browser");
    n.href = rec.neo4j_browser;
    n.target = "_blank";
    n.rel = "noopener";
    n.className = "neo4j-link";
    links.appendChild(n);
  }
  panel.appendChild(links);
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") === "true";
    button.setAttribute("aria-expanded", String(!open));
    panel.hidden = open;
    button.textContent = open ? "Why this song?" : "Hide why";
  });
  art.append(button, panel);
  li.appendChild(art);
  return li;
}

function render(data) {
  state.lastQuery = data.query;
  $("#answer").hidden = false;
  $("#answer-text").textContent = data.text;
  const req = data.request;
  $("#request-panel").hidden = !req;
  if (req) {
    $("#request-description").textContent = req.description;
    $("#request-json").textContent = JSON.stringify(req.parsed, null, 2);
  }
  const notes = [...(data.notes || []), ...(data.changes || []).map((c) => `changed: ${c}`)];
  $("#request-notes").hidden = !notes.length;
  $("#request-notes").textContent = notes.join(" · ");
  const list = $("#results");
  list.replaceChildren();
  const recs = data.recommendations || [];
  recs.forEach((rec, i) => list.appendChild(card(rec, i)));
  $("#empty").hidden = recs.length > 0;
  $("#empty").textContent = recs.length ? "" : "Nothing in the catalog matches; try other words.";
  $("#refine-form").hidden = false;
}

async function send(message, isNew) {
  if (state.busy) return;
  state.busy = true;
  const k = Number($("#k").value);
  const buttons = [$("#search-button"), $("#refine-button")];
  buttons.forEach((b) => { b.disabled = true; });
  $("#results").setAttribute("aria-busy", "true");
  setStatus(isNew ? "Searching…" : "Refining…");
  try {
    const body = { message, k };
    if (!isNew && state.sessionId) body.session_id = state.sessionId;
    let data;
    try {
      data = await postJSON("/chat", body);
    } catch (err) {
      if (err.code === "unknown_session") {  // expired: start again with this message
        state.sessionId = null;
        delete body.session_id;
        data = await postJSON("/chat", body);
      } else {
        throw err;
      }
    }
    state.sessionId = data.session_id;
    render(data);
    const n = (data.recommendations || []).length;
    setStatus(`${n} result${n === 1 ? "" : "s"}${data.intent === "refine" ? " after refining" : ""}.`);
    $("#results-heading").focus();
  } catch (err) {
    const hint = err.suggestions && err.suggestions.length ? ` Did you mean: ${err.suggestions.join(", ")}?` : "";
    setStatus(`${err.message}${hint}`, true);
  } finally {
    state.busy = false;
    buttons.forEach((b) => { b.disabled = false; });
    $("#results").setAttribute("aria-busy", "false");
  }
}

function init() {
  $("#search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("#query").value.trim();
    if (q) send(q, true);
  });
  $("#refine-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("#refine").value.trim();
    if (q) {
      send(q, false);
      $("#refine").value = "";
    }
  });
  $("#reset-button").addEventListener("click", () => {
    state.sessionId = null;
    $("#results").replaceChildren();
    $("#answer").hidden = true;
    $("#request-panel").hidden = true;
    $("#refine-form").hidden = true;
    $("#empty").hidden = false;
    $("#empty").textContent = "Search to see recommendations.";
    setStatus("");
    $("#query").focus();
  });
  document.addEventListener("keydown", (ev) => {
    const tag = (ev.target && ev.target.tagName) || "";
    if (ev.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(tag)) {
      ev.preventDefault();
      $("#query").focus();
    }
  });
  const params = new URLSearchParams(location.search);
  if (params.get("q")) {
    $("#query").value = params.get("q");
    send(params.get("q"), true);
  }
  document.body.dataset.ready = "true";
}

init();
