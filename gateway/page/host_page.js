"use strict";
// Berth's host page. Without a token it only asks for one; the token is kept in sessionStorage.
// With it: GET /v1/host (capacity), GET /v1/boxes, then the GET /v1/events stream (NDJSON read
// with fetch, so that it carries the Authorization header), which keeps the boxes current.
// Data from the gateway is only ever written with textContent.
const KEY = "berth-token";
const $ = (id) => document.getElementById(id);
const POOLS = [["boxes", "boxes"], ["ttys", "TTYs"], ["tcpPorts", "TCP ports"],
               ["udpPorts", "UDP ports"], ["gpuSlots", "GPU slots"]];
let token = sessionStorage.getItem(KEY) || "";
let session = null;  // AbortController of the requests made with the current token
let boxes = new Map();  // box id -> Box
let hostTimer = 0;

class Refused extends Error {}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
const setStatus = (text) => { $("status").textContent = text; };
const lower = (value, prefix) => String(value || "").replace(prefix, "").toLowerCase();

function ask(message) {
  if (session) session.abort();
  token = "";
  sessionStorage.removeItem(KEY);
  $("host").hidden = $("forget").hidden = true;
  $("login").hidden = false;
  $("login-message").textContent = message;
  setStatus("");
  $("token").focus();
}

async function api(path) {
  const r = await fetch(path, {headers: {Authorization: "Bearer " + token},
                               cache: "no-store", signal: session.signal});
  if (r.status === 401) {
    ask("The gateway refused the token; paste another.");
    throw new Refused();
  }
  return r;
}

async function errorOf(r) {
  try { return (await r.json()).message; } catch (e) { return "HTTP " + r.status; }
}

async function json(path) {
  const r = await api(path);
  if (!r.ok) throw new Error(await errorOf(r));
  return r.json();
}

function showPool(key, label, usage) {
  const used = usage.used || 0;
  const fill = el("div", undefined, "fill");
  fill.style.width = Math.min(100, (100 * used) / usage.total) + "%";
  const bar = el("div", undefined, "bar");
  bar.append(fill);
  const row = el("div", undefined, used >= usage.total ? "pool full" : "pool");
  row.dataset.pool = key;
  row.append(el("span", label), bar, el("span", used + " / " + usage.total, "count"));
  return row;
}

async function loadHost() {
  try {
    const host = await json("/v1/host");
    const capacity = host.capacity || {};
    $("pools").replaceChildren(...POOLS.filter(([key]) => (capacity[key] || {}).total)
                                    .map(([key, label]) => showPool(key, label, capacity[key])));
    $("host-state").textContent = lower(host.drainState, "DRAIN_STATE_") + ", " +
        (host.boxes || 0) + " boxes" +
        (host.allocatorError ? "; allocator: " + host.allocatorError : "");
  } catch (e) {
    if (!(e instanceof Refused) && e.name !== "AbortError") $("host-state").textContent = e.message;
  }
}
const loadHostSoon = () => { clearTimeout(hostTimer); hostTimer = setTimeout(loadHost, 300); };

function age(timestamp) {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(timestamp)) / 1000));
  if (isNaN(s)) return "";
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  if (s < 60) return s + "s";
  if (m < 60) return m + "m " + (s % 60) + "s";
  return h < 48 ? h + "h " + (m % 60) + "m" : Math.floor(h / 24) + "d " + (h % 24) + "h";
}

const ports = (box) => (box.ports || []).map((p) => (p.containerPort || 0) + "/" +
    lower(p.protocol, "PROTOCOL_") + "\u2192" + (p.hostPort || 0)).join(" ");

function showBoxes() {
  const rows = [...boxes.values()].sort((a, b) => (a.boxId < b.boxId ? -1 : 1)).map((box) => {
    const state = lower(box.state, "BOX_STATE_");
    const row = el("tr");
    row.dataset.box = box.boxId;
    const id = el("td", box.boxId), user = el("td", box.userId || "");
    id.title = box.boxId;  // shown whole on hover when the cell cuts it
    user.title = box.userId || "";
    row.append(id, el("td", box.app || ""), el("td", state, state), user,
               el("td", age(box.createdAt)), el("td", ports(box)));
    return row;
  });
  $("boxes").tBodies[0].replaceChildren(...rows);
  $("box-count").textContent = "(" + boxes.size + ")";
}

async function loadBoxes() {
  try {
    boxes = new Map(((await json("/v1/boxes")).boxes || []).map((b) => [b.boxId, b]));
    showBoxes();
  } catch (e) {
    if (!(e instanceof Refused) && e.name !== "AbortError") setStatus(e.message);
  }
}

function logEvent(event) {
  const box = event.box || {};
  const item = el("li");
  item.append(el("time", new Date(event.time || Date.now()).toLocaleTimeString()),
              el("b", lower(event.kind, "KIND_")),
              el("span", box.boxId + " " + lower(box.state, "BOX_STATE_") +
                         (box.reason ? " (" + box.reason + ")" : "")));
  $("events").prepend(item);
  while ($("events").children.length > 50) $("events").lastChild.remove();
}

// One line of the stream; `snapshot` collects the boxes the stream begins with.
function onLine(line, snapshot) {
  const message = JSON.parse(line);
  if (message.error) {
    if (message.error.code === 16) ask(message.error.message);
    else setStatus(message.error.message);
    return;
  }
  const event = message.result || {}, box = event.box || {};
  if (event.kind === "KIND_SNAPSHOT") return void snapshot.set(box.boxId, box);
  if (event.kind === "KIND_SNAPSHOT_DONE") boxes = snapshot;
  else if (event.kind === "KIND_CHANGED") boxes.set(box.boxId, box);
  else if (event.kind === "KIND_GONE") boxes.delete(box.boxId);
  else return;
  if (event.kind !== "KIND_SNAPSHOT_DONE") { logEvent(event); loadHostSoon(); }
  showBoxes();
}

async function watch(current) {
  while (session === current && !current.signal.aborted) {
    try {
      const r = await api("/v1/events");
      if (!r.ok) throw new Error(await errorOf(r));
      setStatus("live");
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      const snapshot = new Map();
      let rest = "";
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        const lines = (rest + chunk.value).split("\n");
        rest = lines.pop();
        lines.filter((line) => line).forEach((line) => onLine(line, snapshot));
      }
      setStatus("events ended; reconnecting");
    } catch (e) {
      if (e instanceof Refused || current.signal.aborted) return;
      setStatus("events: " + e.message + "; reconnecting");
    }
    await new Promise((done) => setTimeout(done, 3000));
    if (!current.signal.aborted) { loadHost(); await loadBoxes(); }
  }
}

async function start() {
  session = new AbortController();
  $("login").hidden = true;
  $("host").hidden = $("forget").hidden = false;
  loadHost();
  await loadBoxes();
  if (token) watch(session);
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim().replace(/^Bearer\s+/i, "");
  $("token").value = "";
  if (!token) return;
  sessionStorage.setItem(KEY, token);
  start();
});
$("forget").addEventListener("click", () => ask(""));
setInterval(() => { if (token && !$("host").hidden) showBoxes(); }, 5000);
if (token) start(); else ask("");
