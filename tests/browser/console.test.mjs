// Test 1: the live console, loaded from the running gateway's admin listener
// (http://ADMIN/console/), in headless Chromium: routes from /api/routes, subscribe from several
// start positions, messages published from Node and from a second tab stream into the table,
// key and headers, text/hex, the rate chart, unsubscribe; the route's scheme and capabilities
// deciding what is offered; the reset notice after a gateway restart.
//
// PUBSUB_TEST_CONSOLE_FROM_DIST=1 serves console/dist from a test server instead (with
// /api/routes taken from the admin listener): only for working on the console with a gateway
// that does not serve it; the real test is without it.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  HTML,
  JS,
  jwtHS256,
  launchBrowser,
  lib,
  NATS_URL,
  natsRequest,
  newPage,
  nodeClient,
  readRepo,
  require,
  sleep,
  startGateway,
  staticServer,
  uniqueTopic,
  waitFor,
} from "./harness.mjs";

const { bytesToHex, toBytes } = lib;

async function consoleUrl(gw, t) {
  if (process.env.PUBSUB_TEST_CONSOLE_FROM_DIST !== "1") return gw.consoleUrl;
  const routes = await (await fetch(`${gw.admin}/api/routes`)).text();
  const s = await staticServer({
    "/console/": { type: HTML, body: () => readRepo("console/dist/index.html") },
    "/console/index.html": { type: HTML, body: () => readRepo("console/dist/index.html") },
    "/console/console.js": { type: JS, body: () => readRepo("console/dist/console.js") },
    "/console/pubsub-client.js": { type: JS, body: () => readRepo("clients/js/dist/pubsub-client.js") },
    "/api/routes": { type: "application/json", body: routes },
  });
  t.after(() => s.close());
  return `${s.origin}/console/`;
}

async function openConsole(browser, url) {
  const page = await newPage(browser);
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected", null, {
    timeout: 15000,
  });
  return page;
}

async function subscribe(page, topic, { start = "LATEST", value, partitions } = {}) {
  const before = await page.locator("#subs li").count();
  await page.fill("#sub-topic", topic);
  await page.selectOption("#sub-start", start);
  if (value !== undefined) await page.fill("#sub-value", String(value));
  // Hidden on routes without partitions.
  if (partitions !== undefined || (await page.locator("#sub-partitions").isVisible())) {
    await page.fill("#sub-partitions", partitions ?? "");
  }
  await page.click("#sub-button");
  await page.locator("#subs li").nth(before).waitFor({ timeout: 10000 });
  assert.match(await page.textContent("#sub-note"), /^subscribed to /);
}

const row = (page, topic, partition, offset) =>
  page.locator(`#messages tbody tr[data-topic="${topic}"][data-partition="${partition}"][data-offset="${offset}"]`);

async function cells(locator) {
  await locator.waitFor({ timeout: 10000 });
  return locator.evaluate((tr) =>
    Object.fromEntries([...tr.cells].map((td) => [td.classList[td.classList.length - 1], td.textContent])),
  );
}

test("console: routes, subscribe, messages from Node and another tab, key, headers, hex, chart, unsubscribe", { timeout: 120000 }, async (t) => {
  const gw = await startGateway({
    routes: [{ uri: "/embedded", upstream: { scheme: "embedded", embedded: { partitions: 2 } } }],
  });
  t.after(() => gw.stop());
  const url = await consoleUrl(gw, t);

  // The admin listener serves the page, its scripts and the routes.
  for (const [path, type] of [
    ["/console/", /^text\/html/],
    ["/console/index.html", /^text\/html/],
    ["/console/console.js", /javascript/],
    ["/console/pubsub-client.js", /javascript/],
    ["/api/routes", /^application\/json/],
  ]) {
    const r = await fetch(new URL(path, url));
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get("content-type"), type, path);
  }
  const routes = await (await fetch(new URL("/api/routes", url))).json();
  assert.deepEqual(routes, { ws_base: gw.ws, routes: [{ uri: "/embedded", scheme: "embedded" }] });

  const browser = await launchBrowser();
  t.after(() => browser.close());

  const page = await openConsole(browser, url);
  assert.deepEqual(await page.locator("#route option").allTextContents(), ["/embedded (embedded)"]);
  assert.equal(await page.inputValue("#url"), `${gw.ws}/embedded`);

  const topic = uniqueTopic("console");
  const producer = await nodeClient(`${gw.ws}/embedded`);
  t.after(() => producer.close());

  // Messages that exist before subscribing: EARLIEST shows them.
  const before = [];
  for (const v of ["before-1", "before-2", "before-3"]) before.push(await producer.produce(topic, v, { partition: 0 }));
  await subscribe(page, topic, { start: "EARLIEST" });
  for (const [i, r] of before.entries()) {
    const c = await cells(row(page, topic, r.partition, r.offset));
    assert.equal(c.value, `before-${i + 1}`);
  }

  // Published from Node while subscribed, with key and headers.
  const fromNode = await producer.produce(topic, "from node ✓", {
    key: "k-node",
    headers: { source: "node", n: "1" },
    partition: 1,
  });
  let c = await cells(row(page, topic, fromNode.partition, fromNode.offset));
  assert.equal(c.topic, topic);
  assert.equal(c.partition, "1");
  assert.equal(c.offset, String(fromNode.offset));
  assert.equal(c.key, "k-node");
  assert.equal(c.headers, "source=node, n=1");
  assert.equal(c.value, "from node ✓");
  assert.match(c.time, /^\d\d:\d\d:\d\d\.\d{3}$/);

  // Published from a second tab through the console's form.
  const page2 = await openConsole(browser, url);
  await page2.fill("#pub-topic", topic);
  await page2.fill("#pub-key", "user-7");
  await page2.fill("#pub-headers", "trace=abc, kind=chat");
  await page2.fill("#pub-value", "hello from tab 2");
  await page2.click("#pub-button");
  await page2.waitForFunction(() => /^published to /.test(document.getElementById("pub-note").textContent));
  const note = await page2.textContent("#pub-note");
  const [, partition, offset] = note.match(/partition (\d+), offset (\d+)/);
  c = await cells(row(page, topic, partition, offset));
  assert.deepEqual([c.key, c.headers, c.value], ["user-7", "trace=abc, kind=chat", "hello from tab 2"]);

  // Hex and back.
  await page.click("#fmt-hex");
  c = await cells(row(page, topic, partition, offset));
  assert.equal(c.value, bytesToHex(toBytes("hello from tab 2")));
  assert.equal(c.key, "75 73 65 72 2d 37");
  await page.click("#fmt-text");
  c = await cells(row(page, topic, partition, offset));
  assert.equal(c.value, "hello from tab 2");

  // The second tab subscribes from an offset of one partition: only what follows it there.
  await subscribe(page2, topic, { start: "OFFSET", value: 1, partitions: "0" });
  await row(page2, topic, 0, 2).waitFor({ timeout: 10000 });
  await row(page2, topic, 0, 1).waitFor({ timeout: 10000 });
  assert.equal(await row(page2, topic, 0, 0).count(), 0);
  assert.equal(await page2.locator(`#messages tbody tr[data-partition="1"]`).count(), 0);

  // A burst: every message lands in the table and in the rate chart.
  const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.produce(topic, `burst ${i}`)));
  for (const r of burst) await row(page, topic, r.partition, r.offset).waitFor({ timeout: 10000 });
  const total = 3 + 1 + 1 + burst.length;
  assert.equal(await page.locator("#messages tbody tr").count(), total);
  assert.equal(await page.textContent("#msg-count"), `(${total})`);
  const counted = await page.evaluate(
    (topic) => [...globalThis.pubsubConsole.chart.series.get(topic).buckets.values()].reduce((a, b) => a + b, 0),
    topic,
  );
  assert.equal(counted, total);
  // Once the burst's second is complete, the chart draws its line (the first series' colour).
  await sleep(1100);
  const drawn = await page.evaluate(() => {
    const c = document.getElementById("rates");
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] === 0x2b && d[i + 1] === 0x6c && d[i + 2] === 0xd4) n++;
    return n;
  });
  assert.ok(drawn > 50, `chart line pixels: ${drawn}`);
  assert.match(await page.textContent("#rate-total"), /msg\/s in total/);

  // Unsubscribe: nothing more arrives.
  await page.click(`#subs li button[title="unsubscribe"]`);
  await page.locator("#subs li").waitFor({ state: "detached" });
  const after = await producer.produce(topic, "after unsubscribe");
  await sleep(500);
  assert.equal(await row(page, topic, after.partition, after.offset).count(), 0);
  assert.equal(await page.locator("#messages tbody tr").count(), total);

  assert.deepEqual(page.problems, []);
  assert.deepEqual(page2.problems, []);
});

test("console: a token typed in the token field refreshes the open connection past the old token's exp", { timeout: 60000 }, async (t) => {
  const secret = "console-test-secret";
  const gw = await startGateway({
    routes: [{
      uri: "/jwt",
      upstream: { scheme: "embedded" },
      plugins: { "jwt-auth": { algorithm: "HS256", secret, leeway_secs: 0 } },
    }],
  });
  t.after(() => gw.stop());
  const url = await consoleUrl(gw, t);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  // The first automatic connect has no token and is refused.
  const page = await newPage(browser, { ignore: [/WebSocket connection to .* failed/] });
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent === "disconnected", null, {
    timeout: 15000,
  });
  const exp = (s) => Math.floor(Date.now() / 1000) + s;
  await page.fill("#token", await jwtHS256(secret, { sub: "console", exp: exp(3) }));
  await page.click("#connect");
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected", null, {
    timeout: 15000,
  });

  await page.fill("#token", "not-a-token");
  await page.click("#refresh");
  await page.waitForFunction(() => /^401: /.test(document.getElementById("sub-note").textContent), null, {
    timeout: 10000,
  });
  await page.fill("#token", await jwtHS256(secret, { sub: "console", exp: exp(600) }));
  await page.click("#refresh");
  await page.waitForFunction(() => document.getElementById("sub-note").textContent === "token refreshed", null, {
    timeout: 10000,
  });
  // Past the first token's exp, the connection is the same one and still open: the status never
  // changes (a close would show "disconnected", then "reconnecting").
  await page.evaluate(() => {
    window.statusChanges = [];
    new MutationObserver(() => window.statusChanges.push(document.getElementById("status").textContent))
      .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });
  });
  await sleep(4500);
  assert.equal(await page.textContent("#status"), "connected");
  assert.deepEqual(await page.evaluate(() => window.statusChanges), []);
  assert.equal(await page.evaluate(() => document.getElementById("sub-note").textContent), "token refreshed");
});

const startOptions = (page) =>
  page.$$eval("#sub-start option", (os) => os.filter((o) => !o.disabled && !o.hidden).map((o) => o.value));
const shown = (page, sel) => page.locator(sel).isVisible();

test("console: an embedded route shows its scheme and offers every start position, fetch, offsets, commit and the ack column", { timeout: 90000 }, async (t) => {
  const gw = await startGateway({
    routes: [{ uri: "/embedded", upstream: { scheme: "embedded", embedded: { partitions: 2 } } }],
  });
  t.after(() => gw.stop());
  const url = await consoleUrl(gw, t);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const page = await openConsole(browser, url);

  // The embedded route: every start position, groups, partitions, fetch and offsets, commit, and
  // per-message ack and nack (issue #25).
  await page.waitForFunction(() => document.getElementById("scheme").textContent === "embedded");
  assert.match(await page.getAttribute("#scheme", "title"), /^starts: LATEST, EARLIEST, LAST, OFFSET, TIMESTAMP, TIME_DELTA; history, fetch, offsets, groups, commit/);
  assert.deepEqual(await startOptions(page), ["LATEST", "EARLIEST", "LAST", "OFFSET", "TIMESTAMP", "TIME_DELTA"]);
  for (const sel of ["#sub-group", "#sub-partitions", "#pub-key", "#pub-headers", "#pub-partition", "#read-section", "#fetch-button", "#offsets-button"]) {
    assert.equal(await shown(page, sel), true, sel);
  }
  assert.equal(await shown(page, "#messages th[data-cap]"), true, "the ack column");

  const topic = uniqueTopic("console-caps");
  const producer = await nodeClient(`${gw.ws}/embedded`);
  t.after(() => producer.close());
  const r0 = await producer.produce(topic, "one", { partition: 0 });
  await subscribe(page, topic, { start: "EARLIEST" });
  const tr = row(page, topic, 0, r0.offset);
  const c = await cells(tr);
  assert.equal(c.value, "one");
  const epoch = await tr.getAttribute("data-epoch");
  assert.match(epoch, /^[1-9][0-9]{8,}$/, "the message's epoch");
  assert.equal(c.epoch, `…${epoch.slice(-6)}`, "the epoch's end is shown");
  assert.equal(await tr.locator("td.epoch").getAttribute("title"), epoch, "all of it in the title");
  assert.equal(await tr.locator("td.actions").isVisible(), true);
  // commit: cumulative, beside the per-message ack.
  await page.click("#subs li button.commit");
  await page.waitForFunction(() => document.getElementById("sub-note").textContent === "committed p0@1");
  // Offsets and fetch.
  await page.fill("#read-topic", topic);
  await page.click("#offsets-button");
  await page.waitForFunction(() => /^p0: 0…1, p1: 0…0$/.test(document.getElementById("read-note").textContent));
  await page.click("#fetch-button");
  await page.waitForFunction(() => /^fetched 1 from /.test(document.getElementById("read-note").textContent));

  assert.deepEqual(page.problems, []);
});

test("console: the JSON switch shows every frame sent and received as its proto3 JSON, the same a pubsub.json session gets", { timeout: 90000 }, async (t) => {
  const gw = await startGateway({ routes: [{ uri: "/embedded", upstream: { scheme: "embedded" } }] });
  t.after(() => gw.stop());
  const url = await consoleUrl(gw, t);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const page = await openConsole(browser, url);
  assert.equal(await page.locator("#frames-section").isVisible(), false, "off by default");
  await page.check("#show-json");
  assert.equal(await page.locator("#frames-section").isVisible(), true);

  const topic = uniqueTopic("console-json");
  await subscribe(page, topic, { start: "EARLIEST" });
  const producer = await nodeClient(`${gw.ws}/embedded`);
  t.after(() => producer.close());
  await producer.produce(topic, "hi json", { key: "k" });
  await row(page, topic, 0, 0).waitFor({ timeout: 10000 });
  const frames = await page.locator("#frames li").evaluateAll((lis) =>
    lis.map((li) => ({ direction: li.className, json: JSON.parse(li.textContent) })),
  );
  const sent = frames.find((f) => f.direction === "sent" && f.json.cmdKafkaSubscribe);
  assert.ok(sent, JSON.stringify(frames));
  assert.equal(sent.json.cmdKafkaSubscribe.topic, topic);
  assert.equal(sent.json.cmdKafkaSubscribe.start, "EARLIEST", "enums by name");
  const push = frames.find((f) => f.direction === "received" && f.json.kafkaPush);
  assert.ok(push, JSON.stringify(frames));
  const m = push.json.kafkaPush.messages[0];
  assert.equal(m.value, btoa("hi json"), "bytes as base64");
  assert.equal(m.key, btoa("k"));
  assert.equal(m.offset, "0", "int64 as a string");
  assert.equal(typeof push.json.sequence, "string");
  // The gateway's own JSON for the same message, from a pubsub.json session, agrees.
  const WebSocket = require("ws");
  const ws = new WebSocket(`${gw.ws}/embedded`, ["pubsub.json"]);
  t.after(() => ws.close());
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  assert.equal(ws.protocol, "pubsub.json");
  const reply = new Promise((resolve) => ws.once("message", (data) => resolve(JSON.parse(String(data)))));
  ws.send(JSON.stringify({ sequence: "1", cmdKafkaFetch: { topic, partition: 0, offset: "0" } }));
  const fetched = (await reply).kafkaFetchResp.messages[0];
  for (const k of ["value", "key", "offset", "topic", "timestamp", "epoch"]) assert.equal(m[k], fetched[k], k);
  await page.uncheck("#show-json");
  assert.equal(await page.locator("#frames-section").isVisible(), false);
  assert.deepEqual(page.problems, []);
});

// The real NATS server (127.0.0.1:4222 with JetStream, as for tests/it/nats/) behind two routes
// of the real gateway: core NATS (LATEST only, no history, no keys or partitions, no commit or
// ack) and a JetStream stream the route creates for this test (groups acknowledge message by
// message).
test("console: a core NATS route offers only LATEST; on a JetStream route with a group, ack and nack reach the server", { timeout: 120000 }, async (t) => {
  const prefix = uniqueTopic("console-js");
  const stream = `CONSOLE_${process.pid}_${Date.now().toString(36)}`;
  const ackWait = 2;
  const nats = { nodes: { [NATS_URL]: 1 }, timeout: { connect: 2, send: 5, read: 5 } };
  const gw = await startGateway({
    routes: [
      { uri: "/nats", upstream: { scheme: "nats", ...nats } },
      {
        uri: "/js",
        upstream: {
          scheme: "nats",
          ...nats,
          // An hour at most, should the deletion below not happen.
          nats: { stream, create_stream: { subjects: [`${prefix}.>`], max_age_secs: 3600 }, ack_wait_secs: ackWait },
        },
      },
    ],
  });
  t.after(() => gw.stop());
  t.after(async () => {
    const r = await natsRequest(`$JS.API.STREAM.DELETE.${stream}`);
    assert.equal(r.success, true, `stream ${stream} deleted: ${JSON.stringify(r)}`);
  });
  const url = await consoleUrl(gw, t);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const page = await openConsole(browser, url);
  const { routes } = await (await fetch(`${gw.admin}/api/routes`)).json();
  assert.deepEqual(routes, [{ uri: "/nats", scheme: "nats" }, { uri: "/js", scheme: "nats-jetstream" }]);
  const useRoute = async (uri, scheme) => {
    await page.selectOption("#route", { label: `${uri} (${scheme})` });
    await page.waitForFunction((s) => document.getElementById("scheme").textContent === s && document.getElementById("status").textContent === "connected", scheme, { timeout: 15000 });
    assert.equal(await page.inputValue("#url"), `${gw.ws}${uri}`);
  };

  // Core NATS: LATEST only; no partitions, keys, fetch or offsets, commit or ack; groups, headers.
  await useRoute("/nats", "nats");
  assert.match(await page.getAttribute("#scheme", "title"), /^starts: LATEST; groups, headers; wildcards: nats$/);
  assert.deepEqual(await startOptions(page), ["LATEST"]);
  assert.equal(await page.inputValue("#sub-start"), "LATEST");
  for (const sel of ["#sub-partitions", "#pub-key", "#pub-partition", "#read-section", "#fetch-button", "#offsets-button", "#messages th[data-cap]"]) {
    assert.equal(await shown(page, sel), false, `${sel} hidden`);
  }
  for (const sel of ["#sub-group", "#pub-headers"]) assert.equal(await shown(page, sel), true, sel);
  const subject = `${prefix}.core`;
  await subscribe(page, subject);
  assert.equal(await page.locator("#subs li button.commit").isVisible(), false, "no commit on core NATS");
  const core = await nodeClient(`${gw.ws}/nats`);
  t.after(() => core.close());
  const sent = await core.produce(subject, "over core NATS", { headers: { via: "node" } });
  assert.equal(sent.offset, -1, "core NATS has no positions");
  const cr = page.locator(`#messages tbody tr[data-topic="${subject}"]`);
  const cc = await cells(cr);
  assert.deepEqual([cc.partition, cc.offset, cc.epoch, cc.headers, cc.value], ["0", "-1", "", "via=node", "over core NATS"]);
  assert.equal(await cr.locator("td.actions").isVisible(), false, "no ack on core NATS");

  // JetStream: a stored log (every start, fetch, offsets), ack and nack instead of commit.
  await useRoute("/js", "nats-jetstream");
  assert.deepEqual(await startOptions(page), ["LATEST", "EARLIEST", "LAST", "OFFSET", "TIMESTAMP", "TIME_DELTA"]);
  for (const sel of ["#sub-group", "#pub-headers", "#read-section", "#messages th[data-cap]"]) assert.equal(await shown(page, sel), true, sel);
  for (const sel of ["#sub-partitions", "#pub-key"]) assert.equal(await shown(page, sel), false, `${sel} hidden`);
  const topic = `${prefix}.orders`;
  const group = `console-group-${process.pid}`;
  await page.fill("#sub-group", group);
  await subscribe(page, topic);
  assert.equal(await page.locator("#subs li button.commit").last().isVisible(), false, "no commit on JetStream");
  const producer = await nodeClient(`${gw.ws}/js`);
  t.after(() => producer.close());
  const m1 = await producer.produce(topic, "to ack");
  const m2 = await producer.produce(topic, "to nack");
  assert.deepEqual([m1.partition, m2.offset - m1.offset], [0, 1], "stream sequences");
  const r1 = row(page, topic, 0, m1.offset);
  const r2 = row(page, topic, 0, m2.offset);
  const sel2 = `#messages tbody tr[data-topic="${topic}"][data-partition="0"][data-offset="${m2.offset}"]`;
  assert.equal((await cells(r1)).value, "to ack");
  assert.equal((await cells(r2)).value, "to nack");
  const consumer = () => natsRequest(`$JS.API.CONSUMER.INFO.${stream}.${group}`);
  let info = await consumer();
  assert.equal(info.num_ack_pending, 2, JSON.stringify(info));

  await r1.locator("button.ack").click();
  // The clicked button disables itself at once; the title comes with the gateway's answer.
  await r1.locator('td.actions[title="acked"]').waitFor({ timeout: 10000 });
  assert.equal(await r1.locator("button.nack").isDisabled(), true);
  assert.equal(await r1.locator("td.actions").getAttribute("title"), "acked");
  // The server has the ack (the gateway answers once the server confirmed it).
  info = await consumer();
  assert.deepEqual([info.ack_floor.stream_seq, info.num_ack_pending], [m1.offset, 1], JSON.stringify(info));

  // nack: the server delivers the message again, to the group's only member (a second row).
  await r2.locator("button.nack").click();
  await r2.locator('td.actions[title="nacked"]').waitFor({ timeout: 10000 });
  await waitFor(async () => (await r2.count()) === 2, { message: "the nacked message redelivered" });
  // The new row is the one whose buttons are still enabled.
  const again = r2.filter({ has: page.locator("button.ack:not([disabled])") });
  assert.equal(await again.count(), 1);
  assert.equal((await cells(again)).value, "to nack");
  await again.locator("button.ack").click();
  await page.locator(`${sel2} td.actions[title="acked"]`).waitFor({ timeout: 10000 });
  info = await consumer();
  // Three deliveries of two messages, both acknowledged.
  assert.deepEqual([info.ack_floor.stream_seq, info.num_ack_pending, info.delivered.consumer_seq], [m2.offset, 0, 3], JSON.stringify(info));

  // A second member of the group, and more than twice the ack wait: nobody gets either again.
  const other = await nodeClient(`${gw.ws}/js`);
  t.after(() => other.close());
  const got = [];
  await other.subscribe(topic, { group }, (m) => got.push(m.offset));
  await sleep(2 * ackWait * 1000 + 1000);
  assert.deepEqual(got, []);
  assert.equal(await r1.count(), 1);
  assert.equal(await r2.count(), 2);
  // The group still works: a new message reaches one of the two members.
  const m3 = await producer.produce(topic, "after");
  await waitFor(async () => got.includes(m3.offset) || (await row(page, topic, 0, m3.offset).count()) === 1, { message: "m3 delivered" });

  assert.deepEqual(page.problems, []);
});

test("console: after the gateway restarts, a subscription into the recreated log shows a reset notice and the new log's messages", { timeout: 90000 }, async (t) => {
  const gw = await startGateway({
    routes: [{ uri: "/embedded", upstream: { scheme: "embedded", embedded: { partitions: 1 } } }],
  });
  t.after(() => gw.stop());
  const url = await consoleUrl(gw, t);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const page = await newPage(browser, { ignore: [/WebSocket connection to .* failed/] });
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected", null, { timeout: 15000 });

  const topic = uniqueTopic("console-reset");
  let producer = await nodeClient(`${gw.ws}/embedded`, { reconnect: false });
  for (let i = 0; i < 3; i++) await producer.produce(topic, `old-${i}`);
  producer.close();
  await subscribe(page, topic, { start: "EARLIEST" });
  const old = await cells(row(page, topic, 0, 2));
  assert.equal(old.value, "old-2");
  old.epoch = await row(page, topic, 0, 2).getAttribute("data-epoch");
  assert.equal(await page.locator("#notice").isVisible(), false);

  await gw.restart();
  await page.waitForFunction(() => globalThis.pubsubConsole.state.subs[0]?.sub.resubscriptions === 1, null, { timeout: 30000 });
  producer = await nodeClient(`${gw.ws}/embedded`, { reconnect: false });
  t.after(() => producer.close());
  for (let i = 0; i < 2; i++) await producer.produce(topic, `new-${i}`);

  await page.locator("#notice").waitFor({ state: "visible", timeout: 15000 });
  const text = await page.textContent("#notice-text");
  assert.match(text, new RegExp(`^The log of ${topic} p0 was recreated \\(epoch ${old.epoch} → \\d+\\): delivery started over from the new log's beginning, and earlier offsets are void\\.$`));
  const newEpoch = text.match(/→ (\d+)/)[1];
  assert.notEqual(newEpoch, old.epoch);
  for (const offset of [0, 1]) {
    const c = await cells(page.locator(`#messages tbody tr[data-topic="${topic}"][data-offset="${offset}"][data-epoch="${newEpoch}"]`));
    assert.equal(c.value, `new-${offset}`);
  }
  assert.equal(await page.locator("#messages tbody tr.reset-mark").count(), 1);
  assert.equal(await page.locator("#subs li.reset").count(), 1);
  assert.equal(await page.textContent("#msg-count"), "(5)");
  await page.click("#notice-close");
  assert.equal(await page.locator("#notice").isVisible(), false);
  assert.deepEqual(page.problems, []);
});
