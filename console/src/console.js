// The live console: pick a route, subscribe, watch messages stream into a table, publish, and
// see per-topic message rates. Everything goes through the pubsub-client bundle.
//
// The route's capabilities (route_info, read at each connect) decide what is offered: start
// positions, group, partitions, key and headers, fetch and offsets, commit, ack and nack. A
// gateway without route_info gets everything, as before.

import { connect, bytesToText, bytesToHex, PubSubError, StartPosition } from "./pubsub-client.js";
import { RateChart } from "./chart.js";

const MAX_ROWS = 1000;
const MAX_FRAMES = 200;
const $ = (id) => document.getElementById(id);

const state = {
  client: null,
  routes: [],
  info: null, // route_info of the connected route, or null

  subs: [], // {sub, li, count}
  rows: [], // {m, tr}, newest first
  format: "text",
  pending: [], // messages waiting for the next frame
  total: 0,
};

const chart = new RateChart($("rates"));
globalThis.pubsubConsole = { state, chart };

// ---------------------------------------------------------------------------------------------
// routes and connection
// ---------------------------------------------------------------------------------------------

function wsBase(base) {
  // A gateway listening on every interface advertises 0.0.0.0: reach it where the page came from.
  const u = new URL(base);
  if (["0.0.0.0", "[::]", "::"].includes(u.hostname)) u.hostname = location.hostname;
  return u.toString().replace(/\/$/, "");
}

async function loadRoutes() {
  const select = $("route");
  try {
    const r = await fetch("/api/routes", { cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const data = await r.json();
    const base = wsBase(data.ws_base);
    state.routes = (data.routes ?? []).map((rt) => ({ ...rt, url: base + rt.uri }));
    select.replaceChildren(
      ...state.routes.map((rt, i) => new Option(`${rt.uri} (${rt.scheme})`, String(i))),
    );
    if (!state.routes.length) select.replaceChildren(new Option("no routes", ""));
  } catch (e) {
    select.replaceChildren(new Option("enter a URL", ""));
    $("url").value = `ws://${location.hostname || "127.0.0.1"}:9080/embedded`;
    note("sub-note", `cannot load /api/routes (${e.message}): enter a WebSocket URL above`, true);
    return;
  }
  if (state.routes.length) {
    $("url").value = state.routes[0].url;
    await reconnect();
  }
}

function setStatus(text, cls) {
  const s = $("status");
  s.textContent = text;
  s.className = `pill ${cls}`;
}

async function reconnect() {
  const url = $("url").value.trim();
  if (!url) return;
  if (state.client) {
    state.client.close();
    state.client = null;
  }
  for (const s of state.subs) s.li.remove();
  state.subs = [];
  setStatus("connecting…", "reconnecting");
  const token = $("token").value.trim();
  try {
    const client = await connect(url, token ? { token } : {});
    state.client = client;
    client.on("open", () => setStatus("connected", "connected"));
    client.on("close", () => setStatus("disconnected", "disconnected"));
    client.on("reconnecting", ({ attempt, delayMs }) =>
      setStatus(`reconnecting (${attempt}, ${Math.round(delayMs)} ms)`, "reconnecting"),
    );
    client.on("reconnect", () => setStatus("connected", "connected"));
    client.on("error", (e) => note("sub-note", e.message, true));
    client.on("frame", onFrame);
    setStatus("connected", "connected");
    note("sub-note", `connected to ${url}`);
    await readRouteInfo(client, url);
  } catch (e) {
    setStatus("disconnected", "disconnected");
    note("sub-note", e.message, true);
  }
}

// What the route can do; a gateway without route_info answers an error: offer everything.
async function readRouteInfo(client, url) {
  let info = null;
  try {
    info = await client.routeInfo();
  } catch (e) {
    if (!(e instanceof PubSubError) || e.code === 0) note("sub-note", describe(e), true);
  }
  if (state.client !== client) return;
  state.info = info;
  const fromList = state.routes.find((rt) => rt.url === url)?.scheme ?? "";
  const scheme = $("scheme");
  scheme.textContent = info?.scheme || fromList;
  scheme.title = info ? capabilitySummary(info.capabilities) : "capabilities unknown (no route_info)";
  applyCapabilities(info?.capabilities ?? null);
}

function capabilitySummary(c) {
  const has = ["history", "fetch", "offsets", "groups", "commit", "ack", "nack", "headers", "keys", "partitions", "epochs"]
    .filter((k) => c[k]);
  return `starts: ${c.starts.join(", ") || "none"}; ${has.join(", ")}${c.wildcards ? `; wildcards: ${c.wildcards}` : ""}`;
}

function can(cap) {
  const c = state.info?.capabilities;
  return !c || cap.split(" ").some((k) => c[k]);
}

function applyCapabilities(caps) {
  for (const el of document.querySelectorAll("[data-cap]")) el.hidden = caps ? !can(el.dataset.cap) : false;
  const select = $("sub-start");
  for (const opt of select.options) {
    const ok = !caps || caps.starts.includes(opt.value);
    opt.hidden = !ok;
    opt.disabled = !ok;
  }
  if (select.selectedOptions[0]?.disabled) {
    const first = [...select.options].find((o) => !o.disabled);
    if (first) select.value = first.value;
    select.dispatchEvent(new Event("change"));
  }
  $("sub-start").disabled = caps ? caps.starts.length === 0 : false;
  for (const { tr } of state.rows) tr.querySelector("td.actions").hidden = !can("ack nack");
}

$("route").addEventListener("change", () => {
  const rt = state.routes[Number($("route").value)];
  if (rt) {
    $("url").value = rt.url;
    reconnect();
  }
});
$("connect").addEventListener("click", () => reconnect());
// A fresh token for the open connection (JWT routes close connections whose token expired).
$("refresh").addEventListener("click", async () => {
  const token = $("token").value.trim();
  if (!state.client || !token) {
    note("sub-note", "connect, then put the fresh token in the token field", true);
    return;
  }
  try {
    await state.client.refresh(token);
    note("sub-note", "token refreshed");
  } catch (e) {
    note("sub-note", describe(e), true);
  }
});

// ---------------------------------------------------------------------------------------------
// subscribe
// ---------------------------------------------------------------------------------------------

$("sub-start").addEventListener("change", () => {
  const start = $("sub-start").value;
  const needsValue = ["OFFSET", "TIMESTAMP", "TIME_DELTA"].includes(start);
  $("sub-value").disabled = !needsValue;
  if (start === "TIMESTAMP") $("sub-value").value = String(Date.now() - 60000);
  else if (start === "TIME_DELTA") $("sub-value").value = "60000";
  else if (start === "OFFSET") $("sub-value").value = "0";
});

$("sub-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const client = state.client;
  if (!client) return note("sub-note", "not connected", true);
  const topic = $("sub-topic").value.trim();
  const start = $("sub-start").value;
  const opts = { start };
  if (!$("sub-value").disabled) opts.startValue = Number($("sub-value").value || 0);
  const parts = can("partitions") ? $("sub-partitions").value.trim() : "";
  if (parts) opts.partitions = parts.split(/[\s,]+/).filter(Boolean).map(Number);
  const group = can("groups") ? $("sub-group").value.trim() : "";
  if (group) opts.group = group;
  $("sub-button").disabled = true;
  try {
    const entry = { count: 0 };
    const sub = await client.subscribe(topic, opts, (m) => {
      entry.count += 1;
      entry.countEl.textContent = String(entry.count);
      onMessage(m);
    });
    entry.sub = sub;
    sub.on("reset", (ev) => onReset(entry, topic, ev));
    addSubEntry(entry, topic, opts);
    if (!$("pub-topic").value) $("pub-topic").value = topic;
    note("sub-note", `subscribed to ${topic} (${start.toLowerCase()})`);
  } catch (e) {
    note("sub-note", describe(e), true);
  } finally {
    $("sub-button").disabled = false;
  }
});

function addSubEntry(entry, topic, opts) {
  const li = document.createElement("li");
  const label = document.createElement("span");
  const extra = [opts.start.toLowerCase()];
  if (opts.startValue !== undefined) extra.push(String(opts.startValue));
  if (opts.partitions) extra.push(`p${opts.partitions.join(",")}`);
  if (opts.group) extra.push(`group ${opts.group}`);
  label.textContent = `${topic} · ${extra.join(" ")}`;
  label.title = label.textContent;
  const count = document.createElement("span");
  count.className = "count";
  count.textContent = "0";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary";
  button.textContent = "×";
  button.title = "unsubscribe";
  const commit = document.createElement("button");
  commit.type = "button";
  commit.className = "secondary commit";
  commit.textContent = "commit";
  commit.title = "commit what this subscription delivered (cmd_kafka_commit: the next offset per partition)";
  commit.hidden = !can("commit");
  commit.addEventListener("click", async () => {
    const positions = entry.sub.positions().map(({ topic, partition, offset }) => ({ topic, partition, offset }));
    if (!positions.length) return note("sub-note", "nothing delivered yet to commit");
    try {
      await entry.sub.commit(positions);
      note("sub-note", `committed ${positions.map((p) => `p${p.partition}@${p.offset}`).join(", ")}`);
    } catch (e) {
      note("sub-note", describe(e), true);
    }
  });
  button.addEventListener("click", async () => {
    li.remove();
    state.subs = state.subs.filter((s) => s !== entry);
    try {
      await entry.sub.unsubscribe();
    } catch (e) {
      note("sub-note", describe(e), true);
    }
  });
  li.dataset.topic = topic;
  li.append(label, count, commit, button);
  entry.li = li;
  entry.countEl = count;
  state.subs.push(entry);
  $("subs").append(li);
}

// The subscription's log was recreated (a gateway restart on the embedded broker, a stream made
// again): delivery started over, and the same offsets now name other messages. Say so where it
// cannot be missed, and mark the place in the table.
function onReset(entry, topic, ev) {
  const parts = ev.partitions.map((p) => `${p.topic} p${p.partition}`).join(", ");
  $("notice-text").textContent =
    `The log of ${parts} was recreated (epoch ${ev.partitions[0]?.previousEpoch} → ${ev.partitions[0]?.epoch}): ` +
    "delivery started over from the new log's beginning, and earlier offsets are void.";
  $("notice").hidden = false;
  entry.li.classList.add("reset");
  entry.li.title = `reset: ${parts}`;
  state.pending.push({ resetMark: `— log recreated: ${parts}; the rows above are from the new log —`, topic });
  if (state.pending.length === 1) requestAnimationFrame(flush);
}
$("notice-close").addEventListener("click", () => {
  $("notice").hidden = true;
});

// ---------------------------------------------------------------------------------------------
// messages table
// ---------------------------------------------------------------------------------------------

function onMessage(m) {
  chart.add(m.topic);
  state.pending.push(m);
  if (state.pending.length === 1) requestAnimationFrame(flush);
}

function flush() {
  const batch = state.pending;
  state.pending = [];
  if (!batch.length) return;
  const tbody = $("messages").tBodies[0];
  tbody.querySelector("tr.placeholder")?.remove();
  const frag = document.createDocumentFragment();
  let added = 0;
  for (let i = batch.length - 1; i >= 0; i--) {
    const m = batch[i];
    if (m.resetMark) {
      frag.append(resetRow(m.resetMark));
      continue;
    }
    const tr = renderRow(m);
    frag.append(tr);
    state.rows.unshift({ m, tr });
    added += 1;
  }
  tbody.prepend(frag);
  state.total += added;
  while (state.rows.length > MAX_ROWS) state.rows.pop().tr.remove();
  $("msg-count").textContent = `(${state.total}${state.total > MAX_ROWS ? `, last ${MAX_ROWS} shown` : ""})`;
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function resetRow(text) {
  const tr = document.createElement("tr");
  tr.className = "reset-mark";
  const td = cell(text, "reset");
  td.colSpan = 9;
  tr.append(td);
  return tr;
}

function ackButtons(m) {
  const td = cell("", "actions");
  td.hidden = !can("ack nack");
  if (typeof m.ack !== "function") return td;
  for (const [name, cap] of [["ack", "ack"], ["nack", "nack"]]) {
    if (!can(cap)) continue;
    const b = document.createElement("button");
    b.type = "button";
    b.className = `secondary ${name}`;
    b.textContent = name;
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await m[name]();
        for (const x of td.querySelectorAll("button")) x.disabled = true;
        td.title = `${name}ed`;
      } catch (e) {
        b.disabled = false;
        note("sub-note", describe(e), true);
      }
    });
    td.append(b);
  }
  return td;
}

// Epochs are long (often a clock in nanoseconds): the table shows their end, which is what
// differs between two generations; the cell's title has all of it.
function epochCell(epoch) {
  const full = epoch && epoch !== "0" ? epoch : "";
  const td = cell(full.length > 8 ? `…${full.slice(-6)}` : full, "mono epoch");
  td.title = full;
  return td;
}

// A group's redelivery is marked beside its position: the delivery attempt, in the title too.
function offsetCell(m) {
  const again = m.deliveryAttempt > 1 ? ` ×${m.deliveryAttempt}` : "";
  const td = cell((m.position || String(m.offset)) + again, "num offset");
  if (m.deliveryAttempt) td.title = `delivery attempt ${m.deliveryAttempt}`;
  return td;
}

function renderRow(m) {
  const tr = document.createElement("tr");
  tr.className = "fresh";
  tr.dataset.topic = m.topic;
  tr.dataset.partition = String(m.partition);
  tr.dataset.offset = String(m.offset);
  tr.dataset.epoch = m.epoch ?? "0";
  if (m.position) tr.dataset.position = m.position;
  const time = cell(formatTime(m.timestamp), "mono time");
  time.title = m.timestamp ? new Date(m.timestamp).toISOString() : "";
  const headers = m.headers.map((h) => `${h.key}=${bytesToText(h.value)}`).join(", ");
  tr.append(
    cell(m.topic, "topic"),
    cell(String(m.partition), "num partition"),
    offsetCell(m),
    epochCell(m.epoch),
    time,
    cell(show(m.key), "mono key"),
    cell(headers, "mono headers"),
    cell(show(m.value), "value"),
    ackButtons(m),
  );
  return tr;
}

function show(bytes) {
  if (!bytes || !bytes.length) return "";
  return state.format === "hex" ? bytesToHex(bytes) : bytesToText(bytes);
}

function formatTime(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function setFormat(format) {
  state.format = format;
  $("fmt-text").setAttribute("aria-pressed", String(format === "text"));
  $("fmt-hex").setAttribute("aria-pressed", String(format === "hex"));
  for (const { m, tr } of state.rows) {
    tr.querySelector("td.key").textContent = show(m.key);
    tr.querySelector("td.value").textContent = show(m.value);
  }
}
$("fmt-text").addEventListener("click", () => setFormat("text"));
$("fmt-hex").addEventListener("click", () => setFormat("hex"));
$("clear").addEventListener("click", () => {
  for (const { tr } of state.rows) tr.remove();
  for (const tr of document.querySelectorAll("#messages tr.reset-mark")) tr.remove();
  state.rows = [];
  state.total = 0;
  $("msg-count").textContent = "";
  chart.clear();
});

// ---------------------------------------------------------------------------------------------
// frames as JSON: the proto3 JSON mapping, as a `pubsub.json` session exchanges them (int64 as
// strings, bytes as base64, enums by name); built only while the switch is on.
// ---------------------------------------------------------------------------------------------

const INT64 = new Set([
  "sequence", "offset", "timestamp", "startValue", "startEpoch", "subscriptionId", "epoch",
  "earliest", "latest", "delayMs", "dropped",
]);
const START_NAMES = Object.fromEntries(Object.entries(StartPosition).map(([k, v]) => [v, k]));

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function proto3Json(v, key) {
  if (v instanceof Uint8Array) return base64(v);
  if (Array.isArray(v)) return v.map((x) => proto3Json(x, key));
  if (v && typeof v === "object" && "low" in v && "high" in v) return v.toString(); // Long
  if (typeof v === "number" && (key === "start" || key === "starts")) return START_NAMES[v] ?? v;
  if (typeof v === "number" && INT64.has(key)) return String(v);
  if (v && typeof v === "object") {
    // for…in: a decoded message's defaults live on its prototype, and every field is shown, as
    // the gateway writes them on a pubsub.json session.
    const out = {};
    for (const k in v) {
      const x = v[k];
      if (x !== undefined && x !== null && typeof x !== "function") out[k] = proto3Json(x, k);
    }
    return out;
  }
  return v;
}

function onFrame({ direction, message }) {
  if (!$("show-json").checked) return;
  const li = document.createElement("li");
  li.className = direction;
  li.textContent = JSON.stringify(proto3Json(message, ""));
  const list = $("frames");
  list.prepend(li);
  while (list.children.length > MAX_FRAMES) list.lastElementChild.remove();
  $("frame-count").textContent = `(last ${list.children.length})`;
}
$("show-json").addEventListener("change", () => {
  $("frames-section").hidden = !$("show-json").checked;
});
$("frames-clear").addEventListener("click", () => {
  $("frames").replaceChildren();
  $("frame-count").textContent = "";
});

// ---------------------------------------------------------------------------------------------
// publish
// ---------------------------------------------------------------------------------------------

function parseHeaders(text) {
  const out = [];
  for (const part of text.split(/[,\n]/)) {
    const t = part.trim();
    if (!t) continue;
    const i = t.indexOf("=");
    out.push(i < 0 ? [t, ""] : [t.slice(0, i).trim(), t.slice(i + 1).trim()]);
  }
  return out;
}

$("pub-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const client = state.client;
  if (!client) return note("pub-note", "not connected", true);
  const topic = $("pub-topic").value.trim();
  const o = { headers: can("headers") ? parseHeaders($("pub-headers").value) : [] };
  const key = can("keys") ? $("pub-key").value : "";
  if (key) o.key = key;
  const partition = can("partitions") ? $("pub-partition").value.trim() : "";
  if (partition) o.partition = Number(partition);
  $("pub-button").disabled = true;
  try {
    const r = await client.produce(topic, $("pub-value").value, o);
    note("pub-note", `published to ${topic}, partition ${r.partition}, offset ${r.offset}`);
  } catch (e) {
    note("pub-note", describe(e), true);
  } finally {
    $("pub-button").disabled = false;
  }
});

// ---------------------------------------------------------------------------------------------
// read: fetch stored messages, offsets
// ---------------------------------------------------------------------------------------------

function readTarget() {
  const topic = $("read-topic").value.trim() || $("sub-topic").value.trim() || $("pub-topic").value.trim();
  const partition = can("partitions") ? Number($("read-partition").value || 0) : 0;
  return { topic, partition };
}

$("read-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const client = state.client;
  if (!client) return note("read-note", "not connected", true);
  const { topic, partition } = readTarget();
  if (!topic) return note("read-note", "which topic?", true);
  const offset = Number($("read-offset").value || 0);
  try {
    const messages = await client.fetch(topic, partition, offset, { maxMessages: 100 });
    state.pending.push(...messages);
    if (state.pending.length === messages.length && messages.length) requestAnimationFrame(flush);
    note("read-note", `fetched ${messages.length} from ${topic} p${partition} at ${offset}`);
  } catch (e) {
    note("read-note", describe(e), true);
  }
});

$("offsets-button").addEventListener("click", async () => {
  const client = state.client;
  if (!client) return note("read-note", "not connected", true);
  const { topic } = readTarget();
  if (!topic) return note("read-note", "which topic?", true);
  try {
    const m = await client.metadata(topic);
    note("read-note", m.partitions.map((p) => `p${p.partition}: ${p.earliest}…${p.latest}`).join(", "));
  } catch (e) {
    note("read-note", describe(e), true);
  }
});

// ---------------------------------------------------------------------------------------------

function describe(e) {
  return e instanceof PubSubError && e.code ? `${e.code}: ${e.message}` : e.message;
}

function note(id, text, error = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", error);
}

function tick() {
  chart.draw();
  const rates = Object.values(chart.rates()).reduce((a, b) => a + b, 0);
  $("rate-total").textContent = chart.series.size ? `${Math.round(rates * 10) / 10} msg/s in total (3 s average)` : "";
}
setInterval(tick, 1000);
addEventListener("resize", () => chart.draw());
tick();

loadRoutes();
